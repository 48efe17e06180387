#!/usr/bin/env bash
# Prepares what bench/gpu.sh needs on a lent GPU machine beyond the working tree, on this
# (development) machine. Both folders are git-ignored; name them in the device tool's `carry`:
#   .carry/node.xz                  this machine's node binary, xz-compressed (~24 MB)
#   .carry/bench/orchestrated.mjs   bench/bench_orchestrated.ts bundled by esbuild with all its
#                                   dependencies (no node_modules needed there, ~2.5 MB)
#   .whl/grpcio_health_checking-1.84.0-py3-none-any.whl
#                                   the worker server's health service (not installed there);
#                                   1.84 matches the grpcio 1.84 of the lent machines
# Then:  run(command="bash bench/gpu.sh", carry=[".carry", ".whl"], timeout_s=560)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .carry/bench .whl
if [ ! -s .carry/node.xz ]; then
  xz -T2 -c "$(readlink -f "$(command -v node)")" > .carry/node.xz
fi
node_modules/.bin/esbuild bench/bench_orchestrated.ts --bundle --platform=node --format=esm --target=node20 \
  --outfile=.carry/bench/orchestrated.mjs --log-level=warning \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
if ! ls .whl/grpcio_health_checking-1.84.0-*.whl > /dev/null 2>&1; then
  PIP_PY=$( [ -x .tools/uv/bin/python ] && echo .tools/uv/bin/python || echo python3 )
  "$PIP_PY" -m pip download --quiet --no-deps grpcio-health-checking==1.84.0 -d .whl
fi
du -sh .carry .whl
