#!/usr/bin/env bash
# The GPU benchmark in one command, sized to finish within 8 minutes on one GPU.
#
#   benchmarks/gpu_check.sh [OUT_DIR]
#
# Prints the machine's GPU, finds a Python whose TensorFlow sees it, installs
# ganlab into it without touching the network (--no-index --no-deps), then runs
# benchmarks/bench_train.py's GPU-relevant sections: the engine against the
# Keras-guide reference and a bare loop (XLA off and on), K = steps_per_execution
# in {1, 10, 100}, mixed precision, and a CelebA-64-sized run through the real
# TFRecord reader (does the reader keep up?). The table goes to stdout, the
# JSON to OUT_DIR/gpu_check.json (default benchmarks/results).
#
# Without a usable TensorFlow+GPU it measures nothing: it says why, writes that
# into the JSON ("unmeasured") and exits 3.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${1:-benchmarks/results}"
mkdir -p "$OUT_DIR"
JSON="$OUT_DIR/gpu_check.json"
LIMIT_S="${GPU_CHECK_LIMIT_S:-480}"

echo "== GPU"
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
else
    echo "nvidia-smi not found"
fi

# A Python whose TensorFlow lists a GPU: $GANLAB_PYTHON, the project's venv, then python3.
probe='import tensorflow as tf, sys; gpus = tf.config.list_physical_devices("GPU"); print(tf.__version__, len(gpus)); sys.exit(0 if gpus else 4)'
PYTHON=""
reasons=()
for candidate in "${GANLAB_PYTHON:-}" .venv/bin/python python3; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || [ -x "$candidate" ] || continue
    if answer=$(TF_CPP_MIN_LOG_LEVEL=3 "$candidate" -c "$probe" 2>&1); then
        PYTHON="$candidate"
        echo "== TensorFlow $(echo "$answer" | tail -1 | cut -d' ' -f1) in $candidate sees the GPU"
        break
    fi
    reasons+=("$candidate ($("$candidate" --version 2>&1)): $(echo "$answer" | tail -1)")
done

if [ -z "$PYTHON" ]; then
    echo "== unmeasured: no Python here has a TensorFlow that sees a GPU"
    printf '  %s\n' "${reasons[@]}"
    python3 - "$JSON" "${reasons[@]}" <<'EOF'
import json, sys
json.dump({"gpu": "unmeasured", "reason": "no TensorFlow that sees a GPU",
           "interpreters_tried": sys.argv[2:]}, open(sys.argv[1], "w"), indent=2)
EOF
    exit 3
fi

echo "== installing ganlab into $PYTHON (offline)"
"$PYTHON" -m pip install --quiet --no-index --no-deps --no-build-isolation -e . \
    || { echo "ganlab could not be installed offline into $PYTHON"; exit 3; }

echo "== bench_train.py GPU sections (limit ${LIMIT_S} s)"
TF_CPP_MIN_LOG_LEVEL=3 PYTHONUNBUFFERED=1 timeout "$LIMIT_S" "$PYTHON" benchmarks/bench_train.py \
    --sections 1,2,4,5 --rounds 1 --epochs 3 --ks 1,10,100 --out "$JSON"
