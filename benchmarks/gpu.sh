#!/usr/bin/env bash
# The one-shot accelerator benchmark (benchmarks/gpu.py) with castgate's tree on the path.
# Uses .venv/bin/python when there is one, else python3 (a GPU machine's own JAX).
#   benchmarks/gpu.sh                                   # full run, < 8 minutes, JSON in benchmarks/out/
#   benchmarks/gpu.sh --out /tmp/gpu.json --fixtures DIR  # DIR holds reference/real_configs.json
#   benchmarks/gpu.sh --smoke                           # tiny architecture on CPU, under a minute
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
python="$repo/.venv/bin/python"
[ -x "$python" ] || python="$(command -v python3)"
export PYTHONPATH="$repo/core${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [[ " $* " != *" --smoke "* && " $* " != *" --paper "* ]]; then
    "$python" -c 'import jax; d = jax.devices()[0]; print(f"JAX {jax.__version__} sees {jax.device_count()} x {d.device_kind} ({d.platform})")' \
        || { echo "gpu.sh: JAX cannot start here; install castgate's dependencies (scripts/setup.sh)" >&2; exit 2; }
fi
exec "$python" "$repo/benchmarks/gpu.py" "$@"
