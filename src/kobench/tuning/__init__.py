"""Stage 4, tune: Optuna studies over the engine, every run in MLflow, the best checkpoint registered."""
