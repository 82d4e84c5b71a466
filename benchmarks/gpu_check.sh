#!/usr/bin/env bash
# The GPU check of issue 14, prepared for a machine with an NVIDIA GPU (not run on the CPU-only
# development machine; no GPU figure in this repository comes from anywhere else).
#
#   PYTHON=.venv/bin/python benchmarks/gpu_check.sh            # from the repository root
#
# Needs: a venv with the CUDA build of torch, the project installed (pip install -e .), bitsandbytes
# with CUDA kernels, the models provisioned (ragtune models pull) and, for the serving part, the
# CUDA build of vLLM (pip install vllm). Writes benchmarks/results/gpu/:
#   training_lora.{md,json,png}, training_qlora.{md,json,png}  s/step, tokens/s, peak GPU memory
#                                                              (hand step vs Trainer; CPU figures
#                                                              are in benchmarks/results/training.md)
#   card_lora.json, card_qlora.json                            the sample adapter trained on the GPU
#   answers.jsonl                                              one question per mode, served by GPU vLLM
#   summary.md                                                 the table of all of the above
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=benchmarks/results/gpu
STEPS=${STEPS:-20}
PORT_VLLM=${PORT_VLLM:-8100}
PORT_GATEWAY=${PORT_GATEWAY:-8101}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export RAGTUNE_HOME=${RAGTUNE_HOME:-$PWD/.home-gpu}
mkdir -p "$OUT" "$RAGTUNE_HOME"

"$PY" - <<'EOF'
import sys, torch
if not torch.cuda.is_available():
    sys.exit("gpu_check: torch sees no CUDA device (torch %s); install the CUDA build of torch" % torch.__version__)
print(f"gpu_check: {torch.cuda.get_device_name(0)}, bf16={torch.cuda.is_bf16_supported()}, torch {torch.__version__}")
EOF
"$PY" -m ragtune.cli models pull >/dev/null

# 1. speed of the step: the old hand step and the Trainer, LoRA and QLoRA, batch 4, on the GPU
for method in lora qlora; do
  "$PY" benchmarks/bench_training.py --device cuda --method "$method" --modes hand trainer --rounds 1 \
    --steps "$STEPS" --out "gpu/training_$method"
done

# 2. the sample adapter, trained on the GPU with lora and qlora (the demo's settings: 1 epoch, lr 1e-3)
for method in lora qlora; do
  RAGTUNE_TRAIN__LEARNING_RATE=1e-3 RAGTUNE_TRAIN__STYLE_MAX_NEW_TOKENS=96 \
    "$PY" -m ragtune.cli train --data training/sample_data/zaragoza_voice.jsonl --name "zaragoza-voice-$method" \
    --method "$method" --epochs 1 --style-guide training/sample_data/style_guide.json --device cuda \
    --overwrite --json > "$OUT/card_$method.json"
done

# 3. serving on the GPU: vLLM (CUDA build) as the external engine, the gateway in front, one question per mode
answers="$OUT/answers.jsonl"
: > "$answers"
if "$PY" -c "import vllm" 2>/dev/null; then
  "$PY" -m ragtune.cli demo --no-serve >/dev/null   # sample corpus indexed (the adapter is reused if current)
  model="$RAGTUNE_HOME/models/smollm2-135m-instruct"
  VLLM_ALLOW_RUNTIME_LORA_UPDATING=True "$PY" -m vllm.entrypoints.openai.api_server --model "$model" \
    --served-model-name smollm2-135m-instruct --port "$PORT_VLLM" --enable-lora --max-lora-rank 64 \
    --max-loras 4 --gpu-memory-utilization 0.5 > "$OUT/vllm.log" 2>&1 &
  vllm_pid=$!
  trap 'kill "$vllm_pid" "${gateway_pid:-}" 2>/dev/null || true' EXIT
  for _ in $(seq 1 180); do curl -sf "http://127.0.0.1:$PORT_VLLM/health" >/dev/null && break; sleep 2; done
  RAGTUNE_ENGINE__URL="http://127.0.0.1:$PORT_VLLM/v1" RAGTUNE_GATEWAY__PORT="$PORT_GATEWAY" \
    "$PY" -m ragtune.cli serve > "$OUT/gateway.log" 2>&1 &
  gateway_pid=$!
  for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$PORT_GATEWAY/healthz" >/dev/null && break; sleep 2; done
  for adapter in zaragoza-voice-lora zaragoza-voice-qlora; do
    for mode in base rag ft hybrid; do
      curl -sf "http://127.0.0.1:$PORT_GATEWAY/v1/chat" -H 'content-type: application/json' \
        -d "{\"question\": \"What does a building permit cost?\", \"mode\": \"$mode\", \"adapter\": \"$adapter\"}" \
        | "$PY" -c "import json,sys; a=json.load(sys.stdin); print(json.dumps({'adapter': '$adapter', 'mode': '$mode', 'answer': a.get('answer'), 'latency_ms': a.get('latency_ms'), 'usage': a.get('usage')}))" \
        >> "$answers" || echo "{\"adapter\": \"$adapter\", \"mode\": \"$mode\", \"error\": \"request failed\"}" >> "$answers"
    done
  done
else
  echo '{"error": "vllm (CUDA build) is not installed: serving skipped"}' > "$answers"
fi

# 4. one summary table
"$PY" - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
lines = ["# GPU check (benchmarks/gpu_check.sh)", ""]
for method in ("lora", "qlora"):
    lines += [(out / f"training_{method}.md").read_text().strip(), ""]
lines += ["| sample adapter | device | precision | s/step | eval loss | style | peak GPU MiB | train s |",
          "|---|---|---|---|---|---|---|---|"]
for method in ("lora", "qlora"):
    card = json.loads((out / f"card_{method}.json").read_text())
    steps = card["hyperparameters"]["steps_done"]
    lines.append(f"| {card['name']} | {card['device']} | {card['precision']} | {card['train_seconds'] / steps:.3f} | "
                 f"{card['eval_loss_before']} → {card['eval_loss_after']} | {card['style_score_before']} → "
                 f"{card['style_score_after']} | {card['peak_memory_mb']} | {card['train_seconds']} |")
lines += ["", "Answers (one per mode and adapter): answers.jsonl", ""]
(out / "summary.md").write_text("\n".join(lines))
print("\n".join(lines))
EOF
