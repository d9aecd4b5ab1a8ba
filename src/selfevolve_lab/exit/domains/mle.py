"""MLE: scikit-learn's bundled datasets, disguised. The model writes ``fit_predict(X_train, y_train, X_test)``,
which runs in the sandbox (scikit-learn importable in the jail, CPU and memory capped) and returns predictions
for X_test; the trusted side scores them against labels that never enter the sandbox.

The bundled files (sklearn's, and copies such as scipy's test data) are readable in the jail, so a
solution could look its rows up there. Every row the model sees is therefore disguised with a transform
drawn from a secret the sandbox never sees: columns permuted, scaled and shifted, plus a jitter of a few
percent of each column's spread (and the regression target scaled and shifted), so no file holds the
rows being scored, and a lookup scores at chance.

X_test is a validation part of the training rows followed by the held-out test rows, in one call.
Score: on the test rows, classification accuracy normalized against the majority class,
(acc - base) / (1 - base), and R² for regression, both clipped to [0, 1]. Feedback shown to the model:
the same metric on the validation rows only, never on the test labels.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass

import numpy as np

from selfevolve_lab.errors import UserError
from selfevolve_lab.exit.domain import BaseTask, Instance
from selfevolve_lab.judge.extract import extract_code
from selfevolve_lab.sandbox import Limits, RunRequest, SandboxPool
from selfevolve_lab.sandbox.protocol import from_tagged

ENTRY = "fit_predict"
DATASETS = {  # name -> (loader, kind, what a row is)
    "iris": ("load_iris", "classification", "measurements of an iris flower; predict its species (0, 1 or 2)"),
    "wine": ("load_wine", "classification", "chemical analysis of a wine; predict its cultivar (0, 1 or 2)"),
    "breast_cancer": ("load_breast_cancer", "classification",
                      "features of a breast mass; predict whether it is benign (1) or malignant (0)"),
    "digits": ("load_digits", "classification", "an 8x8 image of a handwritten digit, flattened; predict the digit"),
    "diabetes": ("load_diabetes", "regression", "a patient's baseline variables; predict disease progression"),
}
SEEDS = {"train": (0, 1, 2, 3), "test": (10, 11)}
PRELOAD = [np.__name__, "sklearn", "sklearn.linear_model", "sklearn.ensemble", "sklearn.neighbors", "sklearn.svm",
           "sklearn.tree", "sklearn.preprocessing", "sklearn.pipeline"]
JITTER = 0.03  # of each column's standard deviation: no row matches a bundled one
LIMITS = Limits(cpu_s=20.0, wall_s=30.0, memory_mb=3072, result_bytes=1 << 20)
PROMPT = """Dataset `{name}` ({kind}): each row is {rows}. {n_train} training rows, {n_test} rows to predict, {n_features} numeric features.

Write a Python function `fit_predict(X_train, y_train, X_test)` that trains a model on the training rows (lists of \
lists of numbers, and a list of labels) and returns a list with one prediction per row of X_test. scikit-learn and \
numpy are available; there is no network. The score is the {metric} on held-out labels; feedback reports it \
for a validation part of X_test.

