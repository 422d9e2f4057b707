#!/usr/bin/env bash
# The GPU checks of issue 5, as one script for a lent H100 (device tool, ~15 min per session;
# this script stops starting new steps after $BUDGET s, default 420, plus the machine's start).
# Steps run in order of what the last session needs to know most.
#
# Prepare here (the device machine cannot download; its python3 has torch, triton, numpy,
# scipy, h5py, numba, xarray, tqdm, matplotlib, tifffile, but not pint & co., nor mujoco —
# so only the test files below are collected there):
#   echo /.wheels/ >> .git/info/exclude
#   pip download --no-deps -d .wheels pint tomli-w pynrrd openpyxl et-xmlfile flexcache \
#       flexparser platformdirs typing-extensions   (pint needs platformdirs: not on the device)
#   mkdir -p .data && cp -r ../shared/data/allen .data/ && echo /.data/ >> .git/info/exclude
#   (11 MB of Allen atlas data for the atlas-built networks of step 3d; never committed)
#   mkdir -p .baseline && git archive 26b49f6^ | tar -x -C .baseline
#   && echo /.baseline/ >> .git/info/exclude   (step 1b: the last kernels timed on a GPU)
# Before spending device time, the kernels can be compiled for sm_90 with the device's Triton
# (3.6; it ships ptxas) on this machine: `python3 -m venv /tmp/tr36 && /tmp/tr36/bin/pip
# install triton==3.6.0`, then run tests/sim/test_triton.py's _COMPILE script with
# PYTHONPATH=/tmp/tr36/lib/python3.11/site-packages:$PWD:<.venv site-packages> (session 17
# did: every lif_step phase and model flag, and deliver, compile).
# then call the device tool's run with carry [".wheels", ".data", ".baseline"], the command
#   bash benchmarks/gpu_check.sh
# and a timeout_s of ~480. Everything it prints is also saved in $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-out/gpu}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"  # absolute: some steps run in another folder
export OUT
export PYTHONUNBUFFERED=1
if [ -d .wheels ]; then
    python3 -m pip install -q --no-index --find-links .wheels pint tomli-w pynrrd openpyxl \
        platformdirs 2>&1 | tail -2
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv > "$OUT/nvidia-smi.txt" 2>&1
BUDGET="${BUDGET:-420}"
T0=$SECONDS
# step NAME LIMIT CMD...: run CMD under `timeout LIMIT` if the budget still holds it
step() {
    local name=$1 limit=$2
    shift 2
    local left=$((BUDGET - (SECONDS - T0)))
    if [ "$left" -lt 20 ]; then
        echo "== $name: skipped (budget spent)"
        return
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    echo "== $name (limit ${limit} s, at $((SECONDS - T0)) s)"
    timeout "$limit" "$@"
}
# Session 17 (no GPU either) added the conductance models (LIFAHP, AdEx, LIFCond) to the fused
# step, Izhikevich cells with conductance synapses to it and to the compiled loop, and let parts
# of distributed networks run it: tests in step 2 (test_triton.py, with -m ""), the motor
# loop's network in step 3e, the cbgc network in 3f.
# Session 16 (no GPU) left three things untested on a GPU: session 15's last kernels (spikes
# listed before the wait; 12.5-13.0 us per step before them), the pipelined launch
# (TUNE["pipeline"], off by default) and the Izhikevich neurons of the fused step (tests in
# step 2, the M1 cortex in step 3d). Step 1 times the first two; the pipelined rows come last
# so that a hang there (a wrong ordering assumption on the hardware) loses only those rows.
step "1. per-step time, full scale: the defaults, then the pipelined launch" 110 \
    python3 benchmarks/gpu_step.py --scale 1.0 --ms 200 --profile --variants \
    "default;without programmatic launch;PDL, 256 synapses per part, 3 delivery programs per SM;pipelined;pipelined, 3 delivery programs per SM;pipelined, 256 synapses per part;pipelined, 1 delivery program per SM;pipelined, block 256;default" \
    2>&1 | tee "$OUT/gpu_step_1.0.txt" | grep -v "^-\|Self CPU\|UserWarning\|_warn_once"
# the kernels last timed on a GPU (session 15's, before the spike-list move 26b49f6), when a
# copy of them is carried: `mkdir -p .baseline && git archive 26b49f6^ | tar -x -C .baseline`
# (excluded like .data; carry ".baseline"), timed on the same machine as step 1
if [ -d .baseline/zentai ]; then
    step "1b. the same default, with session 15's measured kernels (.baseline)" 60 \
        bash -c "cd .baseline && PYTHONPATH=\$PWD python3 benchmarks/gpu_step.py --scale 1.0 \
        --ms 200 --variants 'default;PDL, 256 synapses per part, 3 delivery programs per SM' \
        2>&1 | grep '^|' | tee $OUT/gpu_step_baseline.txt"
fi
GPU_TESTS="tests/sim/test_engine.py tests/build/test_compiled_wiring.py tests/test_rng.py \
    tests/build/test_wiring.py"
