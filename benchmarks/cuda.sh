#!/usr/bin/env bash
# The CUDA checks of benchmarks/README.md, on a machine with a GPU, from the repository root:
#   bash benchmarks/cuda.sh OUT_DIR
# 1. `amem bench --device cuda`: step speed against the GPU's fp32 matmul peak, then time to
#    accuracy at N=8 (fast recipe) for seeds 0, 1, 2, three runs at a time on the one GPU;
# 2. the whole default test suite, the `cuda` tests included, started once the step timings are
#    done (so it shares the machine with the time-to-accuracy runs, not with the step timings).
# Writes OUT_DIR/bench-cuda.json, bench-cuda.log, tests-cuda.log and nvidia-smi.txt.
set -uo pipefail
out=${1:?usage: bash benchmarks/cuda.sh OUT_DIR}
mkdir -p "$out"
python=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
nvidia-smi > "$out/nvidia-smi.txt" 2>&1
"$python" -m appendable_memory.cli.main bench --device cuda --json --items 8 --seeds 0,1,2 --parallel 3 \
    --recipes fast --budget-minutes "${BUDGET_MINUTES:-4}" > "$out/bench-cuda.json" 2> "$out/bench-cuda.log" &
bench=$!
# the step timings take well under a minute on a GPU; the suite starts after them
sleep "${SUITE_AFTER_S:-45}"
"$python" -m pytest -q -rs -p no:cacheprovider > "$out/tests-cuda.log" 2>&1
tests=$?
wait $bench
bench_rc=$?
tail -n 5 "$out/tests-cuda.log"
echo "tests exit $tests, bench exit $bench_rc"
exit $((tests || bench_rc))
