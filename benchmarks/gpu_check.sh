#!/usr/bin/env bash
# The GPU checks of issue 5, as one script for a lent H100 (device tool, ~15 min per session;
# this script needs about 7 minutes there plus the machine's start).
#
# Prepare here (the device machine cannot download; its python3 has torch, triton, numpy,
# scipy, h5py, numba, xarray, tqdm, matplotlib, tifffile, but not pint & co., nor mujoco —
# so only the test files below are collected there):
#   echo /.wheels/ >> .git/info/exclude
#   pip download --no-deps -d .wheels pint tomli-w pynrrd openpyxl et-xmlfile flexcache \
#       flexparser platformdirs typing-extensions   (pint needs platformdirs: not on the device)
# then call the device tool's run with carry [".wheels"], the command
#   bash benchmarks/gpu_check.sh
# and a timeout_s of ~300. Everything it prints is also saved in $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-out/gpu}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if [ -d .wheels ]; then
    python3 -m pip install -q --no-index --find-links .wheels pint tomli-w pynrrd openpyxl \
        platformdirs 2>&1 | tail -2
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv > "$OUT/nvidia-smi.txt" 2>&1
echo "== 1. microcircuit, full scale, built and run on the GPU (the RESULTS.md row)"
timeout 60 python3 benchmarks/microcircuit.py --scale 1.0 --device cuda --peers '' \
    --json "$OUT/mc_1.0_cuda.json" 2>&1 | grep -E "build s|sim s|RTF|peak|rate|skipped|rror|stepped"
echo "== 1b. the same network built on the host's CPU cores (compiled draw-and-place pass)"
timeout 60 python3 benchmarks/microcircuit.py --scale 1.0 --device cuda --build-device cpu \
    --threads "$(nproc)" --duration 0.1 --warmup 0.1 --peers '' \
    --json "$OUT/mc_1.0_cpubuild.json" 2>&1 | grep -E "build s|RTF|peak|rror"
echo "== 1c. where the GPU build's and the Triton set-up's time goes (cProfile, page faults)"
timeout 90 python3 benchmarks/build_profile.py --scale 1.0 --device cuda --top 12 2>&1 \
    | tee "$OUT/build_profile_cuda.txt"
echo "== 2. the tests that need a GPU (Triton vs torch, CPU vs CUDA, GPU build)"
timeout 60 python3 -m pytest -q -x -p no:cacheprovider tests/sim/test_triton.py \
    tests/sim/test_engine.py tests/build/test_compiled_wiring.py tests/test_rng.py \
    tests/build/test_wiring.py -m "gpu or not slow" -k "triton or cuda or gpu" 2>&1 \
    | tail -12 | tee "$OUT/gpu_tests.txt"
echo "== 3. ensembles: B = 100 copies of a 10,000-neuron network against one"
timeout 30 python3 benchmarks/ensemble.py --device cuda --backends triton --members 100 \
    --duration 0.2 2>&1 | tail -3 | tee "$OUT/ensemble_cuda.txt"
echo "== 4. per-step time and kernel profile, full scale and B = 100"
# (the persistent variants last: a grid whose programs are not all resident hangs)
timeout 75 python3 benchmarks/gpu_step.py --scale 1.0 --ms 200 --profile --variants \
    "default;block 256;persistent;persistent, polling loads;persistent, 4 programs per SM, polling loads" \
    2>&1 | tee "$OUT/gpu_step_1.0.txt" | grep -v "^-\|Self CPU\|UserWarning\|_warn_once"
timeout 40 python3 benchmarks/gpu_step.py --scale 0.13 --members 100 --ms 100 --warmup 20 \
    --variants default 2>&1 | tee "$OUT/gpu_step_B100.txt"
echo "== 5. scale: procedural connectivity (issue 5 target 3), stored vs procedural, then 10 M"
timeout 90 python3 benchmarks/procedural.py --neurons 2e5 --indegree 1000 --device cuda \
    --ms 100 --warmup 20 2>&1 | tee "$OUT/procedural_2e5.txt"
timeout 150 python3 benchmarks/procedural.py --neurons 1e7 --indegree 1000 --device cuda \
    --modes procedural --ms 50 --warmup 10 2>&1 | tee "$OUT/procedural_1e7.txt"
