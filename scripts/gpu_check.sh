#!/usr/bin/env bash
# The GPU paths, in under 5 minutes on one GPU: `train sft` and `train rl --mode closed --correction tis`
# with a tiny model in bf16 on CUDA, then `eval` of the result. It stops at the first failure.
#   scripts/gpu_check.sh [OUT]          (default gpu-check/; replaced)
# GPU_CHECK_CPU=1 runs the same steps on CPU in fp32 (to check the script itself where no GPU is lent).
set -euo pipefail
OUT=${1:-gpu-check}
PY=${PYTHON:-python}
SE=("$PY" -m selfevolve_lab.cli)
t0=$SECONDS
step() { echo "== $1 ($((SECONDS - t0)) s)"; }

step "device"
"$PY" - <<'PY'
import os, torch
if os.environ.get("GPU_CHECK_CPU") != "1":
    assert torch.cuda.is_available(), "no CUDA device (GPU_CHECK_CPU=1 checks the script on CPU)"
    assert torch.cuda.is_bf16_supported(), "this GPU has no bf16"
    print(torch.cuda.get_device_name(0), "| torch", torch.__version__, "| CUDA", torch.version.cuda)
PY
if [ "${GPU_CHECK_CPU:-0}" = 1 ]; then export CUDA_VISIBLE_DEVICES=""; fi
rm -rf "$OUT"
mkdir -p "$OUT"

step "bench: NumPy -> zwc, 64 tasks, SFT data from their references"
"${SE[@]}" build --out "$OUT/bench" >/dev/null
"${SE[@]}" tasks generate "$OUT/bench" --limit 64
"${SE[@]}" train data --bench "$OUT/bench" --from-references --limit 16 --out "$OUT/data.jsonl"

step "a tiny Llama (2 layers, hidden 64) with a tokenizer of the bench's texts"
"$PY" - "$OUT" <<'PY'
import sys
from selfevolve_lab.bench import Bench
from selfevolve_lab.testing import make_tiny_model
from selfevolve_lab.train.data import TaskPrompts, train_tasks
out = sys.argv[1]
bench = Bench.open(f"{out}/bench")
tasks = train_tasks(bench)[:16]
prompts = TaskPrompts(bench)
corpus = [m["content"] for t in tasks for mode in ("open", "closed") for m in prompts.messages(t, mode)]
make_tiny_model(f"{out}/model", corpus=corpus + [t.reference for t in tasks], vocab_size=1000)
PY

step "train sft --mode closed (bf16 on CUDA: trainer_args turns it on where the GPU has it)"
"${SE[@]}" train sft --bench "$OUT/bench" --model "$OUT/model" --data "$OUT/data.jsonl" --mode closed \
    --batch-size 8 --max-steps 4 --lr 1e-4 --max-length 4096 --truncate --out "$OUT/sft"

step "train rl --mode closed --correction tis, from the SFT model"
"${SE[@]}" train rl --bench "$OUT/bench" --model "$OUT/sft/model" --mode closed --correction tis --limit 16 \
    --prompts-per-step 8 --group 4 --max-completion-length 64 --max-steps 2 --dump-batches 1 --out "$OUT/rl"

step "eval --mode closed of the RL model (transformers backend)"
"${SE[@]}" eval --bench "$OUT/bench" --model "$OUT/rl/model" --mode closed --limit 16 --max-tokens 64 \
    --backend transformers --out "$OUT/eval"

step "what ran"
"$PY" - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
for run in ("sft", "rl"):
    cfg = json.loads((out / run / "config.json").read_text())
    steps = [json.loads(x) for x in (out / run / "metrics.jsonl").read_text().splitlines()]
    print(f"{run}: {len(steps)} steps, world_size {cfg['world_size']}, batch {cfg['batch']}, last loss {steps[-1]['loss']}")
dump = [json.loads(x) for x in (out / "rl" / "batches.jsonl").read_text().splitlines()]
w = [t for r in dump for t in r["token_weights"]]
print(f"rl: {len(dump)} sequences in step 1, TIS weights in [{min(w):.3f}, {max(w):.3f}] (cap 2)")
res = json.loads((out / "eval" / "results.json").read_text())
print("eval:", {k: v for k, v in res["metrics"].items() if not isinstance(v, (dict, list))})
PY
step "done"
