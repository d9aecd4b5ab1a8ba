"""A bench's task sets as a Hugging Face dataset directory, and its push to the Hub.

`selfevolve tasks export BENCH --format hf --out DIR` writes

* ``DIR/README.md``: the dataset card (YAML front matter: one config whose splits are the bench's task
  sets, the licenses; then what the pseudo-novel package is and the closed/open-book protocol);
* ``DIR/data/{split}.parquet``: one `hf_row` per task, so ``datasets.load_dataset(DIR)`` (or the Hub id)
  gives every split;
* ``DIR/bench/``: the bench without its tasks (manifest, mapping, docs, the package), which the judge
  needs: ``Judge(DIR / "bench")`` scores a row's task (`task_from_hf_row`).

`push` uploads such a directory with huggingface_hub; a missing token is refused before anything is written.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from selfevolve_lab.errors import UserError, missing_extra

PROJECT_LICENSE = "apache-2.0"  # pyproject.toml's: the tasks, tests and references


def hub_token() -> str:
    """The Hugging Face token (``HF_TOKEN`` or a stored login), or a UserError saying how to give one."""
    try:
        from huggingface_hub import get_token
    except ImportError:
        raise missing_extra("hf", "pushing to the Hub") from None
    token = get_token()
    if not token:
        raise UserError("--push-to-hub: no Hugging Face token; set HF_TOKEN or run `hf auth login`")
    return token


def dataset_card(bench: Any, counts: dict[str, int]) -> str:
    """README.md of the dataset directory: the YAML front matter ``datasets`` and the Hub read, and the prose."""
    from selfevolve_lab import profiles

    m = bench.manifest
    library_license = profiles.get(m.library).license  # the package wraps it, the docs rewrite its docs
    licenses = [PROJECT_LICENSE] + ([library_license] if library_license else [])
    front = ["---", "license:", *(f"- {lic}" for lic in licenses), "task_categories:", "- text-generation",
             "tags:", "- code", "- knowledge-internalization", "- se-bench", "pretty_name: "
             f"SE-Bench-style tasks on {m.package} (a renamed {m.library})", "configs:", "- config_name: default",
             "  data_files:"]
    for split in counts:
        front += [f"  - split: {split}", f"    path: data/{split}.parquet"]
    front.append("---")
    table = "\n".join(f"| {s} | {n} |" for s, n in counts.items())
    return "\n".join(front) + f"""

# {m.package}: a pseudo-novel {m.library}

Programming tasks that must be solved with **`{m.package}`**, a package that does not exist anywhere else:
{m.library} {m.library_version} with every public name renamed (seed {m.seed}), documented by {m.library}'s
own docs rewritten with the new names. A model cannot have seen `{m.package}` in pretraining, so what it
knows of it was learnt from this bench (SE-Bench's protocol for measuring knowledge internalization).
Publishing it ends that for models trained on the web after it: for a clean test, build a fresh bench
(another seed gives other names).

| split | tasks |
| --- | --- |
{table}

Each row: `id`, `kind` (single or multi API), `apis` (the `{m.package}` names the task needs), `prompt`
(never names an API), `entry_point`, `signature`, `reference` (a solution in `{m.package}`), and as JSON
text `tests` (hidden test cases, values in the judge's tagged form), `compare` (tolerances) and `provenance`.

## Protocol

* **Closed book**: the model sees the prompt, one example and the signature, no documentation; only what it
  has internalized about `{m.package}` counts.
* **Open book**: the same, with the documentation of the task's APIs (`bench/docs.jsonl`) in the prompt.
* A completion passes when its code, run in a sandbox, passes every test **and uses `{m.package}`** (the
  judge's behavioural usage rule: an answer in plain {m.library} or Python fails).

## Judging

`bench/` holds the package, its docs, the name mapping and `manifest.json` (the library version, seed and
file hashes the bench was built from). Score with the selfevolve toolkit's judge, which runs a
completion's code only in its sandbox:

```python
from datasets import load_dataset
from selfevolve_lab.judge import Judge
from selfevolve_lab.tasks.formats import task_from_hf_row

rows = load_dataset("THIS_DATASET", split="test_single")
with Judge("bench") as judge:  # the bench/ folder of this dataset
    verdict = judge.judge(task_from_hf_row(rows[0]), completion_text)
```

`selfevolve eval`, the Inspect AI task (`selfevolve_lab/closed_book`, `selfevolve_lab/open_book`) and the verl
export evaluate a model on it end to end.

## License

The tasks, tests and references: {PROJECT_LICENSE}. The package and docs are derived from {m.library}
and keep its license{f" ({library_license})" if library_license else ""}.
"""


def write_dataset(bench: Any, out: str | Path, splits: list[str], *, force: bool = False) -> dict[str, int]:
    """Write the dataset directory for ``splits`` of ``bench`` (those without tasks are left out); returns
    the task count per split written. An existing ``out`` is refused unless ``force``."""
    from selfevolve_lab.jsonl import atomic_dir
    from selfevolve_lab.tasks.formats import export_hf

    out = Path(out)
    if out.exists() and not force:
        raise UserError(f"{out} exists (use --force to replace it)")
    tasks = {s: bench.tasks(s) for s in splits if bench.tasks_path(s).is_file()}
    tasks = {s: t for s, t in tasks.items() if t}
    if not tasks:
        raise UserError(f"{bench.root}: no tasks in {', '.join(splits)}; run `selfevolve tasks generate`")
    with atomic_dir(out, overwrite=force) as tmp:
        for split, ts in tasks.items():
            export_hf(ts, tmp / "data" / f"{split}.parquet")
        shutil.copytree(bench.root, tmp / "bench",
                        ignore=lambda d, names: [n for n in names if n.startswith(".") or n == "__pycache__"
                                                 or (Path(d) == bench.root and n == "tasks")])
        counts = {s: len(t) for s, t in tasks.items()}
        (tmp / "README.md").write_text(dataset_card(bench, counts), encoding="utf-8")
    return counts


def push(folder: str | Path, repo: str, token: str, *, private: bool = False) -> str:
    """Create (or reuse) the dataset repo ``repo`` and upload ``folder`` to it in one commit; its URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        url = api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo, repo_type="dataset",
                          commit_message="selfevolve tasks export --format hf")
    except Exception as e:  # HTTP, auth or a bad repo id: one line, not the client's traceback
        raise UserError(f"--push-to-hub {repo}: {type(e).__name__}: {str(e).splitlines()[0][:300]}") from None
    return str(url)
