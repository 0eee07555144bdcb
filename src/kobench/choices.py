"""The enumerated values of a run's settings, in a leaf that needs no pydantic (the GPU machine has none).

``config`` types params.yaml and the command-line options with them; ``engine.runtime`` checks with them.
"""

from __future__ import annotations

from typing import Literal, get_args

Precision = Literal["auto", "fp32", "bf16"]
Selection = Literal["validation", "test"]
Padding = Literal["dynamic", "max_length"]
Device = Literal["auto", "cpu", "cuda"]
Split = Literal["train", "validation", "test"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
