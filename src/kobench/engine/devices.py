"""Device slots: parallel trials spread over the GPUs of a machine without the user assigning devices.

Every trial, fine-tune and final evaluation on a GPU leases a slot first.

A slot is ``(device, k)`` for ``k < train.trials_per_device``. Leasing takes an exclusive ``flock`` on the slot's
file under ``<kobench cache>/slots/`` (machine-wide: GPUs are shared by every process and every project on the
machine); the OS drops the lock when the process ends, SIGKILL included, so a dead holder never keeps a slot.
A process that finds every slot busy waits, saying for what. ``train.devices: auto`` on a machine without a GPU
leases nothing: CPU runs behave as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kobench.cache import cache_root
from kobench.errors import KobenchError
from kobench.interrupts import check as check_interrupted


@dataclass(frozen=True)
class Slot:
    """One place to run: a device and a slot number on it."""

    device: str  # "cuda:0", "cpu"
    index: int

    @property
    def name(self) -> str:
        """``cuda0-1``: the lock file's name."""
        return f"{self.device.replace(':', '')}-{self.index}"


@dataclass(frozen=True)
class Lease:
    """A held slot, with when it was taken (``time.time()``)."""

    slot: Slot
    since: float


def slot_dir() -> Path:
    """``<cache>/slots`` (default ``~/.cache/kobench/slots``); ``<cache>/slots/slurm-<job id>`` in a Slurm GPU job.

    Slurm hands each job its own GPUs, numbered from 0 inside the job: two jobs' ``cuda:0`` are different GPUs
    (on one node, or on two nodes sharing a home folder), so each job leases among its own.
    """
    job = os.environ.get("SLURM_JOB_ID")
    if job and (os.environ.get("SLURM_JOB_GPUS") or os.environ.get("SLURM_STEP_GPUS")):
        return cache_root() / "slots" / f"slurm-{job}"
    return cache_root() / "slots"


def resolve_slots(devices: str | list[int | str], per_device: int) -> list[Slot]:
    """The slots of ``train.devices``, ``per_device`` on each device.

    ``auto`` is every visible GPU (none on a CPU-only machine); a list holds GPU indices and ``cpu`` entries.

    Raises:
        KobenchError: a GPU index that is not visible.
    """
    if devices == "auto":
        import torch

        listed: list[int | str] = list(range(torch.cuda.device_count()))
    else:
        listed = list(devices)
    gpus = [d for d in listed if d != "cpu"]
    if gpus:
        import torch

        visible = torch.cuda.device_count()
        missing = [d for d in gpus if not 0 <= int(d) < visible]
        if missing:
            raise KobenchError(f"train.devices: GPU {missing[0]} is not visible ({visible} visible)")
    slots, seen = [], {}
    for entry in listed:
        device = "cpu" if entry == "cpu" else f"cuda:{int(entry)}"
        # "[cpu, cpu]" is two CPU slots: repeated entries add slots to that device
        for _ in range(per_device):
            seen[device] = seen.get(device, -1) + 1
            slots.append(Slot(device, seen[device]))
    return slots


def _holder(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip() or "?"
    except OSError:
        return "?"


@contextlib.contextmanager
def lease(slots: list[Slot], what: str, *, poll: float = 0.5, directory: Path | None = None) -> Iterator[Lease | None]:
    """Hold the first free slot of ``slots`` for the block; wait (saying so once) while all are busy.

    Yields None when ``slots`` is empty (nothing to lease: an unmanaged CPU run).
    """
    if not slots:
        yield None
        return
    folder = directory or slot_dir()
    folder.mkdir(parents=True, exist_ok=True)
    said = False
    while True:
        for slot in slots:
            path = folder / f"{slot.name}.lock"
            handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole block
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            try:
                handle.seek(0)
                handle.truncate()
                handle.write(f"pid {os.getpid()} on {socket.gethostname()}: {what}\n")
                handle.flush()
                yield Lease(slot, time.time())
            finally:
                with contextlib.suppress(OSError):
                    handle.truncate(0)
                handle.close()  # closing drops the lock
            return
        if not said:
            holders = "; ".join(f"{s.device}#{s.index} {_holder(folder / f'{s.name}.lock')}" for s in slots)
            print(f"{what}: waiting for a free device slot ({len(slots)} busy: {holders})", file=sys.stderr, flush=True)
            said = True
        check_interrupted()
        time.sleep(poll)
