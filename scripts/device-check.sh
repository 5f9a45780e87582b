#!/usr/bin/env bash
# The GPU checks of issue #10 as one script for a lent CUDA machine (about 5 minutes):
#   1. the CUDA-only tests (graph replay equals the eager fixed-buffer step, packed training);
#   2. benchmarks/gpu_throughput.py, seconds of chip time per paper-protocol candidate.
# Writes its figures under ${OUT:-.}/ (gpu_throughput.json, pytest.txt).
# The device image has torch but not pydantic: install the wheels carried in wheels/ first.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-.}"
if [ -d wheels ]; then python -m pip install -q --no-index --find-links wheels pydantic; fi
python -m pip install -q --no-deps --no-build-isolation -e . 2>/dev/null \
  || export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
python -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))"
timeout 120 python -m pytest -q -p no:cacheprovider tests/fitness/test_static_step.py \
  tests/fitness/test_packing.py -k "cuda or graph" 2>&1 | tee "$out/pytest.txt" | tail -5
timeout 300 python benchmarks/gpu_throughput.py --out "$out/gpu_throughput.json"
