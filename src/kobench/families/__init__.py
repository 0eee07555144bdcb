"""Task families by name: ``TaskSpec.family`` names the module ``kobench.families.<family>`` and its ``FAMILY``.

Adding a family is one module here (a ``TaskFamily`` subclass as ``FAMILY``) plus its tests.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from kobench.errors import ConfigError
from kobench.families.base import TaskFamily

_HELPERS = {"base", "qa_spans", "qa_windows"}  # modules of this package that are not families


@functools.cache
def family_names() -> list[str]:
    """Every family module of this package."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in _HELPERS)


def get_family(name: str) -> TaskFamily:
    """The family implementation for a ``TaskSpec.family`` value."""
    if name not in family_names():
        raise ConfigError(f"unknown task family '{name}'; allowed: {', '.join(family_names())}")
    return importlib.import_module(f"kobench.families.{name}").FAMILY
