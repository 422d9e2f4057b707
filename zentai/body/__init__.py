"""The body: a MuJoCo mouse zentai builds itself, its spinal CPG and reflexes, afferents.

* :mod:`~zentai.body.mouse` — the musculoskeletal mouse (24 muscles, touch taxels, sensors);
* :mod:`~zentai.body.cpg` — Matsuoka half-centre oscillators coupled into a gait;
* :mod:`~zentai.body.spinal` — CPG + stretch reflex -> muscle activations; afferent rates;
* :mod:`~zentai.body.scenarios` — ``cpg-walk``.
"""

import os as _os

# headless machines: offscreen rendering through EGL unless the user chose a backend (MuJoCo
# reads this when it is first imported)
_os.environ.setdefault("MUJOCO_GL", "egl")
