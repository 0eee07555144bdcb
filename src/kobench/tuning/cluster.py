"""One study as N tasks of a cluster's scheduler (Slurm, Kubernetes): what each runs, and which stores may be shared.

Task 0 runs ``kobench tune ... --workers 1``: trials in its own process, then, once no trial of another task is
running, it tests and registers the best trial once (the final step of a plain ``kobench tune``). Every other
task runs ``kobench tune ... --worker``: trials only, until the study's budget is claimed. All of them open the
same study and its one MLflow parent run (whichever task starts first creates them); the budget is claimed
under the store's lock, so N tasks train exactly ``--n-trials`` trials.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from kobench.errors import KobenchError
from kobench.storelock import sqlite_path

FINALISER = 0  # the task index that runs the final step
# file systems whose locks SQLite cannot rely on: a SQLite store there is unsafe for several processes
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "ceph", "glusterfs", "fuse.glusterfs",
    "fuse.sshfs", "fuse.s3fs", "9p", "afs", "orangefs", "fuse.juicefs", "fuse.cephfs",
})  # fmt: skip


def tune_commands(program: list[str], tune_args: list[str]) -> tuple[list[str], list[str]]:
    """The command of task 0 (trials, then the final step) and of every other task (trials only).

    >>> tune_commands(["kobench"], ["tune", "--task", "nsmc", "--model", "tiny"])[1]
    ['kobench', 'tune', '--task', 'nsmc', '--model', 'tiny', '--worker']
    """
    return [*program, *tune_args, "--workers", "1"], [*program, *tune_args, "--worker"]


def check_tune_args(tune_args: list[str]) -> None:
    """Refuse what a cluster task must not be given: the worker options, and a URL with a password in it.

    The script or manifest is a file that others read and the scheduler stores: a password goes through the
    job's environment (``KOBENCH_OPTUNA_STORAGE``, ``MLFLOW_TRACKING_PASSWORD``) or a Secret instead.
    """
    for arg in tune_args:
        name = arg.split("=", 1)[0]
        if name in ("--workers", "--worker"):
            raise KobenchError(f"{name}: set by the cluster command itself (task 0 finalises, the others are workers)")
        if "://" in arg and urlsplit(arg.split("=", 1)[-1]).password:
            raise KobenchError(
                f"{urlsplit(arg.split('=', 1)[-1]).scheme} URL with a password: it would be written into the job; "
                "put the URL in KOBENCH_OPTUNA_STORAGE in the job's environment (a Secret on Kubernetes)"
            )


def check_shared_stores(stores: dict[str, str], workers: int, *, one_node: bool) -> None:
    """Refuse a SQLite store that N tasks cannot share safely.

    SQLite is safe for many processes on one machine, on a local disk (what ``kobench tune --workers`` does);
    it is not across machines (each node would write the one file through a network file system, whose locks
    SQLite cannot rely on, or would open a file of its own and split the study). So with N > 1 a SQLite store is
    accepted only when every task is pinned to one node and the file is not on a network file system.
    PostgreSQL, MySQL or an MLflow server (``http://``) are shared by any number of nodes.

    Raises:
        KobenchError: one line naming the store and what to use instead.
    """
    if workers < 2:
        return
    for what, url in stores.items():
        path = sqlite_path(url)
        if path is None:
            continue
        if not one_node:
            raise KobenchError(
                f"{what} {url}: a SQLite file cannot be shared by {workers} tasks on several nodes; use a server "
                "(PostgreSQL for Optuna: --storage or KOBENCH_OPTUNA_STORAGE; an MLflow server: MLFLOW_TRACKING_URI) "
                "or pin every task to one node (--nodelist HOST)"
            )
        kind = filesystem_type(path)
        if kind in NETWORK_FILESYSTEMS:
            raise KobenchError(
                f"{what} {url}: {path.resolve()} is on a network file system ({kind}), where SQLite's locks are not "
                "safe for several processes; put it on a local disk or use a server (PostgreSQL, an MLflow server)"
            )


def filesystem_type(path: Path, mounts: Path = Path("/proc/self/mounts")) -> str | None:
    """The type of the file system holding ``path`` (its nearest existing folder), from ``mounts``; None if unknown."""
    target = path.resolve()
    while not target.exists() and target != target.parent:
        target = target.parent
    try:
        lines = mounts.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    best, kind = -1, None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        if (target == Path(point) or Path(point) in target.parents) and len(point) > best:
            best, kind = len(point), fields[2]
    return kind
