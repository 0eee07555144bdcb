"""`kobench slurm` and `kobench k8s-job` as written files: the Slurm array script, the stores it accepts, and the
Kubernetes Indexed Job validated offline against the Kubernetes schema (kubernetes-validate's bundled schemas).

The real Slurm run (a cluster on this machine) is tests/tuning/test_slurm.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kobench.errors import KobenchError
from kobench.tuning.cluster import check_shared_stores, check_tune_args, filesystem_type

ROOT = Path(__file__).resolve().parents[1]
MODEL = "koelectra-small-v3"  # a catalogue row: resolved offline, nothing downloaded
K8S_VERSION = "1.30.0"  # podFailurePolicy is GA from 1.31, beta (on by default) from 1.26: an older supported release


def _kobench(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kobench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False, env=env)  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


def test_the_slurm_script_runs_one_finaliser_and_workers(project: Path) -> None:
    env = {**os.environ, "KOBENCH_OPTUNA_STORAGE": "postgresql+psycopg2://alice@db/optuna",
           "MLFLOW_TRACKING_URI": "http://tracking:5000"}  # fmt: skip
    done = _kobench("slurm", "--task", "nsmc", "--model", MODEL, "--workers", "4", "--gres", "gpu:1",
                    "--time", "12:00:00", "--partition", "gpu", "--n-trials", "20", "--max-seq-len", "64",
                    cwd=project, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    script = (project / "slurm" / "nsmc-koelectra-small-v3.sbatch").read_text(encoding="utf-8")
    logs = project.resolve() / "slurm" / "logs"
    assert logs.is_dir()  # sbatch would not create it
    for line in ("#SBATCH --array=0-3", f"#SBATCH --output={logs}/kobench-nsmc-koelectra-small-v3-%A_%a.log",
                 "#SBATCH --gres=gpu:1", "#SBATCH --time=12:00:00", "#SBATCH --partition=gpu", "#SBATCH --export=ALL",
                 f"cd {project.resolve()} || exit 2"):  # fmt: skip
        assert line in script.splitlines(), script
    tune = f"{sys.executable} -m kobench.cli tune --task nsmc --model koelectra-small-v3 --n-trials 20 --max-seq-len 64"
    assert f"  exec {tune} --workers 1" in script  # task 0: trials, then the final step
    assert script.rstrip().endswith(f"exec {tune} --worker")  # the others: trials only
    assert "postgresql" not in script and "tracking:5000" not in script  # the stores travel in the environment
    checked = subprocess.run(["bash", "-n", str(project / "slurm" / "nsmc-koelectra-small-v3.sbatch")], check=False)
    assert checked.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "2"], "a SQLite file cannot be shared by 2 tasks on several nodes"),
        (["--workers", "2", "--storage", "postgresql://u:secret@db/optuna"], "URL with a password"),
        (["--workers", "2", "--worker"], "--worker: set by the cluster command itself"),
        (["--workers", "2", "--n-trails", "3"], "No such option: --n-trails"),
        (["--workers", "0"], "--workers"),
    ],
)
def test_slurm_refuses_in_one_line_and_writes_nothing(project: Path, args: list[str], message: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KOBENCH_OPTUNA_STORAGE", "MLFLOW_TRACKING_URI")}
    done = _kobench("slurm", "--task", "nsmc", "--model", MODEL, *args, cwd=project, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr, done.stderr
    assert not (project / "slurm").exists()


def test_submit_without_sbatch_is_one_line(project: Path) -> None:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # no sbatch there
    done = _kobench("slurm", "--task", "nsmc", "--model", MODEL, "--workers", "1", "--submit", cwd=project, env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: sbatch not found on PATH: run this on a Slurm login node, or submit "
        "slurm/nsmc-koelectra-small-v3.sbatch there"
    ]


def test_sqlite_stores_on_one_node_only_and_never_on_a_network_file_system(tmp_path: Path) -> None:
    local = {"Optuna storage": f"sqlite:///{tmp_path}/optuna.db", "MLflow store": "http://tracking:5000"}
    check_shared_stores(local, 1, one_node=False)  # one task: nothing is shared
    check_shared_stores(local, 8, one_node=True)
    with pytest.raises(KobenchError, match="several nodes"):
        check_shared_stores(local, 2, one_node=False)
    check_shared_stores({"Optuna storage": "postgresql+psycopg2://u@db/optuna"}, 64, one_node=False)
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/sda1 / ext4 rw 0 0\nserver:/home {tmp_path} nfs4 rw 0 0\n", encoding="utf-8")
    assert filesystem_type(tmp_path / "a" / "optuna.db", mounts) == "nfs4"
    assert filesystem_type(Path("/usr/lib"), mounts) == "ext4"


def test_a_password_never_goes_into_a_job_file() -> None:
    check_tune_args(["--storage", "postgresql+psycopg2://alice@db/optuna", "--n-trials", "3"])
    with pytest.raises(KobenchError, match="KOBENCH_OPTUNA_STORAGE"):
        check_tune_args(["--storage=postgresql+psycopg2://alice:pw@db/optuna"])


def test_the_indexed_job_validates_against_the_kubernetes_schema(project: Path) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install -e '.[dev]' (kubernetes-validate)")
    out = project / "job.yaml"
    done = _kobench("k8s-job", "--task", "nsmc", "--model", MODEL, "--workers", "3", "--image",
                    "registry.example/kobench:1", "--claim", "kobench-project", "--n-trials", "30", "--out", str(out),
                    cwd=project)  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifest = yaml.safe_load(out.read_text(encoding="utf-8"))
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)  # raises on any schema error, offline
    spec = manifest["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 3, 3)
    container = spec["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 1}
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert env["KOBENCH_OPTUNA_STORAGE"] == {"name": "kobench-stores", "key": "optuna-storage"}
    assert env["MLFLOW_TRACKING_PASSWORD"] == {"name": "kobench-stores", "key": "mlflow-password", "optional": True}
    script = container["command"][2]
    assert '"$JOB_COMPLETION_INDEX" = 0' in script
    tune = "kobench tune --task nsmc --model koelectra-small-v3 --n-trials 30"
    assert f"then exec {tune} --workers 1; else exec {tune} --worker; fi" in script
    volume = {"name": "project", "persistentVolumeClaim": {"claimName": "kobench-project"}}
    assert spec["template"]["spec"]["volumes"] == [volume]

    printed = _kobench("k8s-job", "--task", "nsmc", "--model", MODEL, "--workers", "2", "--image", "img",
                       "--gpus", "0", cwd=project)  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    assert "&id" not in printed.stdout  # plain YAML, no anchors
    kubernetes_validate.validate(yaml.safe_load(printed.stdout), K8S_VERSION, strict=True)
    broken = yaml.safe_load(printed.stdout)
    broken["spec"]["completionMode"] = 3  # the validator does catch a wrong manifest
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_k8s_job_refuses_a_bad_name_in_one_line(project: Path) -> None:
    done = _kobench("k8s-job", "--task", "nsmc", "--model", MODEL, "--workers", "2", "--image", "img",
                    "--name", "Kobench_Study", cwd=project)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --name 'Kobench_Study': not a Kubernetes name (lowercase letters, digits and '-', at most 63)"
    ]


@pytest.mark.parametrize("command", ["slurm", "k8s-job"])
def test_cluster_help_does_not_import_torch(command: str) -> None:
    code = (
        f"import sys; sys.argv=['kobench', {command!r}, '--help']\nfrom kobench.cli import main\ntry: main()\n"
        "except SystemExit: pass\nprint('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False).stdout
    assert "--workers" in out and out.strip().endswith("False"), out


def test_a_slurm_gpu_job_leases_among_its_own_gpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from kobench.engine.devices import slot_dir

    monkeypatch.setenv("KOBENCH_CACHE", str(tmp_path))
    monkeypatch.setenv("SLURM_JOB_ID", "4243")
    monkeypatch.delenv("SLURM_JOB_GPUS", raising=False)
    monkeypatch.delenv("SLURM_STEP_GPUS", raising=False)
    assert slot_dir() == tmp_path / "slots"  # a CPU job: the machine's slots, as outside Slurm
    monkeypatch.setenv("SLURM_JOB_GPUS", "3")  # Slurm gave this job GPU 3, which it sees as cuda:0
    assert slot_dir() == tmp_path / "slots" / "slurm-4243"
