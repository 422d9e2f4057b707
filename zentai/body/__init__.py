"""The body: a MuJoCo mouse zentai builds itself, its spinal CPG and reflexes, afferents.

* :mod:`~zentai.body.mouse` — the musculoskeletal mouse (24 muscles, touch taxels, sensors);
* :mod:`~zentai.body.cpg` — Matsuoka half-centre oscillators coupled into a gait;
* :mod:`~zentai.body.spinal` — CPG + stretch reflex -> muscle activations; afferent rates;
* :mod:`~zentai.body.scenarios` — ``cpg-walk``.
"""
