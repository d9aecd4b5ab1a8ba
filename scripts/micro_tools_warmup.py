"""A short SFT warm-up that teaches the micro base the tools domain's call format (issue 27, item 3).

    python scripts/micro_tools_warmup.py --base MICRO_BASE --out DIR [--tasks 1000] [--epochs 3]

Each training example is a reference episode of a train task, laid out token for token as ExIt's training
sees one (`selfevolve_lab.train.grpo.turns_rollout`): the first-attempt prompt, then each call as an assistant
turn ending with the end-of-turn token, the chat template's user turn with its RESULT, ..., and a last turn
answering with the value the last RESULT showed. The loss is on the model's turns only. Test tasks are never read. With --improve-share, also
improve steps: the prompt shows a wrong earlier episode (another task's reference) and its feedback, and the
target is the reference. Writes DIR/model.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--improve-share", type=float, default=0.0,
                    help="also train on improve prompts for this share of the tasks (ExIt's self-iteration step)")
    a = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import selfevolve_lab.models.micro  # noqa: F401  registers the micro model class
    from selfevolve_lab.exit import prompts
    from selfevolve_lab.exit.domain import Attempt, Instance
    from selfevolve_lab.exit.domains.tools import ToolsDomain, reference_response, respond
    from selfevolve_lab.train.grpo import _env_suffix

    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    tok = AutoTokenizer.from_pretrained(a.base)
    model = AutoModelForCausalLM.from_pretrained(a.base)
    domain = ToolsDomain(size=a.tasks)
    tasks = domain.tasks("train")
    rng = random.Random(a.seed)
    chats = [prompts.messages(Instance(t), "first") for t in tasks]
    for task in tasks[: int(a.improve_share * len(tasks))]:
        # an improve step: the previous attempt is another task's reference episode (real calls, a wrong
        # answer here), with the feedback this task's scorer gives it; the target is this task's reference
        other = tasks[rng.randrange(len(tasks))]
        bad = reference_response(other)
        score, feedback = domain.score_one(Instance(task), bad)
        if score == 0:
            chats.append(prompts.messages(Instance(task, (Attempt(bad, score, feedback),)), "improve"))
            tasks.append(task)
    examples = []
    for task, chat in zip(tasks, chats, strict=True):
        prompt = tok.apply_chat_template(chat, tokenize=True, add_generation_prompt=True, return_dict=False)
        ids, labels, turns = list(prompt), [-100] * len(prompt), []
        message = None
        for call in task.data["reference"]:
            kept, message = respond(turns, call)
            turns.append(kept)
            part = tok(kept, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]  # it ends its turn
            env = list(_env_suffix(tok, message))
            env = env[1:] if env[:1] == [tok.eos_token_id] else env
            ids += part + env
            labels += part + [-100] * len(env)
        answer = message.split(": ", 1)[1].strip("'")  # the value the last RESULT showed
        part = tok(f"ANSWER: {answer}", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        ids += part
        labels += part
        examples.append((ids, labels))
    print(f"{len(examples)} episodes, mean {sum(len(i) for i, _ in examples) / len(examples):.0f} tokens", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.0)
    model.train()
    t0, log = time.perf_counter(), []
    for epoch in range(a.epochs):
        rng.shuffle(examples)
        for b in range(0, len(examples), a.batch):
            batch = examples[b:b + a.batch]
            n = max(len(i) for i, _ in batch)
            x = torch.tensor([i + [tok.pad_token_id or 0] * (n - len(i)) for i, _ in batch])
            y = torch.tensor([lab + [-100] * (n - len(lab)) for _, lab in batch])
            att = torch.tensor([[1] * len(i) + [0] * (n - len(i)) for i, _ in batch])
            loss = model(input_ids=x, attention_mask=att, labels=y).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
        log.append({"epoch": epoch + 1, "loss": loss.item(), "s": round(time.perf_counter() - t0, 1)})
        print(log[-1], flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(a.out / "model")
    tok.save_pretrained(a.out / "model")
    (a.out / "warmup.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(a).items()}, "log": log}, indent=1))


if __name__ == "__main__":
    main()
