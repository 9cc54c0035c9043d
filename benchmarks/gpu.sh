#!/usr/bin/env bash
# The benchmarks on this machine's GPU, in under five minutes, nothing installed.
#
#   bash benchmarks/gpu.sh                       # on a machine with jax[cuda]
#   JAX_PLATFORMS=cpu bash benchmarks/gpu.sh --quick   # the same script on a CPU
#
# Prints the tables of benchmarks/run.py (extra arguments go to it). jaxgd is
# taken from this checkout. float32 matmuls run at full float32 precision, as
# on the CPU, so that every implementation's result still matches the hand
# scan's. Steps are capped: a GPU launches kernels for every step of a loop,
# so the 200,000-step logistic run and the Python loops would not fit.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export JAX_DEFAULT_MATMUL_PRECISION=highest
python="${PYTHON:-python3}"
backend=$("$python" -c 'import jax; print(jax.default_backend())')
if [[ "$backend" != "gpu" && "${JAX_PLATFORMS:-}" != "cpu" ]]; then
    echo "gpu.sh: jax sees no GPU (backend $backend); set JAX_PLATFORMS=cpu to run on the CPU." >&2
    exit 2
fi
"$python" -c 'import jax; print("devices:", jax.devices())'
exec timeout 290 "$python" benchmarks/run.py --repeats 3 --max-steps 20000 \
    --loop-steps 1000 --pause 0 "$@"
