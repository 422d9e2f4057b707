"""Exact Φ (IIT 3.0) against PyPhi's documented examples, against PyPhi itself, and against
properties that any correct Φ must have.

Reference: PyPhi 1.2.0 (Mayner et al. 2018, PLoS Comput Biol 14:e1006343) with its default IIT
3.0 configuration (MEASURE='EMD', PARTITION_TYPE='BI', SYSTEM_CUTS='3.0_STYLE', PRECISION=6).
Documented values are quoted from the doctests of PyPhi 1.2.0's documentation (``docs/``
``examples/index.rst``, ``xor.rst``, ``magic_cut.rst``, ``2014paper.rst``, ``residue.rst``,
``conditional_independence.rst``). Those doctests were produced with pyemd's C++ back end,
which scales masses by 1e6 and rounds them to integers, so several documented values are off
by about 1e-6 (0.499999 for 1/2, 1.916665 for 23/12); exact values are compared with
``DOC_TOL``. The networks are rebuilt here from the logic gates given in the papers (Oizumi,
Albantakis & Tononi 2014, PLoS Comput Biol 10:e1003588, Figs. 4-16).

The live cross-check runs PyPhi in a subprocess when ``ZENTAI_PYPHI_PYTHON`` names a Python
with ``pyphi==1.2.0`` installed (see docs/design/iit.md for a recipe), else it is skipped.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import textwrap

import numpy as np
import pytest

from zentai.analysis.iit import (
    MAX_NODES,
    Cut,
    cause_effect_structure,
    major_complex,
    phi,
    small_phi,
)
from zentai.errors import SpecError

DOC_TOL = 1e-5  # documented values carry pyemd's 1e-6 quantisation (module docstring)


# --------------------------------------------------------------------------- networks


def gates(n, rules):
    """State-by-node TPM (little-endian rows) and connectivity of deterministic gates:
    ``rules[j] = (inputs, function of the inputs' states)``."""
    tpm = np.zeros((2**n, n))
    cm = np.zeros((n, n), dtype=int)
    for j, (ins, f) in enumerate(rules):
        cm[list(ins), j] = 1
        for row in range(2**n):
            s = [(row >> i) & 1 for i in range(n)]
            tpm[row, j] = float(f(*[s[i] for i in ins]))
    return tpm, cm


def OR(*x):
    return any(x)


def AND(*x):
    return all(x)


def XOR(*x):
    return sum(x) % 2


def COPY(x):
    return x


def basic_network():  # PyPhi's examples.basic_network: A = OR(B, C), B = COPY(C), C = XOR(A, B)
    return gates(3, [((1, 2), OR), ((2,), COPY), ((0, 1), XOR)])


def fig4_network():  # IIT 3.0 paper Figs. 4, 6, 8-12: A = OR(B, C), B = AND(A, C), C = XOR(A, B)
    return gates(3, [((1, 2), OR), ((0, 2), AND), ((0, 1), XOR)])


def xor_network():
    return gates(3, [((1, 2), XOR), ((0, 2), XOR), ((0, 1), XOR)])


def rule110_network():  # ring of 3 cells, next_i = rule110(x_{i-1}, x_i, x_{i+1})
    def cell(left, centre, right):
        return (110 >> (4 * left + 2 * centre + right)) & 1

    return gates(
        3, [((0, 1, 2), (lambda a, b, c, i=i: cell(*np.roll([a, b, c], 1 - i)))) for i in range(3)]
    )


def fig16_network():  # Fig. 16 without H..L
    return gates(
        7,
        [
            ((1, 2), OR),
            ((0, 2, 3), AND),
            ((0, 1), XOR),
            ((3, 4), OR),
            ((0, 3, 4), OR),
            ((5, 6), OR),
            ((5, 6), AND),
        ],
    )


def residue_network():  # A = AND(C, D), B = AND(D, E); C, D, E have no inputs (noise)
    tpm, cm = gates(
        5, [((2, 3), AND), ((3, 4), AND), ((), lambda: 0), ((), lambda: 0), ((), lambda: 0)]
    )
    tpm[:, 2:] = 0.5
    return tpm, cm


def concepts_table(concepts):
    return [(c.mechanism, c.phi, c.cause_purview, c.effect_purview) for c in concepts]


# --------------------------------------------------------------------------- documented examples


def test_rule110_gate_table_matches_the_rule():
    tpm, _ = rule110_network()
    # cell 1 with neighbours (x0, x2) = (1, 0) and itself 0: pattern 100 -> rule 110 bit 4 = 0
    assert tpm[0b001, 1] == 0 and tpm[0b100, 1] == 1 and tpm[0b111, 0] == 0


def test_basic_network_phi_cut_and_concepts():
    """docs/examples/index.rst: ``pyphi.compute.phi(subsystem)`` -> 2.3125 with 4 concepts;
    cut and concepts as printed by PyPhi 1.2.0's ``compute.sia`` for the same subsystem."""
    tpm, cm = basic_network()
    r = phi(tpm, (1, 0, 0), cm)
    assert r.phi == pytest.approx(2.3125, abs=1e-9)
    assert r.cut == Cut((1, 2), (0,))
    assert [
        (c.mechanism, c.cause_purview, c.cause_phi, c.effect_purview, c.effect_phi)
        for c in r.concepts
    ] == [
        ((1,), (2,), 0.5, (0,), 0.25),
        ((2,), (0, 1), 0.5, (1,), 0.5),
        ((0, 1), (1, 2), 0.333333, (2,), 0.5),
        ((0, 1, 2), (0, 1, 2), 0.5, (0, 1, 2), 0.5),
    ]
    assert [c.phi for c in r.concepts] == [0.25, 0.5, 0.333333, 0.5]


def test_xor_network_major_complex_and_concepts():
    """docs/examples/xor.rst: major complex ABC, Φ = 1.874999 (= 1.875); concepts AB, AC, BC
    with φ = 1/2, cause purview ABC, effect purviews C, B, A; AB's cause repertoire puts 1/2 on
    (0, 0, 0) and on (1, 1, 1)."""
    tpm, cm = xor_network()
    mc = major_complex(tpm, (0, 0, 0), cm)
    assert mc.nodes == (0, 1, 2)
    assert mc.phi == pytest.approx(1.874999, abs=DOC_TOL)
    assert concepts_table(mc.concepts) == [
        ((0, 1), 0.5, (0, 1, 2), (2,)),
        ((0, 2), 0.5, (0, 1, 2), (1,)),
        ((1, 2), 0.5, (0, 1, 2), (0,)),
    ]
    rep = mc.concepts[0].cause_repertoire
    expected = np.zeros((2, 2, 2))
    expected[0, 0, 0] = expected[1, 1, 1] = 0.5
    np.testing.assert_allclose(rep, expected, atol=1e-12)
    np.testing.assert_allclose(mc.concepts[0].effect_repertoire, [1.0, 0.0], atol=1e-12)
    # "the mechanism ABC ... is completely reducible": φ_cause(ABC over ABC) = 0
    assert small_phi(tpm, (0, 0, 0), (0, 1, 2), (0, 1, 2), cm)["cause"] == 0.0


def test_rule110_magic_cut():
    """docs/examples/magic_cut.rst: major complex ABC with Φ = 1.35708; concept φ of A, B, C,
    AB, AC, BC = 1/8 x3, 1/2 x3 (doc: 0.499999); with the cut AB -/-> C the concepts are A, B, C,
    AB, BC, ABC with φ 1/8 x3, 1/2, 0.266666, 0.333333 (AC destroyed, ABC created)."""
    tpm, cm = rule110_network()
    state = (0, 0, 0)
    mc = major_complex(tpm, state, cm)
    assert mc.nodes == (0, 1, 2)
    assert mc.phi == pytest.approx(1.35708, abs=DOC_TOL)
    assert [c.mechanism for c in mc.concepts] == [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2)]
    np.testing.assert_allclose(
        [c.phi for c in mc.concepts],
        [0.125, 0.125, 0.125, 0.499999, 0.499999, 0.499999],
        atol=DOC_TOL,
    )
    cut = cause_effect_structure(tpm, state, cm, cut=Cut((0, 1), (2,)))
    assert [c.mechanism for c in cut] == [(0,), (1,), (2,), (0, 1), (1, 2), (0, 1, 2)]
    np.testing.assert_allclose(
        [c.phi for c in cut], [0.125, 0.125, 0.125, 0.499999, 0.266666, 0.333333], atol=DOC_TOL
    )


