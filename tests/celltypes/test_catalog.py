"""Catalog of published cell types: every entry builds, simulates and behaves like its class.

Where expected behaviour comes from:
* Izhikevich (2007), Dynamical Systems in Neuroscience, ch. 8: RS cells adapt (fig. 8.12), FS
  cells do not (fig. 8.27), IB cells start with a burst and then fire tonically (fig. 8.19).
* Yamazaki & Nagao (2012) / snsbook (MODEL_SPEC §2.2): granule cells are silent at rest
  (E_L -58 mV below theta -35 mV); a Purkinje cell under DC fires tonically (no noise).
* Lindahl & Hellgren Kotaleski (2016) (MODEL_SPEC §3.2): with their in-vivo I_e alone, GPe TI,
  STN and SNr cells fire spontaneously and GPe TA (I_e -3.6 pA) is silent; MSNs have a high
  rheobase (Humphries et al. 2009).
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import torch

import zentai as zt
from zentai.build import NetworkSpec, Population
from zentai.celltypes.catalog import (
    CellType,
    catalog,
    cell_type,
    geminiani_2019,
    izhikevich_2007_m1,
    izhikevich_2007_thalamus,
    lindahl_2016,
    yamazaki_nagao_2012,
)
from zentai.celltypes.models import LIFAHP, AdEx, Izhikevich2007, NeuronModel
from zentai.errors import SpecError
from zentai.record import Spikes
from zentai.sim.models import dynamics_for
from zentai.stim import DC

DT = 0.1  # ms
ALLEN_FAMILIES = {"Isocortex", "TH", "P", "CB", "CBN", "STR", "GPe", "STN", "SNr"}


def drive_pa(name: str) -> float:
    """A DC amplitude (pA) that makes the entry fire at a moderate rate (from f-I scans)."""
    by_name = {
        "Isocortex.L5B.PT": 800.0,  # IB, C = 150 pF
        "TH.RTN": 100.0,
        "CB.GrC": 20.0,  # rheobase g_l (theta - E_L) = 9.9 pA
        "CB.GoC": 50.0,
        "CB.PC": 200.0,
        "STR.D1": 800.0,  # MSN: high rheobase
        "STR.D2": 800.0,
        "STR.FSI": 200.0,
    }
    if name in by_name:
        return by_name[name]
    if name.startswith(("CB.", "CBN.")):
        return 100.0
    if name.startswith(("GPe", "STN", "SNr")):
        return 50.0
    if name.endswith(".PV"):
        return 200.0
    return 400.0  # RS, LTS, TC, pons relay


def test_catalog_covers_the_requested_types():
    names = set(catalog())
    for layer in ("L2/3", "L4", "L5A", "L5B", "L6"):
        assert {f"Isocortex.{layer}.IT", f"Isocortex.{layer}.PV"} <= names
        assert f"Isocortex.{layer}.SST" in names
    assert {"Isocortex.L5B.PT", "Isocortex.L6.CT", "TH.TC", "TH.RTN", "P.PG"} <= names
    assert {"CB.GrC", "CB.GoC", "CB.PC", "CB.BC", "CB.SC", "CBN.E", "CBN.I"} <= names
    assert {"STR.D1", "STR.D2", "STR.FSI", "GPe.TI", "GPe.TA", "STN.E", "SNr.I"} <= names


@pytest.mark.parametrize("name", list(catalog()))
def test_entry_is_well_formed_and_cites_a_year(name):
    ct = cell_type(name)
    assert ct.name == name
    assert isinstance(ct.model, NeuronModel)
    assert ct.region in ALLEN_FAMILIES
    assert name.split(".")[0] in ALLEN_FAMILIES
    assert (ct.layer is not None) == (ct.region == "Isocortex")
    assert ct.source.strip()
    assert re.search(r"\b(19|20)\d\d\b", ct.source), ct.source
    assert ct.cell_class in {"E", "I", "FS", "LTS"}
    hash(ct)  # frozen, hashable description


def test_cortical_classes_follow_the_m1_mapping():
    # MODEL_SPEC §1.3: IT/CT -> RS, PT -> IB, PV -> FS, SOM -> LTS (Izhikevich 2007)
    rs, ib = Izhikevich2007.preset("RS"), Izhikevich2007.preset("IB")
    assert cell_type("Isocortex.L6.CT").model.c_m == rs.c_m
    assert cell_type("Isocortex.L2/3.IT").model.d == rs.d
    assert cell_type("Isocortex.L5B.PT").model.k == ib.k
    assert cell_type("Isocortex.L4.PV").model.variant.value == "fs"
    assert cell_type("Isocortex.L6.SST").model.variant.value == "lts"
    assert cell_type("Isocortex.L5A.PV").cell_class == "FS"


def test_cerebellar_lifahp_parameters_are_those_of_snsbook():
    # MODEL_SPEC §2.2 table (snsbook gr.h, go.h, pc.h)
    grc, goc, pc = (cell_type(f"CB.{k}").model for k in ("GrC", "GoC", "PC"))
    assert isinstance(pc, LIFAHP)
    assert (grc.c_m, grc.g_l, grc.e_l, grc.v_th) == (3.1, 0.43, -58.0, -35.0)
    assert (goc.g_ahp, goc.e_ahp, goc.tau_ahp) == (20.0, -72.7, 5.0)
    assert pc.g_l == pytest.approx(1 / 0.431)
    assert (pc.g_ahp, pc.e_ahp, pc.tau_ahp) == (100.0, -70.0, 2.5)
    assert [r.tau for r in grc.receptors] == [1.2, 52.0, 7.0, 59.0]
    assert [r.tau for r in goc.receptors] == [1.5, 31.0, 170.0]


def test_eglif_entries_map_adaptation_exactly_and_say_what_is_approximated():
    # E-GLIF basket (MODEL_SPEC §2.3): C 14.6 pF, tau_m 9.125 ms, k_adap 2.025, k_2 1.096, A2 5.863
    bc = cell_type("CB.BC")
    assert isinstance(bc.model, AdEx)
    assert bc.model.g_l == pytest.approx(14.6 / 9.125)
    assert bc.model.a == pytest.approx(2.025 / 1.096)
    assert bc.model.tau_w == pytest.approx(1 / 1.096)
    assert bc.model.b == 5.863
    for name in ("CB.BC", "CB.SC", "CBN.E", "CBN.I"):
        assert "[approximation" in cell_type(name).note
    # alpha synapse (tau 1.0 ms, DCNp AMPA) -> exponential of the same peak and charge
    cn = cell_type("CBN.E").model
    tau_alpha = 1.0
    t = np.linspace(0.0, 60.0, 600_001)
    alpha = (t / tau_alpha) * np.exp(1 - t / tau_alpha)
    expo = np.exp(-t / cn.receptors[0].tau)
    assert cn.receptors[0].name == "ampa" and expo.max() == pytest.approx(alpha.max())
    assert np.trapezoid(expo, t) == pytest.approx(np.trapezoid(alpha, t), rel=1e-4)


def test_basal_ganglia_parameters_and_notes():
    d1, d2, stn = cell_type("STR.D1"), cell_type("STR.D2"), cell_type("STN.E")
    assert (d1.model.v_r, d1.model.d) == (-81.85, 66.9)
    assert (d2.model.v_r, d2.model.d) == (-80.0, 91.0)
    assert d1.model.c_m == 15.2
    assert stn.model.a == 0.0  # a_2 = 0 above V_a = -70 mV (tonic regime)
    assert "reset slope" in stn.note
    assert "dopamine" in d1.note


# ------------------------------------------------------------------ lookups and errors
@pytest.mark.parametrize(
    ("wrong", "match"),
    [
        ("CB.Purkinje", "closest: 'CB.PC'"),
        ("Isocortex.L23.IT", "closest: 'Isocortex.L2/3.IT'"),
        ("GPe", "closest: 'GPe.TI', 'GPe.TA'"),
        ("TH.TCR", "closest: 'TH.TC'"),
    ],
)
def test_unknown_name_gives_closest_matches(wrong, match):
    with pytest.raises(SpecError, match=f"Unknown cell type '{re.escape(wrong)}'; {match}"):
        cell_type(wrong)


def test_constructor_errors_name_the_valid_choices():
    with pytest.raises(SpecError, match=r"no type 'PT' in layer 'L4'; closest: .*'L5B PT'"):
        izhikevich_2007_m1("L4", "PT")
    with pytest.raises(SpecError, match=r"kind must be 'TC' or 'RTN'; got 'RE'"):
        izhikevich_2007_thalamus("RE")
    with pytest.raises(SpecError, match=r"closest: 'PC'"):
        yamazaki_nagao_2012("PCs")
    with pytest.raises(SpecError, match=r"closest: 'BC'"):
        geminiani_2019("BCs")
    with pytest.raises(SpecError, match=r"closest: 'STN'"):
        lindahl_2016("STN.E")


def test_celltype_requires_a_citation_with_a_year():
    model = cell_type("CB.GrC").model
    with pytest.raises(SpecError, match=r"CellType\.source must cite author and year"):
        CellType(name="x", model=model, cell_class="E", region="CB", source="snsbook")
    with pytest.raises(SpecError, match=r"CellType\.model must be a neuron description"):
        CellType(name="x", model="LIF", cell_class="E", region="CB", source="A 2007")


def test_catalog_returns_a_copy():
    a = catalog()
    a.pop("CB.PC")
    assert "CB.PC" in catalog()


# ------------------------------------------------------------------ simulation
def test_every_entry_simulates_200_ms_of_dc_in_a_network_and_fires():
    # one population per entry, each with its own DC, through zentai.build / zentai.sim
    entries = catalog()
    spec = NetworkSpec(
        populations=tuple(Population(name=n, size=2, model=ct.model) for n, ct in entries.items()),
        stimuli=tuple(DC(target=n, amplitude=drive_pa(n)) for n in entries),
        recorders=(Spikes(),),
    )
    net = zt.build.network(spec, seed=1)
    # run() checks V for NaN every 10 ms and raises SimulationError, so finishing means no NaN
    res = zt.sim.run(net, 200.0, dt=DT, dtype="float64")
    for name in entries:
        rate = len(res.times_ms(0, name)) / 0.2  # Hz
        assert 5.0 <= rate <= 400.0, (name, rate)


def run_dc(model, amplitudes, n_steps=5000):
    """Spike times (ms) of one neuron per DC amplitude, through the model's Dynamics."""
    dyn = dynamics_for(type(model))(
        {k: getattr(model, k) for k in model.param_names()}, model.receptors, DT, torch.float64,
        "cpu",
    )  # fmt: skip
    n = len(amplitudes)
    state = dyn.initial_state(1, n)
    i_stim = torch.tensor(amplitudes, dtype=torch.float64).reshape(1, n)
    arriving = torch.zeros((len(model.receptors), 1, n), dtype=torch.float64)
    spiked = torch.stack([dyn.step(state, arriving, i_stim)[0].clone() for _ in range(n_steps)])
    assert torch.isfinite(state["v"]).all()
    return [(np.flatnonzero(spiked[:, k].numpy()) + 1) * DT for k in range(n)]


