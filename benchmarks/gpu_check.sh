#!/usr/bin/env bash
# The GPU check: on a machine with CuPy and an NVIDIA GPU, run the test suite (its CuPy
# cases no longer skip) and the three benchmarks against PyTorch on CUDA, writing their
# tables into one folder. Usage, from the repository root:
#
#     bash benchmarks/gpu_check.sh [OUT_DIR]        # default: gpu-check/
#
# It needs a CUDA build of PyTorch, and CuPy: where CuPy is missing but an NVIDIA driver is
# there, it installs the CuPy wheel for the driver's CUDA major version (cupy-cuda12x or
# cupy-cuda13x). Without a GPU, or without what it needs, it says so in one line and exits 2.
# It stops at the first thing that fails, saying which; everything it wrote so far stays in
# OUT_DIR.
set -euo pipefail
out=${1:-gpu-check}
fail() { echo "gpu_check: $*" >&2; exit 2; }

if ! python3 -c "import cupy" 2>/dev/null; then
    command -v nvidia-smi >/dev/null \
        || fail "no CuPy, and no NVIDIA driver here (nvidia-smi not found): this check needs a GPU"
    cuda=$(nvidia-smi | grep -o "CUDA Version: [0-9]*" | grep -o "[0-9]*$" || true)
    case "$cuda" in
        12|13) python3 -m pip install -q "cupy-cuda${cuda}x" \
                   || fail "could not install cupy-cuda${cuda}x for the driver's CUDA $cuda" ;;
        *) fail "no CuPy, and the driver's CUDA version (${cuda:-unknown}) has no CuPy wheel here" ;;
    esac
fi
mkdir -p "$out"
log() { echo "gpu_check: $*" | tee -a "$out/summary.txt"; }

python3 - <<'PY' > "$out/device.txt" || fail "$(tail -1 "$out/device.txt")"
import sys
try:
    import cupy
    import torch
    props = cupy.cuda.runtime.getDeviceProperties(0)
except Exception as exc:                     # one line, not a traceback
    print(f"CuPy cannot reach a GPU here: {type(exc).__name__}: {exc}".splitlines()[0])
    sys.exit(2)
if not torch.cuda.is_available():
    print("PyTorch has no CUDA here: the benchmarks' reference side needs it")
    sys.exit(2)
print(f"CuPy {cupy.__version__}, GPU 0: {props['name'].decode()}, "
      f"{props['totalGlobalMem'] / 2**30:.0f} GiB; PyTorch {torch.__version__}, CUDA available")
PY
cat "$out/device.txt"

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