def test_iit3_paper_figures_6_to_12():
    """docs/examples/2014paper.rst, network of Figs. 4/6/8 in state (1, 0, 0): Fig. 6
    φ_cause(ABC/ABC) = 0.499999, φ_effect = 0.25; Fig. 8 MIC of BC has φ = 0.333334; Fig. 9
    concept A φ = 0.166667; Fig. 10 concept φ of A, B, C, AB, BC, ABC = 0.166667, 0.166667,
    0.25, 0.25, 0.333334, 0.499999; Fig. 12 Φ = 1.916665 with cut AB -/-> C."""
    tpm, cm = fig4_network()
    state = (1, 0, 0)
    mip = small_phi(tpm, state, (0, 1, 2), (0, 1, 2), cm)
    assert mip["cause"] == pytest.approx(0.499999, abs=DOC_TOL)
    assert mip["effect"] == pytest.approx(0.25, abs=DOC_TOL)
    r = phi(tpm, state, cm)
    assert [c.mechanism for c in r.concepts] == [(0,), (1,), (2,), (0, 1), (1, 2), (0, 1, 2)]
    np.testing.assert_allclose(
        [c.phi for c in r.concepts],
        [0.166667, 0.166667, 0.25, 0.25, 0.333334, 0.499999],
        atol=DOC_TOL,
    )
    bc = r.concepts[4]
    assert bc.cause_phi == pytest.approx(0.333334, abs=DOC_TOL)
    assert r.phi == pytest.approx(1.916665, abs=DOC_TOL)
    assert r.cut == Cut((0, 1), (2,))