def test_rs_adapts_and_fs_does_not():
    # Izhikevich 2007 figs. 8.12 / 8.27: RS ISIs lengthen under DC, FS ISIs stay constant
    (rs,) = run_dc(cell_type("Isocortex.L2/3.IT").model, [200.0])
    (fs,) = run_dc(cell_type("Isocortex.L2/3.PV").model, [100.0])
    rs_isi, fs_isi = np.diff(rs), np.diff(fs)
    assert len(rs_isi) > 5
    assert len(fs_isi) > 5
    assert rs_isi[-1] / rs_isi[0] > 1.3
    assert fs_isi[-1] / fs_isi[0] == pytest.approx(1.0, abs=0.05)


def test_fs_fires_faster_than_rs_at_equal_current():
    # at equal injected current the small FS cell (C 20 pF vs 100 pF) fires faster than RS
    rs = cell_type("Isocortex.L5A.IT").model
    fs = cell_type("Isocortex.L5A.PV").model
    for amplitude in (200.0, 400.0):
        (t_rs,) = run_dc(rs, [amplitude])
        (t_fs,) = run_dc(fs, [amplitude])
        assert len(t_fs) > 1.5 * len(t_rs) > 5


def test_pt_cell_starts_with_a_burst():
    # IB (fig. 8.19): the first ISIs are much shorter than the later tonic ones
    (t,) = run_dc(cell_type("Isocortex.L5B.PT").model, [600.0])
    isi = np.diff(t)
    assert len(isi) > 4
    assert isi[0] < 0.3 * isi[-1]


