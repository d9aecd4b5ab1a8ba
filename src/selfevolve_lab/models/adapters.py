"""LoRA adapter directories (what `train --lora` saves as RUN/model) as models.

An adapter directory holds ``adapter_config.json`` (PEFT's), the adapter's weights and the tokenizer; its
base is the model named by ``base_model_name_or_path``. `load_causal_lm` gives the base with the adapter
merged into it, so eval, serve and self-play generate from an adapter run as from a full one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selfevolve_lab.errors import UserError, missing_extra

ADAPTER_CONFIG = "adapter_config.json"


def adapter_config(path: str | Path) -> dict | None:
    """The adapter's PEFT config when ``path`` is an adapter directory, else None."""
    file = Path(path) / ADAPTER_CONFIG
    if not file.is_file():
        return None
    try:
        conf = json.loads(file.read_text())
        base = conf["base_model_name_or_path"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"{file}: not a PEFT adapter config ({e})") from None
    if not isinstance(base, str) or not base:
        raise UserError(f"{file}: no base_model_name_or_path")
    return conf


def load_causal_lm(path: str | Path, **kw: Any):
    """``AutoModelForCausalLM.from_pretrained(path)``; an adapter directory gives its base with the adapter
    merged in (a plain model: generation costs what the base's does)."""
    from transformers import AutoModelForCausalLM

    import selfevolve_lab.models.micro  # noqa: F401  registers the micro-world's model class with the Auto classes

    conf = adapter_config(path)
    if conf is None:
        return AutoModelForCausalLM.from_pretrained(str(path), **kw)
    return load_adapter(path, conf, trainable=False, **kw).merge_and_unload()


def load_adapter(path: str | Path, conf: dict, *, trainable: bool, **kw: Any):
    """The adapter on its base, as a ``peft.PeftModel`` (``trainable``: to go on training the adapter)."""
    from transformers import AutoModelForCausalLM

    base = conf["base_model_name_or_path"]
    try:
        from peft import PeftModel
    except ImportError:
        raise missing_extra("train", f"{path} is a LoRA adapter: loading it (peft)") from None
    try:
        model = AutoModelForCausalLM.from_pretrained(base, **kw)
    except OSError as e:
        raise UserError(f"{path}: its base model {base} (base_model_name_or_path) does not load: "
                        f"{str(e).splitlines()[0][:200]}") from None
    return PeftModel.from_pretrained(model, str(path), is_trainable=trainable)


def absolute_base(adapter_dir: Path) -> None:
    """Make a saved adapter's base path absolute (PEFT records it as given, relative to the trainer's working
    directory), so the adapter loads from anywhere."""
    file = Path(adapter_dir) / ADAPTER_CONFIG
    conf = adapter_config(adapter_dir)
    if conf is None:
        return
    base = Path(conf["base_model_name_or_path"])
    if not base.is_absolute() and base.exists():
        conf["base_model_name_or_path"] = str(base.resolve())
        file.write_text(json.dumps(conf, indent=2, sort_keys=True) + "\n")
