"""Task families by name: the only place that maps a TaskSpec.family to its implementation."""

from __future__ import annotations

import importlib

from kobench.families.base import TaskFamily

_MODULES = {
    "classification": "sequence",
    "regression": "regression",
    "token_classification": "token",
    "span_qa": "span_qa",
}


def get_family(name: str) -> TaskFamily:
    """The family implementation for a TaskSpec.family value."""
    return importlib.import_module(f"kobench.families.{_MODULES[name]}").FAMILY
