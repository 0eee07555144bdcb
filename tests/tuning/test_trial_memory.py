"""Between trials: a finished trial's reference cycles are freed, and what outlives the trials is not rescanned."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import optuna

from kobench.tuning.study import optimize


class _Cycle:
    """Garbage only the cyclic collector frees (as a model's autograd graph or a traceback's frames can be)."""

    def __init__(self) -> None:
        self.me = self


def test_a_trials_cycles_are_freed_before_the_next_while_long_lived_objects_stay_frozen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    made: list[weakref.ref] = []
    seen: list[tuple[list[bool], int]] = []

    def objective(trial: optuna.Trial) -> float:
        seen.append(([ref() is None for ref in made], gc.get_freeze_count()))
        cycle = _Cycle()
        made.append(weakref.ref(cycle))
        return trial.suggest_float("x", 0, 1)

    before = gc.get_freeze_count()
    optimize(study, objective, 3, url)
    # every earlier trial's cycle is gone when the next trial starts: survivors are frozen only after the collection
    assert [freed for freed, _ in seen] == [[], [True], [True, True]]
    frozen = [count for _, count in seen]
    assert frozen[0] == before and all(count > before for count in frozen[1:])  # frozen after the first trial
    assert frozen == sorted(frozen)  # each trial's survivors joined
    assert gc.get_freeze_count() == before  # and the collector sees everything again afterwards