def test_iit3_paper_figure_14_major_complex():
    """docs/examples/2014paper.rst, Fig. 14, state (1, 0, 0, 0, 1, 0): the major complex is
    ABC (A = OR(B, C, D), B = AND(A, C), C = XOR(A, B), D and F without inputs, E = COPY(B))."""
    tpm, cm = gates(
        6,
        [
            ((1, 2, 3), OR),
            ((0, 2), AND),
            ((0, 1), XOR),
            ((), lambda: 0),
            ((1,), COPY),
            ((), lambda: 0),
        ],
    )
    mc = major_complex(tpm, (1, 0, 0, 0, 1, 0), cm)
    assert mc.nodes == (0, 1, 2)
    assert mc.phi > 0


def test_iit3_paper_figure_16_complexes():
    """docs/examples/2014paper.rst, Fig. 16 (nodes A-G), state (1, 0, 0, 1, 1, 1, 0): the
    complexes ABC with Φ = 1.916665 and FG with Φ = 0.069445, the other nodes held at their
    current state."""
    tpm, cm = fig16_network()
    state = (1, 0, 0, 1, 1, 1, 0)
    assert phi(tpm, state, cm, nodes=(0, 1, 2)).phi == pytest.approx(1.916665, abs=DOC_TOL)
    assert phi(tpm, state, cm, nodes=(5, 6)).phi == pytest.approx(0.069445, abs=DOC_TOL)


def test_residue_small_phi():
    """docs/examples/residue.rst, all nodes OFF: φ_cause(AB over CDE) = 0.1 (the residue),
    φ_cause(A over CDE) = 0 (E is not an input of A), φ_cause(A over CD) = 0.166667."""
    tpm, cm = residue_network()
    state = (0, 0, 0, 0, 0)
    assert small_phi(tpm, state, (0, 1), (2, 3, 4), cm)["cause"] == pytest.approx(0.1, abs=1e-9)
    assert small_phi(tpm, state, (0,), (2, 3, 4), cm)["cause"] == 0.0
    assert small_phi(tpm, state, (0,), (2, 3), cm)["cause"] == pytest.approx(1 / 6, abs=1e-6)


