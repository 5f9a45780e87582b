#!/usr/bin/env bash
# The GPU checks of issue #10 as one script for a lent CUDA machine (at most 8 minutes; the
# throughput benchmark about 5):
#   1. the CUDA-only tests (graph replay equals the eager fixed-buffer step, packed training);
#   2. benchmarks/batched_models.py: grouped convolutions vs vmap vs unfold + bmm on the GPU;
#   3. benchmarks/gpu_throughput.py, seconds of chip time per paper-protocol candidate.
# Writes its figures under ${OUT:-.}/ (pytest.txt, batched_models.txt, gpu_throughput.json).
# The device image has torch, numpy, scipy, sympy, typer, rich but not pydantic (nor maybe the
# rest): beforehand, here, `echo /wheels/ >>.git/info/exclude; pip download -d wheels
# --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 pydantic pyyaml
# pytest matplotlib scikit-learn pillow`, and name `wheels` in the run's carry.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-.}"
if [ -d wheels ]; then
  python -m pip install -q --no-index --find-links wheels \
    pydantic pyyaml pytest matplotlib scikit-learn pillow
fi
python -m pip install -q --no-deps --no-build-isolation -e . 2>/dev/null \
  || export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
python -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))"
timeout 120 python -m pytest -q -p no:cacheprovider tests/fitness/test_static_step.py \
  tests/fitness/test_packing.py -k "cuda or graph" 2>&1 | tee "$out/pytest.txt" | tail -5
timeout 60 python benchmarks/batched_models.py --device cuda --k 28 --repeats 10 --steps 5 \
  2>&1 | tee "$out/batched_models.txt"
timeout 300 python benchmarks/gpu_throughput.py --out "$out/gpu_throughput.json"
