#!/usr/bin/env bash
# The GPU check: on a machine with CuPy and an NVIDIA GPU, run the test suite (its CuPy
# cases no longer skip) and the three benchmarks against PyTorch on CUDA, writing their
# tables into one folder. Usage, from the repository root:
#
#     bash benchmarks/gpu_check.sh [OUT_DIR]        # default: gpu-check/
#
# It needs `pip install -e ".[test,gpu]"` (CuPy) and a CUDA build of PyTorch. It stops at
# the first thing that fails, saying which; everything it wrote so far stays in OUT_DIR.
set -euo pipefail
out=${1:-gpu-check}
mkdir -p "$out"
log() { echo "gpu_check: $*" | tee -a "$out/summary.txt"; }

python3 - <<'PY' | tee "$out/device.txt"
import cupy, torch
props = cupy.cuda.runtime.getDeviceProperties(0)
print(f"CuPy {cupy.__version__}, GPU 0: {props['name'].decode()}, "
      f"{props['totalGlobalMem'] / 2**30:.0f} GiB; PyTorch {torch.__version__}, "
      f"CUDA available: {torch.cuda.is_available()}")
assert torch.cuda.is_available(), "PyTorch has no CUDA here: the benchmarks' reference side needs it"
PY

log "the suite, CuPy cases included"
python3 -m pytest -q -rs -p no:cacheprovider 2>&1 | tee "$out/suite.txt" | tail -3
log "the CuPy cases alone"
python3 -m pytest -q -p no:cacheprovider -k "cupy" 2>&1 | tee "$out/suite_cupy.txt" | tail -3

log "Gatys evaluation, CuPy vs PyTorch CUDA"
python3 benchmarks/gatys_step.py --backend cupy --sizes 512 1024 --repeats 5 \
    --json "$out/gatys_step.json" | tee "$out/gatys_step.md"
log "Johnson's network, CuPy vs PyTorch CUDA"
python3 benchmarks/fast_style.py --backend cupy --sizes 512 1024 --pretrained-sizes 512 1024 \
    --repeats 5 --json "$out/fast_style.json" | tee "$out/fast_style.md"
log "universal style transfer, CuPy vs PyTorch CUDA"
for size in 512 1024; do
    python3 benchmarks/wct.py --backend cupy --size "$size" --repeats 3 \
        --json "$out/wct_$size.json" | tee "$out/wct_$size.md"
done
log "done: tables in $out/"
