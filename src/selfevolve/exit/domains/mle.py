"""MLE: scikit-learn's bundled datasets. The model writes ``fit_predict(X_train, y_train, X_test)``, which
runs in the sandbox (scikit-learn importable in the jail, CPU and memory capped) and returns predictions
for X_test; the trusted side scores them against labels that never enter the sandbox.

Score: classification accuracy normalized against the majority class of the held-out labels,
(acc - base) / (1 - base), and R²
for regression, both clipped to [0, 1]. Feedback: the held-out metric and score, or the error.
"""

from __future__ import annotations

import functools

import numpy as np

from selfevolve.errors import UserError
from selfevolve.exit.domain import BaseTask, Instance
from selfevolve.judge.extract import extract_code
from selfevolve.sandbox import Limits, RunRequest, SandboxPool
from selfevolve.sandbox.protocol import from_tagged

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
PRELOAD = ["numpy", "sklearn", "sklearn.linear_model", "sklearn.ensemble", "sklearn.neighbors", "sklearn.svm",
           "sklearn.tree", "sklearn.preprocessing", "sklearn.pipeline"]
LIMITS = Limits(cpu_s=20.0, wall_s=30.0, memory_mb=3072, result_bytes=1 << 20)
PROMPT = """Dataset `{name}` ({kind}): each row is {rows}. {n_train} training rows, {n_test} rows to predict, {n_features} numeric features.

Write a Python function `fit_predict(X_train, y_train, X_test)` that trains a model on the training rows (lists of \
lists of numbers, and a list of labels) and returns a list with one prediction per row of X_test. scikit-learn and \
numpy are available; there is no network and no file access. The score is the {metric} on held-out labels.

Reply with the complete function in a single ```python code block."""


@functools.cache
def split(name: str, seed: int) -> tuple[list, list, list, np.ndarray]:
    """(X_train, y_train, X_test, y_test) of a dataset under a seeded 75/25 split."""
    import sklearn.datasets
    from sklearn.model_selection import train_test_split

    loader, kind, _ = DATASETS[name]
    X, y = getattr(sklearn.datasets, loader)(return_X_y=True)
    strat = y if kind == "classification" else None
    Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=strat)
    return Xa.tolist(), ya.tolist(), Xb.tolist(), yb


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
                 limits: Limits = LIMITS, pool: SandboxPool | None = None):
        unknown = set(datasets) - set(DATASETS)
        if unknown or not datasets:
            raise UserError(f"unknown mle datasets {sorted(unknown)}; choose from {', '.join(DATASETS)}")
        self.datasets, self.limits = tuple(datasets), limits
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
                Xa, _, Xb, _ = split(name, seed)
                text = PROMPT.format(name=name, kind=kind, rows=rows, n_train=len(Xa), n_test=len(Xb),
                                     n_features=len(Xa[0]),
                                     metric="accuracy" if kind == "classification" else "R² (coefficient of "
                                                                                         "determination)")
                out.append(BaseTask(f"{name}/{seed}", text, {"dataset": name, "seed": seed}))
        return out

    def _judge(self, inst: Instance, run) -> tuple[float, str]:
        name, seed = inst.task.data["dataset"], inst.task.data["seed"]
        kind = DATASETS[name][1]
        y_test = split(name, seed)[3]
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
        if pred.shape != y_test.shape:
            return 0.0, f"fit_predict returned {pred.size} predictions for {y_test.size} rows"
        if not np.all(np.isfinite(pred)):
            return 0.0, "fit_predict returned non-finite predictions"
        m, s = metric(kind, y_test, pred)
        name_m = "accuracy" if kind == "classification" else "R²"
        return s, f"held-out {name_m} {m:.4f} (score {s:.3f})"

    def score_many(self, items: list[tuple[Instance, str]]) -> list[tuple[float, str]]:
        futs = []
        for inst, response in items:
            code = extract_code(response or "", ENTRY)
            if code is None:
                futs.append(None)
                continue
            Xa, ya, Xb, _ = split(inst.task.data["dataset"], inst.task.data["seed"])
            futs.append(self.pool.submit(RunRequest(code, ENTRY, [{"X_train": Xa, "y_train": ya, "X_test": Xb}])))
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
