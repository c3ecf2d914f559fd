#!/usr/bin/env bash
# Fetch the wheels of benchmarks/gpu_wheels.txt for the GPU image (CPython 3.12, x86-64 manylinux) into
# .whl/ (or $1) and print their total size. A package with no wheel on the index (srt publishes only its
# source) gets its wheel built here, which must come out pure Python to run there.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-.whl}
python=${PYTHON:-python3}
mkdir -p "$dest"
for requirement in $(grep -E '^[A-Za-z0-9]' benchmarks/gpu_wheels.txt); do
  if ! "$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d "$dest" "$requirement" 2>/dev/null; then
    "$python" -m pip wheel -q --no-deps -w "$dest" "$requirement"
    name=${requirement%%==*}
    ls "$dest"/"${name//-/_}"-*-none-any.whl >/dev/null || { echo "$requirement: the built wheel is not pure Python" >&2; exit 1; }
  fi
done
du -cb "$dest"/*.whl | tail -1 | awk '{printf "%s wheels: %.1f MB\n", "'"$dest"'", $1 / 1e6}'
