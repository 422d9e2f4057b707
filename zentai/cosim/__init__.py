"""Brain–body co-simulation with a fixed exchange window (issue 7; BODY_NOTES.md design).

Time is cut into windows of ``window_ms``, an integer multiple of both the brain's and the
body's time step and no longer than the shortest efferent / afferent conduction delay. The
loop is pipelined: in window k the brain runs with the afferent rates the body produced in
window k-1 and the body with the descending command the brain produced in window k-1 (one
window of latency, taken out of the modelled delay), so the two sides are independent within a
window and can run in one process (:class:`CoSim`) or on two MPI ranks
(:func:`run_mpi`) with bit-identical results. The integer window index is the only clock.

* Brain -> body (:class:`Efferent`): spike counts of a population per window ->
  ``clip(count / (N r_max T), 0, 1)``, sent to muscles; the spinal cord adds it to their
  activation and shifts their joints' reflex reference by ``ref_deg`` (a descending command
  moves the equilibrium the reflex holds).
* Body -> brain (:class:`Afferent`): afferent firing rates (spindle, Golgi, joint, touch;
  :func:`zentai.body.spinal.afferent_rates`), averaged over the chosen sensors, set as the
  rate of a PoissonInput of the brain (:func:`prepare` adds them, and the efferent recorder,
  to a spec).
"""

import zentai.body  # noqa: F401  (sets MUJOCO_GL for headless rendering before mujoco loads)
from zentai.cosim.loop import Afferent, BodySide, BrainSide, CoSim, Efferent, prepare, run_mpi

__all__ = ["Afferent", "BodySide", "BrainSide", "CoSim", "Efferent", "prepare", "run_mpi"]
