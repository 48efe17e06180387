#!/usr/bin/env bash
# Every GPU measurement of issue 6, as ONE prepared script for a lent GPU machine (about 8
# minutes at most: each section has its own time limit and writes its JSON as it goes, so a
# section cut short keeps the rounds it finished). Results go to $OUT/gpu (the device tool's
# output folder) or ./bench/out/gpu.
#
#   bash bench/gpu.sh                 # all sections
#   SECTIONS="r18 orch" bash bench/gpu.sh
#   BENCH_DEVICE=cpu TRAIN_EXTRA="--n 512 --batch 128 --rounds 1" ORCH_EXTRA="--epochs 1 --synthetic-size 512 \
#     --batch 128 --pairs 1 --backbone convnet" bash bench/gpu.sh     # a smoke test of the script itself
#
# Sections, in priority order:
#   r18      bench_train.py --preset resnet18-32, eager: peer, peer_fp32, joint, bilevel K=1/K=5, ceiling
#   r50      bench_train.py --preset resnet50-96, eager: peer, joint, bilevel K=1/K=5, ceiling
#   orch     bench_orchestrated: resnet18 on CUDA through the TS orchestrator over gRPC vs in-process
#   r18c     bench_train.py --preset resnet18-32 --compile: joint, bilevel K=1/K=5, ceiling
# The training presets use synthetic uint8 images (uniform random pixels) of the preset's size.
#
# What the machine needs (DESIGN.md section 7): python3 with torch, torchvision, grpcio, protobuf
# (present on the lent machines). Not present there and carried in by bench/prepare_gpu_carry.sh
# (run it on the development machine first, then carry .carry and .whl):
#   .whl/grpcio_health_checking-1.84.0-py3-none-any.whl  the worker server imports grpc_health;
#        the wheel is pure Python and is put on PYTHONPATH as is (zipimport). Its stubs need
#        grpcio >= 1.84, which is what the lent machines have.
#   .carry/node.xz                    this machine's node binary (Node is not installed there)
#   .carry/bench/orchestrated.mjs     bench_orchestrated.ts bundled with esbuild (no node_modules)
# Without them the orch section is skipped (the Python sections need nothing carried).
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT_DIR="${OUT:-$ROOT/bench/out}/gpu"
mkdir -p "$OUT_DIR"
SECTIONS="${SECTIONS:-r18 r50 orch r18c}"
DEVICE="${BENCH_DEVICE:-cuda}"
read -r -a TX <<< "${TRAIN_EXTRA:-}"
read -r -a OX <<< "${ORCH_EXTRA:-}"
PY="${PROJHEAD_PYTHON:-python3}"
export PROJHEAD_PYTHON="$PY"
export PYTHONPATH="$ROOT/python_worker${PYTHONPATH:+:$PYTHONPATH}"
for w in "$ROOT"/.whl/*.whl; do
  [ -e "$w" ] && PYTHONPATH="$PYTHONPATH:$w"
done
export PYTHONUNBUFFERED=1
LOG="$OUT_DIR/gpu.log"
T0=$(date +%s)
say() { echo "[gpu.sh +$(( $(date +%s) - T0 ))s] $*" | tee -a "$LOG"; }

{
  date -u +"date %Y-%m-%dT%H:%M:%SZ"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 || true
  "$PY" -c "import sys, torch, torchvision; print('python', sys.version.split()[0], 'torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'NO CUDA')" 2>&1
  "$PY" -c "import grpc, grpc_health.v1.health; print('grpcio', grpc.__version__, 'grpc_health ok')" 2>&1
  lscpu | grep -E 'Model name|^CPU\(s\)' || true
} > "$OUT_DIR/machine.txt"
cat "$OUT_DIR/machine.txt" | tee -a "$LOG"

section() { # name, time limit (s), command...
  local name=$1 limit=$2
  shift 2
  case " $SECTIONS " in *" $name "*) ;; *) say "skip $name"; return 0 ;; esac
  say "start $name (limit ${limit}s): $*"
  timeout -k 10 "$limit" "$@" > "$OUT_DIR/$name.out" 2> "$OUT_DIR/$name.err"
  local rc=$?
  say "end $name rc=$rc"
  tail -n 25 "$OUT_DIR/$name.out" | tee -a "$LOG"
  [ $rc -ne 0 ] && tail -n 15 "$OUT_DIR/$name.err" | tee -a "$LOG"
  return 0
}

TRAIN=("$PY" bench/bench_train.py --device "$DEVICE")
section r18 140 "${TRAIN[@]}" --preset resnet18-32 --rounds 3 \
  --variants peer,peer_fp32,joint,bilevel_k1,bilevel_k5,ceiling --out "$OUT_DIR/train-resnet18-32.json" "${TX[@]}"
section r50 110 "${TRAIN[@]}" --preset resnet50-96 --rounds 2 \
  --variants peer,joint,bilevel_k1,bilevel_k5,ceiling --out "$OUT_DIR/train-resnet50-96.json" "${TX[@]}"

NODE=""
if command -v node > /dev/null 2>&1; then
  NODE=$(command -v node)
elif [ -f "$ROOT/.carry/node.xz" ]; then
  xz -d < "$ROOT/.carry/node.xz" > /tmp/node && chmod +x /tmp/node && NODE=/tmp/node
fi
ORCH=()
if [ -n "$NODE" ] && [ -f "$ROOT/.carry/bench/orchestrated.mjs" ]; then
  ORCH=("$NODE" "$ROOT/.carry/bench/orchestrated.mjs")
elif [ -n "$NODE" ] && [ -d "$ROOT/node_modules/tsx" ]; then
  ORCH=("$NODE" --import tsx bench/bench_orchestrated.ts)
fi
if [ ${#ORCH[@]} -gt 0 ]; then
  # ResNet-18 (CIFAR stem) on 20480 procedural 32 px images, batch 512, bf16, 3 epochs, kNN
  # monitor every epoch: the same run through gRPC and in-process, 2 pairs (ABBA).
  section orch 100 "${ORCH[@]}" --device "$DEVICE" --threads 0 --backbone resnet18 --batch 512 --epochs 3 \
    --train-limit 0 --synthetic-size 20480 --test-limit 2000 --pairs 2 --out "$OUT_DIR/orchestrated-$DEVICE.json" "${OX[@]}"
else
  say "skip orch: no node binary or no orchestrated bundle (run bench/prepare_gpu_carry.sh and carry .carry)"
fi

section r18c 130 "${TRAIN[@]}" --preset resnet18-32 --compile --rounds 2 \
  --variants joint,bilevel_k1,bilevel_k5,ceiling --out "$OUT_DIR/train-resnet18-32-compile.json" "${TX[@]}"

say "done in $(( $(date +%s) - T0 )) s; results in $OUT_DIR"
ls -la "$OUT_DIR" | tee -a "$LOG"
