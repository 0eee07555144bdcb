"""A study's own plots (Optuna's matplotlib backend): optimisation history and parameter importances."""

from __future__ import annotations

import logging
from pathlib import Path

import optuna

from kobench.atomic import save_png
from kobench.storelock import check_store
from kobench.tuning.storages import open_storage

log = logging.getLogger(__name__)
MIN_TRIALS_FOR_IMPORTANCE = 5


def study_plots(study: str, storage_url: str, out_dir: Path) -> list[tuple[str, str]]:
    """Optimisation history and parameter importances of ``study`` as PNG files (matplotlib backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    check_store(storage_url, "Optuna storage")
    loaded = optuna.load_study(study_name=study, storage=open_storage(storage_url, 60))
    plots = []
    drawers = [("history", optuna_plots.plot_optimization_history)]
    # importances from a handful of trials are noise (two trials always give lr about 0.97): not drawn
    if len(loaded.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))) >= MIN_TRIALS_FOR_IMPORTANCE:
        drawers.append(("importance", optuna_plots.plot_param_importances))
    for kind, draw in drawers:
        try:
            axes = draw(loaded)
        except (ValueError, RuntimeError) as exc:  # e.g. importances of identical trials
            log.warning("%s %s plot skipped: %s", study, kind, exc)
            continue
        name = f"{study}-{kind}.png"
        save_png(axes.figure, out_dir / name)
        plt.close("all")
        plots.append(
            (f"{study}: {'optimisation history' if kind == 'history' else 'parameter importances'}", f"plots/{name}")
        )
    return plots
