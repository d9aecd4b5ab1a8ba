"""The prompts of a step: a first attempt, improve the last attempt, or diverge from it.

Wording adapted from the paper's (arXiv 2509.04575, appendix): the model sees the request and its latest
attempt with that attempt's feedback. The diverge prompt asks first for the current approach and the new
one, then for the complete answer.
"""

from __future__ import annotations

from typing import Literal

from selfevolve_lab.exit.domain import Instance

StepKind = Literal["first", "improve", "diverge"]

IMPROVE = (
    "{request}\n\n"
    "Here is your previous attempt:\n\n{response}\n\n"
    "Feedback on it: {feedback}\n\n"
    "Improve your previous attempt. Fix what is wrong and keep what works. Reply with the complete improved "
    "answer, in the format the task asks for."
)
DIVERGE = (
    "{request}\n\n"
    "Here is your previous attempt:\n\n{response}\n\n"
    "Feedback on it: {feedback}\n\n"
    "Take a significantly different approach from the previous attempt. First state in one sentence the "
    "approach of the previous attempt, then in one sentence the new approach, then give the complete answer "
    "with the new approach, in the format the task asks for."
)


def text(instance: Instance, kind: StepKind) -> str:
    last = instance.last
    if kind == "first" or last is None:
        return instance.task.prompt
    template = DIVERGE if kind == "diverge" else IMPROVE
    return template.format(request=instance.task.prompt, response=last.response.strip() or "(empty)",
                           feedback=last.feedback.strip() or "(none)")


def messages(instance: Instance, kind: StepKind) -> list[dict[str, str]]:
    return [{"role": "user", "content": text(instance, kind)}]