def test_conditionally_dependent_tpm_is_refused():
    """docs/examples/conditional_independence.rst: this state-by-state TPM has no
    state-by-node form (PyPhi raises ConditionallyDependentError)."""
    tpm = np.array([[1, 0, 0, 0], [0, 0.5, 0.5, 0], [0, 0.5, 0.5, 0], [0, 0, 0, 1]])
    with pytest.raises(SpecError, match="not conditionally independent"):
        phi(tpm, (0, 0))


# --------------------------------------------------------------------------- properties


def _state_by_state(sbn):
    n = sbn.shape[1]
    states = (np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1
    out = np.ones((2**n, 2**n))
    for i in range(n):
        out *= np.where(states[None, :, i] == 1, sbn[:, None, i], 1 - sbn[:, None, i])
    return out


def test_input_forms_agree():
    tpm, cm = basic_network()
    ref = phi(tpm, (1, 0, 0), cm)
    multi = tpm.reshape((2, 2, 2, 3), order="F")
    assert phi(multi, (1, 0, 0), cm).phi == ref.phi
    sbs = phi(_state_by_state(tpm), (1, 0, 0), cm)
    assert sbs.phi == ref.phi and sbs.concepts == ref.concepts


def test_phi_is_invariant_under_relabelling_nodes():
    rng = np.random.default_rng(3)
    tpm = rng.random((8, 3)).round(2)
    state = (1, 0, 1)
    ref = phi(tpm, state)
    assert ref.phi > 0
    perm = (2, 0, 1)  # new node i is old node perm[i]
    rows = [sum(((r >> i) & 1) << perm[i] for i in range(3)) for r in range(8)]
    permuted = tpm[rows][:, perm]
    out = phi(permuted, tuple(state[p] for p in perm))
    assert out.phi == pytest.approx(ref.phi, abs=1e-9)
    back = {i: perm[i] for i in range(3)}
    relabelled = sorted(
        (
            tuple(sorted(back[i] for i in c.mechanism)),
            c.phi,
            tuple(sorted(back[i] for i in c.cause_purview)),
        )
        for c in out.concepts
    )
    assert relabelled == sorted((c.mechanism, c.phi, c.cause_purview) for c in ref.concepts)


def test_two_independent_parts_have_zero_phi():
    """Two 2-node loops that ignore each other. With the full connectivity assumed (cm=None) the
    cut search has to find the cut between the parts; with the true cm the system is not
    strongly connected. Each part alone is irreducible."""
    tpm, cm = gates(4, [((1,), COPY), ((0, 1), XOR), ((3,), COPY), ((2, 3), AND)])
    state = (1, 0, 1, 1)
    assert phi(tpm, state, nodes=(0, 1)).phi > 0 and phi(tpm, state, nodes=(2, 3)).phi > 0
    full = phi(tpm, state)
    assert full.phi == 0.0
    assert full.cut is not None and {full.cut.from_nodes, full.cut.to_nodes} <= {(0, 1), (2, 3)}
    assert full.concepts  # the concepts exist; only their integration is zero
    assert phi(tpm, state, cm).phi == 0.0 and phi(tpm, state, cm).cut is None


def test_node_without_inputs_from_the_rest_gives_zero_phi():
    """C only listens to itself: the cut AB -/-> C removes nothing, so Φ = 0 although every
    node has outputs into the rest and AB alone is integrated."""
    tpm, _ = gates(3, [((1, 2), XOR), ((0, 2), XOR), ((2,), COPY)])
    r = phi(tpm, (1, 0, 1))
    assert r.phi == 0.0
    assert r.cut == Cut((0, 1), (2,))
    assert phi(tpm, (1, 0, 1), nodes=(0, 1)).phi > 0


def test_major_complex_ignores_a_detached_noisy_node():
    tpm3, cm3 = basic_network()
    tpm = np.zeros((16, 4))
    tpm[:, :3] = np.vstack([tpm3, tpm3])  # node D (bit 3) is ignored by A, B, C
    tpm[:, 3] = 0.5
    cm = np.zeros((4, 4), dtype=int)
    cm[:3, :3] = cm3
    cm[3, 3] = 1
    mc = major_complex(tpm, (1, 0, 0, 1), cm)
    assert mc.nodes == (0, 1, 2) and mc.phi == pytest.approx(2.3125, abs=1e-9)


def test_noise_destroys_phi_monotonically():
    """Mixing the XOR network with uniform noise lowers Φ; pure noise has Φ = 0."""
    tpm, cm = xor_network()
    values = [phi((1 - e) * tpm + e * 0.5, (0, 0, 0), cm).phi for e in (0.0, 0.2, 0.5, 1.0)]
    assert values[0] > values[1] > values[2] > 0 and values[3] == 0.0


def _emd_transport(p, q):
    """Reference EMD: the transportation LP over all state pairs with Hamming cost."""
    from scipy.optimize import linprog

    n = p.size
    k = n.bit_length() - 1
    cost = np.array([[bin(a ^ b).count("1") for b in range(n)] for a in range(n)], float)
    A = np.zeros((2 * n, n * n))
    for i in range(n):
        A[i, i * n : (i + 1) * n] = 1
        A[n + i, i::n] = 1
    tight = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}
    res = linprog(
        cost.ravel(), A_eq=A, b_eq=np.concatenate([p, q]), bounds=(0, None), options=tight
    )
    assert res.status == 0 and k >= 1
    return res.fun


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_hamming_emd_is_exact(k):
    """The dual-vertex EMD (k <= 4), the flow LP and the lower bounds (k = 5) against the plain
    transportation LP on random distributions."""
    from zentai.analysis import iit

    rng = np.random.default_rng(k)
    P = rng.random((6, 2**k)) ** 3
    P /= P.sum(axis=1, keepdims=True)
    for p, q in itertools.pairwise(P):
        ref = _emd_transport(p, q)
        if k <= 4:
            assert iit._emd_batch(p, q[None, :], k)[0] == pytest.approx(ref, abs=1e-9)
        else:
            assert iit._emd_lp(p - q, k) == pytest.approx(ref, abs=1e-9)
            assert iit._lower_bound((p - q)[None, :], k)[0] <= ref + 1e-12
        assert iit._marginals_sum((p - q)[None, :], k)[0] <= ref + 1e-12
    assert iit._emd_min(P[0], P[1:], k) == pytest.approx(
        min(_emd_transport(P[0], q) for q in P[1:]), abs=1e-9
    )


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("tpm", "state", "cm", "match"),
    [
        (np.zeros((8, 2)), (0, 0), None, "state-by-node TPM has shape"),
        (np.zeros((6, 6)), (0, 0), None, "2\\^n rows"),
        (np.full((4, 2), 1.5), (0, 0), None, "probabilities in \\[0, 1\\]"),
        (np.full((4, 2), np.nan), (0, 0), None, "NaN"),
        (np.full((4, 4), 0.3), (0, 0), None, "sum to 1"),
        (np.zeros((4, 2)), (0, 2), None, "zeros and ones"),
        (np.zeros((4, 2)), (0, 0, 0), None, "tuple of 2 zeros and ones"),
        (np.zeros((4, 2)), (0.5, 0), None, "zeros and ones"),
        (np.zeros((4, 2)), (1, 0), None, "cannot be reached"),
        (np.zeros((4, 2)), (0, 0), np.ones((3, 3)), "\\(2, 2\\) connectivity"),
        (np.zeros((4, 2)), (0, 0), [[0, 2], [1, 0]], "0 or 1"),
        (np.zeros((2, 2, 3)), (0, 0), None, "multidimensional"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(tpm, state, cm, match):
    with pytest.raises(SpecError, match=match):
        phi(tpm, state, cm)


def test_too_many_nodes_is_refused_because_of_cost():
    n = MAX_NODES + 1
    with pytest.raises(ValueError, match="MAX_NODES"):
        phi(np.zeros((2**n, n)), (0,) * n)


def test_bad_labels_nodes_and_cut_are_refused():
    tpm, cm = basic_network()
    with pytest.raises(SpecError, match="node_labels"):
        phi(tpm, (1, 0, 0), cm, node_labels=("A", "A", "B"))
    with pytest.raises(SpecError, match="nodes"):
        phi(tpm, (1, 0, 0), cm, nodes=(0, 5))
    with pytest.raises(SpecError, match="cut"):
        cause_effect_structure(tpm, (1, 0, 0), cm, cut=Cut((0,), (0, 1)))
    with pytest.raises(SpecError, match="mechanism"):
        small_phi(tpm, (1, 0, 0), (), (0,), cm)


# --------------------------------------------------------------------------- timing


def test_three_node_examples_are_fast():
    import time

    tpm, cm = fig4_network()
    t0 = time.perf_counter()
    phi(tpm, (1, 0, 0), cm)
    assert time.perf_counter() - t0 < 1.0


# --------------------------------------------------------------------------- live PyPhi


_RUNNER = textwrap.dedent(
    """
    import json, os, sys
    os.environ["PYPHI_WELCOME_OFF"] = "yes"
    import numpy as np
    import pyphi
    pyphi.config.PROGRESS_BARS = False
    pyphi.config.LOG_STDOUT_LEVEL = None
    pyphi.config.LOG_FILE_LEVEL = None
    out = []
    for case in json.load(sys.stdin):
        cm = None if case["cm"] is None else np.array(case["cm"])
        net = pyphi.Network(np.array(case["tpm"]), cm=cm)
        try:
            sub = pyphi.Subsystem(net, tuple(case["state"]))
        except pyphi.exceptions.StateUnreachableError:
            out.append(None)
            continue
        sia = pyphi.compute.sia(sub)
        out.append({
            "phi": sia.phi,
            "concepts": sorted(
                [list(c.mechanism), c.phi, list(c.cause.purview), c.cause.phi,
                 list(c.effect.purview), c.effect.phi] for c in sia.ces),
        })
    json.dump({"version": pyphi.__version__, "results": out}, sys.stdout)
    """
)


def _random_cases(seed, sizes):
    rng = np.random.default_rng(seed)
    cases = []
    for i, n in enumerate(sizes):
        kind = i % 3
        if kind == 0:  # deterministic
            tpm = rng.integers(0, 2, size=(2**n, n)).astype(float)
        elif kind == 1:  # probabilistic
            tpm = rng.random((2**n, n)).round(2)
        else:  # few levels, ties likely
            tpm = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=(2**n, n))
        cm = None
        if i % 2:
            cm = (rng.random((n, n)) < 0.7).astype(int)
        for _ in range(100):  # a state reachable under the TPM
            state = tuple(int(x) for x in rng.integers(0, 2, n))
            if np.any(np.all(np.abs(tpm - np.array(state)) < 1, axis=1)):
                break
        cases.append(
            {"tpm": tpm.tolist(), "cm": None if cm is None else cm.tolist(), "state": list(state)}
        )
    return cases


@pytest.mark.skipif(
    not os.environ.get("ZENTAI_PYPHI_PYTHON"),
    reason="ZENTAI_PYPHI_PYTHON (python with pyphi 1.2.0) not set",
)
def test_live_agreement_with_pyphi():
    cases = _random_cases(2024, [3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4])
    proc = subprocess.run(
        [os.environ["ZENTAI_PYPHI_PYTHON"], "-c", _RUNNER],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=os.environ.get("TMPDIR", "/tmp"),
        check=True,
    )
    ref = json.loads(proc.stdout)
    assert ref["version"].startswith("1."), "the reference must be PyPhi 1.x (IIT 3.0)"
    nonzero = 0
    for case, want in zip(cases, ref["results"]):
        assert want is not None
        got = phi(np.array(case["tpm"]), case["state"], case["cm"])
        assert got.phi == pytest.approx(want["phi"], abs=1e-6), case
        ours = sorted(
            [
                list(c.mechanism),
                c.phi,
                list(c.cause_purview),
                c.cause_phi,
                list(c.effect_purview),
                c.effect_phi,
            ]
            for c in got.concepts
        )
        assert len(ours) == len(want["concepts"]), case
        for a, b in zip(ours, want["concepts"]):
            assert (a[0], a[2], a[4]) == (b[0], b[2], b[4]), case
            np.testing.assert_allclose([a[1], a[3], a[5]], [b[1], b[3], b[5]], atol=1e-6)
        nonzero += got.phi > 0
    assert nonzero >= len(cases) // 3  # the sample exercises the cut search, not only zeros
