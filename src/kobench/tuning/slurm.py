"""``kobench slurm``: one study as a Slurm job array, each array task one worker of the shared study."""

from __future__ import annotations

import dataclasses
import shlex
import shutil
import subprocess
from pathlib import Path

from kobench.errors import KobenchError
from kobench.tuning.cluster import FINALISER, tune_commands


@dataclasses.dataclass(frozen=True)
class SlurmJob:
    """What ``sbatch`` is asked for; None leaves a setting to the cluster's defaults."""

    name: str  # the job's name, e.g. kobench-nsmc-tiny
    workers: int  # array tasks 0..workers-1
    project: Path  # absolute: every task starts there
    logs: Path  # absolute folder of the per-task logs
    gres: str | None = None  # e.g. gpu:1
    time: str | None = None  # e.g. 12:00:00
    partition: str | None = None
    nodelist: str | None = None
    cpus_per_task: int | None = None
    mem: str | None = None


def sbatch_script(job: SlurmJob, program: list[str], tune_args: list[str]) -> str:
    """The batch script: ``#SBATCH`` settings, then task 0's or a worker's ``kobench tune``.

    The tasks inherit the submitting shell's environment (``--export=ALL``): the stores' URLs and credentials
    (``KOBENCH_OPTUNA_STORAGE``, ``MLFLOW_TRACKING_URI``, ``MLFLOW_TRACKING_USERNAME``/``PASSWORD``) travel there,
    never in this file. ``exec`` makes kobench the task's main process, so ``scancel`` (SIGTERM) reaches it.
    """
    finaliser, worker = (shlex.join(c) for c in tune_commands(program, tune_args))
    settings = {
        "job-name": job.name,
        "array": f"0-{job.workers - 1}",
        "output": str(job.logs / f"{job.name}-%A_%a.log"),  # %A the array's job id, %a the task id
        "export": "ALL",
        "gres": job.gres,
        "time": job.time,
        "partition": job.partition,
        "nodelist": job.nodelist,
        "cpus-per-task": job.cpus_per_task,
        "mem": job.mem,
    }
    lines = [
        "#!/bin/bash",
        f"# written by `kobench slurm`: study {job.name.removeprefix('kobench-')}, {job.workers} array task(s);",
        f"# task {FINALISER} runs trials, then tests and registers the best trial once; the others run trials only",
        *(f"#SBATCH --{key}={value}" for key, value in settings.items() if value is not None),
        "set -u",
        f"cd {shlex.quote(str(job.project))} || exit 2",
        f'if [ "${{SLURM_ARRAY_TASK_ID:-{FINALISER}}}" = {FINALISER} ]; then',
        f"  exec {finaliser}",
        "fi",
        f"exec {worker}",
    ]
    return "\n".join(lines) + "\n"


def submit(script: Path) -> str:
    """``sbatch`` the script; return the job id.

    Raises:
        KobenchError: no ``sbatch`` on PATH, or sbatch refused the job (its message, one line).
    """
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise KobenchError(f"sbatch not found on PATH: run this on a Slurm login node, or submit {script} there")
    done = subprocess.run([sbatch, "--parsable", str(script)], capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        reason = " ".join((done.stderr or done.stdout).split()) or f"exit {done.returncode}"
        raise KobenchError(f"sbatch {script}: {reason}")
    return done.stdout.strip().split(";")[0]
