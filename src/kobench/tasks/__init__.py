"""Task registry: an explicit tuple of the eight task declarations."""

from __future__ import annotations

import difflib

from kobench.errors import ConfigError
from kobench.tasks import hate_speech, kornli, korquad, korsts, naver_ner, nsmc, paws, question_pair
from kobench.tasks.spec import TaskSpec

ALL_TASKS: tuple[TaskSpec, ...] = tuple(
    m.TASK for m in (nsmc, naver_ner, paws, kornli, korsts, question_pair, korquad, hate_speech)
)
TASKS: dict[str, TaskSpec] = {t.name: t for t in ALL_TASKS}
if len(TASKS) != len(ALL_TASKS):
    raise RuntimeError("duplicate task name in kobench.tasks")


def get_task(name: str) -> TaskSpec:
    """Return the task called ``name``.

    Raises:
        ConfigError: unknown name, with close matches and the allowed values.

    >>> get_task("korsts").main_metric
    'spearman'
    """
    try:
        return TASKS[name]
    except KeyError:
        close = difflib.get_close_matches(name, TASKS, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(f"unknown task '{name}'{hint}; allowed: {', '.join(TASKS)}") from None
