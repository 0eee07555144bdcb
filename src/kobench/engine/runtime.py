"""Device and precision for a run: bf16 autocast and TF32 on CUDA when supported, fp32 on CPU."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

import torch

from kobench.choices import PRECISIONS
from kobench.errors import KobenchError


@dataclass(frozen=True)
class Runtime:
    """Where and how tensors are computed."""

    device: torch.device
    precision: str  # "fp32" or "bf16"

    @classmethod
    def create(cls, device: str = "auto", precision: str = "auto") -> Runtime:
        """Resolve ``auto`` choices; asking for CUDA or bf16 where unavailable is an error, not a fallback.

        Raises:
            KobenchError: an unknown precision or device (``fp16`` would otherwise train in fp32 and be recorded
                as fp16), or one this machine lacks.
        """
        if precision not in PRECISIONS:
            raise KobenchError(f"train.precision {precision!r}: not allowed; allowed: {', '.join(PRECISIONS)}")
        if not re.fullmatch(r"auto|cpu|cuda(:[0-9]+)?", device):
            raise KobenchError(f"train.device {device!r}: not allowed; allowed: auto, cpu, cuda, cuda:N")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        cuda = device.startswith("cuda")  # "cuda" or a leased "cuda:N"
        if cuda and not torch.cuda.is_available():
            raise KobenchError(f"train.device is {device} but no CUDA device is available")
        if precision == "auto":
            precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
        if precision == "bf16" and not cuda:
            raise KobenchError("train.precision bf16 needs a CUDA device; use fp32 or auto on CPU")
        if cuda:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        return cls(torch.device(device), precision)

    @property
    def pad_multiple(self) -> int | None:
        """Tensor cores like sequence lengths that are multiples of 8; CPU gains nothing from extra padding."""
        return 8 if self.device.type == "cuda" else None

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast on CUDA, a no-op otherwise."""
        if self.precision == "bf16":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def synchronize(self) -> None:
        """Wait for queued GPU work (only for timing)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize()
