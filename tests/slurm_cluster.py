"""A throwaway single-node Slurm cluster (munged, slurmctld, slurmd as root) in a temporary directory.

Debian's ``slurm-wlm`` and ``munge`` (``.ci/run`` installs them). The cluster has one node, this host, with
its CPUs and no GPU; cgroups are off (``proctrack/linuxproc``, ``task/none``) and nothing is accounted, so it
needs no system service. Tests that use it skip, saying why, where it cannot be installed or started.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from postgres_server import free_port

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo")


def _binary(name: str) -> str:
    found = shutil.which(name) or next((p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)), None)
    if found is None:
        pytest.skip(f"Slurm not installed: no {name} (apt-get install slurm-wlm munge)")
    return found


def _config(home: Path, node: str, cpus: int) -> str:
    return f"""ClusterName=kobenchtest
SlurmctldHost={node}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={home}/munge/socket
StateSaveLocation={home}/state
SlurmdSpoolDir={home}/spool
SlurmctldPidFile={home}/slurmctld.pid
SlurmdPidFile={home}/slurmd.pid
SlurmctldLogFile={home}/slurmctld.log
SlurmdLogFile={home}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
KillWait=30
MinJobAge=600
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own zombie
            return False
    return True


@contextlib.contextmanager
def throwaway_slurm() -> Iterator[dict[str, str]]:
    """A running one-node cluster; yields the environment its clients need (``SLURM_CONF``) and ``node``.

    On the way out: every job cancelled and waited for, then the daemons stopped and their folder removed.
    """
    if os.geteuid() != 0:
        pytest.skip("Slurm not startable: slurmd must run as root to start jobs, and this test runs as a user")
    paths = {name: _binary(name) for name in (*DAEMONS, *CLIENTS)}
    node = socket.gethostname().split(".")[0]
    home = Path(tempfile.mkdtemp(prefix="kobench-slurm-"))
    (home / "munge").mkdir(mode=0o700)
    for folder in ("state", "spool"):
        (home / folder).mkdir()
    key = home / "munge" / "key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    (home / "slurm.conf").write_text(_config(home, node, os.cpu_count() or 1), encoding="utf-8")
    env = {**os.environ, "SLURM_CONF": str(home / "slurm.conf")}
    pids = {"munged": home / "munge" / "pid", "slurmctld": home / "slurmctld.pid", "slurmd": home / "slurmd.pid"}

    def run(*command: str, timeout: int = 60) -> subprocess.CompletedProcess:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)

    def logs() -> str:
        return "\n".join(f"--- {f.name}:\n{f.read_text(errors='replace')[-3000:]}"
                         for f in sorted(home.glob("*.log")) if f.is_file())  # fmt: skip

    try:
        started = run(paths["munged"], "--force", f"--socket={home}/munge/socket", f"--key-file={key}",
                      f"--log-file={home}/munge/log", f"--pid-file={pids['munged']}",
                      f"--seed-file={home}/munge/seed")  # fmt: skip
        if started.returncode != 0:
            pytest.skip(f"Slurm not startable: munged failed: {started.stderr.strip()[:300]}")
        for daemon, args in (("slurmctld", ["-c"]), ("slurmd", ["-N", node])):
            started = run(paths[daemon], *args)
            if started.returncode != 0:
                pytest.skip(f"Slurm not startable: {daemon} failed: {started.stderr.strip()[:300]}\n{logs()}")
        deadline = time.monotonic() + 60
        while True:
            state = run(paths["sinfo"], "-h", "-N", "-o", "%T").stdout.strip()
            if state in ("idle", "mixed", "allocated"):
                break
            if time.monotonic() > deadline:
                pytest.skip(f"Slurm not startable: node {node} is {state or 'unknown'} after 60 s\n{logs()}")
            time.sleep(0.5)
        yield {"SLURM_CONF": env["SLURM_CONF"], "node": node}
    finally:
        run(paths["scancel"], "--full", "--user", "root")
        deadline = time.monotonic() + 60
        while run(paths["squeue"], "-h").stdout.strip() and time.monotonic() < deadline:
            time.sleep(0.5)
        run(paths["scontrol"], "shutdown")
        munged = _pid(pids["munged"])
        deadline = time.monotonic() + 30
        while any(_alive(_pid(p)) for name, p in pids.items() if name != "munged") and time.monotonic() < deadline:
            time.sleep(0.2)
        if munged is not None and _alive(munged):
            os.kill(munged, signal.SIGTERM)
        for path in pids.values():  # what did not stop in time
            pid = _pid(path)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(home, ignore_errors=True)


def wait_for_job(job: str, env: dict[str, str], timeout: float) -> dict[str, str]:
    """Wait until every task of ``job`` has left the queue; return each task's ``JobState ExitCode`` by task id."""
    deadline = time.monotonic() + timeout
    while subprocess.run(["squeue", "-h", "-j", job], env=env, capture_output=True, text=True, check=False).stdout.strip():
        if time.monotonic() > deadline:
            raise AssertionError(f"Slurm job {job} still queued or running after {timeout:.0f} s")
        time.sleep(1)
    shown = subprocess.run(["scontrol", "-o", "show", "job", job], env=env, capture_output=True, text=True, check=False)
    tasks = {}
    for line in shown.stdout.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        tasks[fields.get("ArrayTaskId", "0")] = f"{fields.get('JobState')} {fields.get('ExitCode')}"
    return tasks
