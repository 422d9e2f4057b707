#!/usr/bin/env bash
# The GPU checks of issue 5, as one script for a lent H100 (device tool, ~15 min per session).
#
# Prepare here (the device machine cannot download; its python3 has torch, numpy, scipy, h5py,
# numba, xarray, tqdm, matplotlib, tifffile but not zentai's other dependencies):
#   echo /.wheels/ >> .git/info/exclude
#   pip download --no-deps -d .wheels pint tomli-w pynrrd openpyxl et-xmlfile flexcache \
#       flexparser platformdirs typing-extensions   (pint needs platformdirs: not on the device)
# then call the device tool's run with carry [".wheels"] and the command
#   bash benchmarks/gpu_check.sh
# and a timeout_s of ~420 (the script stops its own steps before that). Results come back in
# $OUT: gpu_tests.txt, mc_0.1_cuda.json, mc_1.0_cuda.json, ensemble_cuda.txt, nvidia-smi.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-out/gpu}"
mkdir -p "$OUT"
PY=python3
if [ -d .wheels ]; then
    $PY -m pip install -q --no-index --find-links .wheels pint tomli-w pynrrd openpyxl platformdirs \
        2>&1 | tail -2
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
$PY -c "import torch, zentai; print(torch.__version__, torch.cuda.get_device_name(0))"
# 1. the tests that need a GPU (CPU vs CUDA agreement of the engine and the models)
timeout 120 $PY -m pytest -q -m gpu -p no:cacheprovider tests 2>&1 | tail -20 \
    | tee "$OUT/gpu_tests.txt"
# 2. microcircuit on the GPU, zentai alone (no peers there), scale 0.1 then 1
for s in 0.1 1.0; do
    timeout 150 $PY benchmarks/microcircuit.py --scale $s --device cuda --peers '' \
        --json "$OUT/mc_${s}_cuda.json" 2>&1 | grep -E "build s|sim s|RTF|peak|rate L4E|#"
done
# 3. ensembles: B = 100 copies of a 10,000-neuron network against one
timeout 100 $PY benchmarks/ensemble.py --device cuda --backends torch --members 100 \
    --duration 0.2 2>&1 | tee "$OUT/ensemble_cuda.txt"
