"""The boundary to TRL's internals: one module (`selfevolve_lab.train.grpo`) names TRL's private attributes, each
of them is pinned on the pinned TRL, and no ExIt class subclasses the engine."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl")

SRC = Path(__file__).resolve().parents[1] / "src" / "selfevolve_lab"


def _trl_private() -> tuple[set[str], set[str]]:
    """TRL's trainers' private methods (with transformers' Trainer's) and the private attributes TRL sets."""
    from trl import GRPOTrainer, SFTTrainer

    methods = {n for c in (GRPOTrainer, SFTTrainer) for n in dir(c)
               if n.startswith("_") and not n.startswith("__") and callable(getattr(c, n))}
    attrs = {n for c in (GRPOTrainer, SFTTrainer)
             for n in re.findall(r"self\.(_[A-Za-z]\w*)\s*=", inspect.getsource(inspect.getmodule(c)))} - methods
    return methods, attrs


def _named(text: str, methods: set[str], attrs: set[str]) -> set[str]:
    """TRL's private names a source text uses: a method always; an attribute unless the text sets its own."""
    used = set(re.findall(r"\.(_[A-Za-z]\w*)\b", text))
    own = {a for a in used & attrs if re.search(rf"(def {a}\(|self\.{a}\b[^\n=]*=[^=])", text)}
    return (used & methods) | (used & attrs) - own | set(re.findall(r"\btrl\.[\w.]*\b_[A-Za-z]\w*", text))


def test_the_engine_is_the_only_module_naming_a_private_trl_attribute():
    from selfevolve_lab.train.grpo import TRL_PRIVATE

    methods, attrs = _trl_private()
    by_file = {str(f.relative_to(SRC)): _named(f.read_text(), methods, attrs) for f in SRC.rglob("*.py")}
    assert {f: n for f, n in by_file.items() if n and f != "train/grpo.py"} == {}
    assert by_file["train/grpo.py"] == set(TRL_PRIVATE)  # the list it declares is the list it uses


def test_every_private_name_the_engine_uses_exists_on_the_pinned_trl():
    """A TRL upgrade must re-check each: the version is asserted on import, the names and signatures here."""
    import trl
    from trl import GRPOTrainer

    from selfevolve_lab.train.grpo import TRL_PRIVATE, TRL_VERSION

    assert trl.__version__ == TRL_VERSION
    assert all(callable(getattr(GRPOTrainer, n, None)) for n in TRL_PRIVATE)
    sig = {n: list(inspect.signature(getattr(GRPOTrainer, n)).parameters) for n in TRL_PRIVATE}
    assert sig["_generate_and_score_completions"] == ["self", "inputs"]
    assert sig["_tokenize_prompts"][:2] == ["self", "prompts"]
    assert sig["_generate_single_turn"][:5] == ["self", "prompt_ids", "images", "multimodal_fields", "num_generations"]
    assert sig["_get_per_token_logps_and_entropies"][:5] == ["self", "model", "input_ids", "attention_mask",
                                                              "logits_to_keep"]
    assert "batch_size" in sig["_get_per_token_logps_and_entropies"]
    assert '"advantages": advantages' in inspect.getsource(GRPOTrainer._generate_and_score_completions)


def test_no_class_in_exit_subclasses_the_engine():
    for f in (SRC / "exit").rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(b).split(".")[-1] for b in node.bases}
                assert not bases & {"GRPOEngine", "GRPOTrainer", "Trainer"}, (f, node.name)


def test_the_exit_curriculum_imports_neither_torch_nor_trl():
    code = "import sys, selfevolve_lab.exit.curriculum; print(sorted({'torch', 'trl'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_prompt_hook_refuses_a_batch_whose_copies_are_not_adjacent():
    """The hook fills each group of `num_generations` rows; TRL's sampler must have put a row's copies together."""
    from types import SimpleNamespace

    from selfevolve_lab.train.grpo import GRPOEngine

    fake = SimpleNamespace(prompt_hook=lambda n: [{"prompt": f"p{j}"} for j in range(n)], num_generations=2,
                           model=SimpleNamespace(training=True), state=SimpleNamespace(global_step=0))
    with pytest.raises(RuntimeError, match="copies next to each other"):
        GRPOEngine._generate_and_score_completions(fake, [{"r": 0}, {"r": 1}, {"r": 0}, {"r": 1}])