# (test_triton.py with -m "": its launch modes other than the H100's default are marked slow
# for the interpreter's sake; on a GPU they take seconds)
step "2. the tests that need a GPU (Triton vs torch, CPU vs CUDA, GPU build), not pipelined" 150 \
    bash -c "python3 -m pytest -q -p no:cacheprovider --timeout=60 -rfE tests/sim/test_triton.py \
    -m '' -k 'not pipelined' 2>&1 | tail -12; python3 -m pytest -q -p no:cacheprovider \
    --timeout=60 -rfE $GPU_TESTS -m 'gpu or not slow' -k 'triton or cuda or gpu' 2>&1 \
    | tail -12" | tee "$OUT/gpu_tests.txt"
step "3. the pipelined launch against the torch path on the GPU (float64, spike for spike)" 60 \
    python3 -m pytest -q -p no:cacheprovider --timeout=50 -rfE tests/sim/test_triton.py \
    -m "" -k pipelined 2>&1 | tail -15 | tee "$OUT/gpu_tests_pipelined.txt"
step "3b. microcircuit, full scale, built and run on the GPU (the RESULTS.md row)" 60 \
    bash -c "python3 benchmarks/microcircuit.py --scale 1.0 --device cuda --peers '' \
    --json $OUT/mc_1.0_cuda.json 2>&1 | grep -E 'build s|sim s|RTF|peak|rate|skipped|rror|stepped'"
step "3c. the same, pipelined" 60 \
    bash -c "python3 benchmarks/microcircuit.py --scale 1.0 --device cuda --peers '' \
    --triton-tune pipeline=1 --json $OUT/mc_1.0_cuda_pipe.json 2>&1 \
    | grep -E 'build s|sim s|RTF|peak|rate|skipped|rror|stepped'"
step "3d. the M1 cortex (Izhikevich 2007, m1-gamma's network at its fraction 0.1): torch vs triton" 60 \
    bash -c "ZENTAI_DATA=\${ZENTAI_DATA:-\$PWD/.data/allen} python3 benchmarks/brain_step.py \
    --scenario m1-gamma --fraction 0.1 --device cuda --ms 200 2>&1 | tail -5 \
    | tee $OUT/m1_cortex_cuda.txt"
step "3e. the motor loop (Izhikevich cortex, LIFAHP / AdEx cerebellum, conductance synapses; fraction 0.02): torch vs triton" 70 \
    bash -c "ZENTAI_DATA=\${ZENTAI_DATA:-\$PWD/.data/allen} python3 benchmarks/brain_step.py \
    --scenario motor-loop --fraction 0.02 --device cuda --ms 100 --triton-tune maxnreg=80 \
    2>&1 | tail -6 \
    | tee $OUT/motor_loop_cuda.txt"
step "3f. the cortex-basal ganglia-cerebellum network (cbgc-pulse's, 34k neurons; Izhikevich with conductance synapses): torch vs triton" 50 \
    bash -c "ZENTAI_DATA=\${ZENTAI_DATA:-\$PWD/.data/allen} python3 benchmarks/brain_step.py \
    --scenario cbgc-pulse --fraction 0.005 --device cuda --ms 100 2>&1 | tail -5 \
    | tee $OUT/cbgc_cuda.txt"
step "4. where the GPU build's and the Triton set-up's time goes (cProfile, page faults)" 60 \
    bash -c "python3 benchmarks/build_profile.py --scale 1.0 --device cuda --top 12 2>&1 \
    | tee $OUT/build_profile_cuda.txt"
step "5. scale: procedural connectivity (issue 5 target 3), stored vs procedural at 2e5" 70 \
    python3 benchmarks/procedural.py --neurons 2e5 --indegree 1000 --device cuda \
    --ms 100 --warmup 20 2>&1 | tee "$OUT/procedural_2e5.txt"
step "6. 10 M neurons, 1e10 synapses, procedural" 140 \
    python3 benchmarks/procedural.py --neurons 1e7 --indegree 1000 --device cuda \
    --modes procedural --ms 50 --warmup 10 2>&1 | tee "$OUT/procedural_1e7.txt"
step "7. the same network built on the host's CPU cores (compiled draw-and-place pass)" 45 \
    bash -c "python3 benchmarks/microcircuit.py --scale 1.0 --device cuda --build-device cpu \
    --threads $(nproc) --duration 0.1 --warmup 0.1 --peers '' \
    --json $OUT/mc_1.0_cpubuild.json 2>&1 | grep -E 'build s|RTF|peak|rror'"
step "8. ensembles: B = 100 copies of a 10,000-neuron network against one" 30 \
    bash -c "python3 benchmarks/ensemble.py --device cuda --backends triton --members 100 \
    --duration 0.2 2>&1 | tail -3 | tee $OUT/ensemble_cuda.txt"
echo "== done at $((SECONDS - T0)) s"