Reply with the complete function in a single ```python code block."""


@dataclass(frozen=True)
class Split:
    X_fit: list  # the rows the model trains on
    y_fit: list
    X_pred: list  # the validation rows, then the test rows
    y_val: np.ndarray
    y_test: np.ndarray


def _disguise(X: np.ndarray, y: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    std = X.std(axis=0)
    X = X + rng.normal(0.0, JITTER, X.shape) * std
    cols = rng.permutation(X.shape[1])
    X = X[:, cols] * rng.uniform(0.5, 2.0, X.shape[1]) + rng.normal(0.0, 10.0, X.shape[1]) * (std[cols] + 1.0)
    if kind == "regression":
        y = y * rng.uniform(0.5, 2.0) + rng.normal(0.0, 10.0) * (y.std() + 1.0)
    return X, y


@functools.cache
def split(name: str, seed: int, secret: int) -> Split:
    """A dataset under a seeded 75/25 test split, the training part split again 80/20 for validation,
    every row disguised by a transform drawn from ``secret`` and ``seed``."""
    import sklearn.datasets
    from sklearn.model_selection import train_test_split

    loader, kind, _ = DATASETS[name]
    X, y = getattr(sklearn.datasets, loader)(return_X_y=True)
    X, y = _disguise(np.asarray(X, dtype=float), np.asarray(y), kind, np.random.default_rng([secret, seed]))
    strat = y if kind == "classification" else None
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=strat)
    Xf, Xv, yf, yv = train_test_split(Xa, ya, test_size=0.2, random_state=seed,
                                      stratify=ya if kind == "classification" else None)
    return Split(Xf.tolist(), yf.tolist(), Xv.tolist() + Xb.tolist(), yv, yb)


def metric(kind: str, y_true: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """(the held-out metric, the normalized score in [0, 1]). Accuracy is normalized against the best
    constant answer on the same labels, so no constant predictor scores above 0 (as R² does)."""
    if kind == "classification":
        acc = float(np.mean(pred == y_true))
        base = float(np.max(np.bincount(np.asarray(y_true, dtype=int))) / len(y_true))
        return acc, min(1.0, max(0.0, (acc - base) / (1.0 - base)))
    ss_res = float(np.sum((y_true - pred) ** 2))
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot
    return r2, min(1.0, max(0.0, r2))


class MLEDomain:
    name = "mle"
    verifiable = False

    def __init__(self, datasets: tuple[str, ...] = tuple(DATASETS), *, workers: int | None = None,
                 limits: Limits = LIMITS, pool: SandboxPool | None = None, secret: int | None = None):
        unknown = set(datasets) - set(DATASETS)
        if unknown or not datasets:
            raise UserError(f"unknown mle datasets {sorted(unknown)}; choose from {', '.join(DATASETS)}")
        self.datasets, self.limits = tuple(datasets), limits
        # never sent to the sandbox: a solution that knew it could undo the disguise
        self.secret = secrets.randbits(64) if secret is None else secret
        self._pool, self._own_pool, self._workers = pool, pool is None, workers

    @property
    def pool(self) -> SandboxPool:
        if self._pool is None:
            self._pool = SandboxPool(preload=PRELOAD, workers=self._workers, limits=self.limits,
                                     array_type="numpy.ndarray", scalar_type="numpy.generic")
        return self._pool

    def tasks(self, split_name: str) -> list[BaseTask]:
        out = []
        for name in self.datasets:
            _, kind, rows = DATASETS[name]
            for seed in SEEDS[split_name]:
                sp = split(name, seed, self.secret)
                text = PROMPT.format(name=name, kind=kind, rows=rows, n_train=len(sp.X_fit), n_test=len(sp.X_pred),
                                     n_features=len(sp.X_fit[0]),
                                     metric="accuracy" if kind == "classification" else "R² (coefficient of "
                                                                                         "determination)")
                out.append(BaseTask(f"{name}/{seed}", text, {"dataset": name, "seed": seed}))
        return out

    def _judge(self, inst: Instance, run) -> tuple[float, str]:
        name, seed = inst.task.data["dataset"], inst.task.data["seed"]
        kind = DATASETS[name][1]
        sp = split(name, seed, self.secret)
        n_val = len(sp.y_val)
        if run.status != "ok":
            return 0.0, f"{run.status}: {run.detail}"[:500]
        out = run.outcomes[0]
        if not out.ok:
            return 0.0, f"error: {out.error}"[:500]
        value = from_tagged(out.value)
        try:
            pred = np.asarray(value, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            return 0.0, f"fit_predict returned {type(value).__name__}, not a list of numbers"
        if pred.size != len(sp.X_pred):
            return 0.0, f"fit_predict returned {pred.size} predictions for {len(sp.X_pred)} rows"
        if not np.all(np.isfinite(pred)):
            return 0.0, "fit_predict returned non-finite predictions"
        m, _ = metric(kind, sp.y_val, pred[:n_val])
        _, s = metric(kind, sp.y_test, pred[n_val:])
        name_m = "accuracy" if kind == "classification" else "R²"
        return s, f"validation {name_m} {m:.4f}"

    def score_held_out(self, items: list[tuple[Instance, str]]) -> list[tuple[float, str]]:
        """K-step inference: already the split `HeldOut` asks for (the feedback is the validation metric,
        the score the test rows')."""
        return self.score_many(items)

    def score_many(self, items: list[tuple[Instance, str]]) -> list[tuple[float, str]]:
        futs = []
        for inst, response in items:
            code = extract_code(response or "", ENTRY)
            if code is None:
                futs.append(None)
                continue
            sp = split(inst.task.data["dataset"], inst.task.data["seed"], self.secret)
            futs.append(self.pool.submit(RunRequest(code, ENTRY, [{"X_train": sp.X_fit, "y_train": sp.y_fit,
                                                                   "X_test": sp.X_pred}])))
        results = []
        for (inst, _), fut in zip(items, futs, strict=True):
            if fut is None:
                results.append((0.0, f"no_code: no Python code defining {ENTRY}(X_train, y_train, X_test) found"))
                continue
            try:
                results.append(self._judge(inst, fut.result()))
            except Exception as e:  # never let one odd result stop a run
                results.append((0.0, f"sandbox_error: {type(e).__name__}: {e}"[:500]))
        return results

    def close(self) -> None:
        if self._pool is not None and self._own_pool:
            self._pool.close()