def test_purkinje_fires_tonically_with_i_e():
    pc = dataclasses.replace(cell_type("CB.PC").model, i_e=200.0)
    (t,) = run_dc(pc, [0.0])
    isi = np.diff(t[1:])
    assert len(isi) > 20  # > 40 Hz over 500 ms
    assert np.std(isi) / np.mean(isi) < 0.02


def test_granule_cell_is_silent_at_rest_and_fires_with_dc():
    silent, firing = run_dc(cell_type("CB.GrC").model, [0.0, 20.0])
    assert len(silent) == 0
    assert len(firing) > 10


def test_basal_ganglia_spontaneous_activity_with_in_vivo_i_e():
    for name in ("GPe.TI", "STN.E", "SNr.I"):
        (t,) = run_dc(cell_type(name).model, [0.0])
        assert len(t) >= 2, name
    (ta,) = run_dc(cell_type("GPe.TA").model, [0.0])
    assert len(ta) == 0


def test_msn_has_a_high_rheobase_and_fsi_does_not():
    for name in ("STR.D1", "STR.D2"):
        low, high = run_dc(cell_type(name).model, [150.0, 800.0])
        assert len(low) == 0
        assert len(high) > 10
    (fsi,) = run_dc(cell_type("STR.FSI").model, [150.0])
    assert len(fsi) > 5
