"""A study's own plots: the optimisation history always, parameter importances only from 5 completed trials."""

from __future__ import annotations

from pathlib import Path

import optuna

from kobench.tuning.plots import study_plots


def _study(root: Path, n_trials: int) -> str:
    url = f"sqlite:///{root}/optuna.db"
    study = optuna.create_study(study_name=f"s{n_trials}", storage=url, direction="maximize")
    study.optimize(lambda t: t.suggest_float("lr", 1e-5, 1e-3, log=True) * 1e3 + t.suggest_int("epochs", 1, 3),
                   n_trials=n_trials)
    return url


def test_importances_need_five_completed_trials(tmp_path: Path) -> None:
    url = _study(tmp_path, 2)
    _study(tmp_path, 5)
    few = study_plots("s2", url, tmp_path / "plots")
    assert [title for title, _ in few] == ["s2: optimisation history"]  # 2 trials: importances would be noise
    enough = study_plots("s5", url, tmp_path / "plots")
    assert [title for title, _ in enough] == ["s5: optimisation history", "s5: parameter importances"]
    assert (tmp_path / "plots" / "s5-importance.png").stat().st_size > 0
