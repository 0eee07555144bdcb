"""MLflow models-from-code entry point of a kobench champion (see ``kobench.tuning.champion``)."""

import mlflow

from kobench.tuning.champion import ChampionModel

mlflow.models.set_model(ChampionModel())
