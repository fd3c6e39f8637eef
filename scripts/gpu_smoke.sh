#!/usr/bin/env bash
# GPU smoke test for a maintainer with a CUDA box and the model's weights (Hub cache or a folder).
#
#   scripts/gpu_smoke.sh [MODEL] [ITEMS] [STEPS]        e.g. scripts/gpu_smoke.sh internvl2-8b 64 10
#
# 1. `mmpr build` samples ITEMS (64) items of SOURCE (mathqa) with MODEL (an alias from
#    `mmpr models list`, a Hub id or a folder; default: the embedded model);
# 2. checks that more than MIN_STOP_SHARE (0.9) of the responses ended with `stop` (a family
#    whose stop tokens are missing runs every response to the token limit) and that pairs came out;
# 3. `mmpr train` trains STEPS (10) optimizer steps on those pairs;
# 4. prints the build's tokens/s and the training's pairs/s (scripts/smoke_report.py).
# Exits non-zero at the first failed step. Environment:
#   SOURCE=mathqa  OUT=out/gpu_smoke  MIN_STOP_SHARE=0.9  PYTHON=python (with mmpr installed)
#   BUILD_ARGS="..." and TRAIN_ARGS="..." are appended to the two commands (e.g. BUILD_ARGS="--tensor-parallel-size 2").
set -euo pipefail

MODEL=${1:-}
ITEMS=${2:-64}
STEPS=${3:-10}
SOURCE=${SOURCE:-mathqa}
OUT=${OUT:-out/gpu_smoke}
MIN_STOP_SHARE=${MIN_STOP_SHARE:-0.9}
PYTHON=${PYTHON:-python}
HERE=$(cd "$(dirname "$0")" && pwd)
model_args=()
[[ -n "$MODEL" ]] && model_args=(--model "$MODEL")

mkdir -p "$OUT"
echo "== build: ${MODEL:-embedded model}, $ITEMS items of $SOURCE -> $OUT/build"
# shellcheck disable=SC2086  # BUILD_ARGS/TRAIN_ARGS are word lists on purpose
"$PYTHON" -m mmpr_builder build --source "$SOURCE" "${model_args[@]}" --limit "$ITEMS" \
    --out "$OUT/build" --overwrite --quiet --json $BUILD_ARGS > "$OUT/build.log"
"$PYTHON" "$HERE/smoke_report.py" build "$OUT/build" --log "$OUT/build.log" --min-stop-share "$MIN_STOP_SHARE"

echo "== train: $STEPS steps -> $OUT/train"
# shellcheck disable=SC2086
"$PYTHON" -m mmpr_builder train --data "$OUT/build" --output "$OUT/train" "${model_args[@]}" \
    --max-steps "$STEPS" --save-steps 100000 --json $TRAIN_ARGS > "$OUT/train.log"
"$PYTHON" "$HERE/smoke_report.py" train "$OUT/train" --steps "$STEPS"
echo "== smoke test passed"
