#!/usr/bin/env bash
# The GPU check in one line on a GPU box: install the carried wheels (.whl/, from gpu_wheels.sh) next to
# the image's packages, then run benchmarks/gpu_check.py with vr2 from this checkout. Output goes to
# $OUT (if set) or runs/gpu-check; extra arguments go to gpu_check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/vr2-site .whl/*.whl
  export PYTHONPATH=/tmp/vr2-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/src:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH} HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
# A card filled to ~90% (the 3B GRPO): let the allocator grow segments instead of failing on fragments.
export PYTORCH_CUDA_ALLOC_CONF=${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}
exec python3 benchmarks/gpu_check.py --out "${OUT:-runs/gpu-check}" "$@"
