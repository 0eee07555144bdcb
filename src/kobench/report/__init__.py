"""Stage 5, report: study results and MLflow champions into tables shaped like the published ones, with plots."""
