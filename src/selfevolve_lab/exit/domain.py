"""The Domain protocol and the task instance ExIt iterates on.

An Instance is a base task plus its history of attempts (response, score, feedback). Its id is a content
hash, so the same partial history met twice is the same instance, and its parent is the same history
without its last attempt.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

SPLITS = ("train", "test")


@dataclass(frozen=True)
class BaseTask:
    id: str
    prompt: str  # the request, with the domain's answer-format instructions
    data: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)  # what the scorer needs


@dataclass(frozen=True)
class Attempt:
    response: str
    score: float
    feedback: str


def _digest(task_id: str, history: tuple[Attempt, ...]) -> str:
    payload = json.dumps([task_id, [[a.response, a.score, a.feedback] for a in history]], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Instance:
    task: BaseTask
    history: tuple[Attempt, ...] = ()

    @property
    def depth(self) -> int:
        """The number of earlier attempts: a step on this instance produces attempt ``depth + 1``."""
        return len(self.history)

    @functools.cached_property  # hashed once: the buffer asks for ids of hundreds of instances each step
    def id(self) -> str:
        return _digest(self.task.id, self.history)

    @functools.cached_property
    def parent_id(self) -> str | None:
        return _digest(self.task.id, self.history[:-1]) if self.history else None

    @property
    def last(self) -> Attempt | None:
        return self.history[-1] if self.history else None

    def child(self, attempt: Attempt) -> Instance:
        return Instance(self.task, self.history + (attempt,))

    def prefixes(self) -> list[Instance]:
        """Every per-turn prefix with at least one attempt, shortest first (this instance last)."""
        return [Instance(self.task, self.history[:k]) for k in range(1, len(self.history) + 1)]


@runtime_checkable
class Domain(Protocol):
    """What ExIt needs from a domain. ``verifiable``: scores are 0/1 (the plain score is the reward);
    otherwise they are continuous in [0, 1] and a self-iteration step earns the improvement reward."""

    name: str
    verifiable: bool

    def tasks(self, split: str) -> list[BaseTask]:
        """The base tasks of a split ("train" or "test")."""
        ...

    def score_many(self, items: list[tuple[Instance, str]]) -> list[tuple[float, str]]:
        """(instance, response) -> (score in [0, 1], feedback text), for a batch. Never raises on bad
        responses: empty text, garbage, no code or a program that never ends score 0 with feedback."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Interactive(Protocol):
    """A domain whose episode has turns (tools): after each reply the environment may answer it, and the model
    replies again, as a chat (assistant, user, assistant, ...). A response, as `Domain.score_many` scores it and
    an instance's history shows it, is the whole episode (`episode_text`). Training generates the turns in one
    sequence whose environment tokens are masked from the loss (`selfevolve_lab.train.grpo.turns_rollout`);
    K-step inference as chat turns (`selfevolve_lab.exit.inference.iterate`)."""

    max_turns: int  # replies per episode, the last one included

    def respond(self, turns: list[str], reply: str) -> tuple[str, str | None]:
        """One turn: (the reply as the episode keeps it, the environment's message for the next turn), or
        (the reply, None) when the episode ends with it. ``turns``: the episode's earlier replies, as kept.
        Never raises on a bad reply: a bad call is a message saying why it failed."""
        ...


def episode_text(turns: list[str], messages: list[str]) -> str:
    """An interactive episode as one response: each reply, then the environment's message to it."""
    parts: list[str] = []
    for k, turn in enumerate(turns):
        parts.append(turn)
        if k < len(messages):
            parts.append(messages[k])
    return "\n".join(parts)


@runtime_checkable
class HeldOut(Protocol):
    """A domain whose feedback could show what its score checks (sebench's expected outputs, a metric on the
    test labels) scores K-step inference on held-out tasks with this: the feedback comes only from what the
    model may see (visible tests, a validation split), the score only from what the feedback never showed.
    Training may reward on everything (`Domain.score_many`). The score never enters a prompt
    (`selfevolve_lab.exit.prompts` shows the response and the feedback only)."""

    def score_held_out(self, items: list[tuple[Instance, str]]) -> list[tuple[float, str]]:
        """(instance, response) -> (score on what the feedback never showed, feedback from the rest)."""
        ...


def score_held_out(domain: Domain, items: list[tuple[Instance, str]]) -> list[tuple[float, str]]:
    """K-step inference's (score, feedback) per item. A domain without `HeldOut` (math: its feedback says
    right or wrong, never the answer) scores as in training."""
    return domain.score_held_out(items) if isinstance(domain, HeldOut) else domain.score_many(items)


def score(domain: Domain, instance: Instance, response: str) -> tuple[float, str]:
    """One (score, feedback) for one response."""
    return domain.score_many([(instance, response)])[0]
