"""A shared tracking server with accounts: `scripts/tracking-server` (MLflow's basic-auth app, PostgreSQL stores,
proxied artifacts) on 127.0.0.1, and what kobench does with no, wrong, read-only and editing credentials.

Skips, saying why, where PostgreSQL is not installed (CI installs it, see .ci/run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from postgres_server import free_port, throwaway_postgres
from synthetic import write_raw

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "tracking-server"
ADMIN_PASSWORD = "adm1n-Only-For-This-Test"
PASSWORDS = {"alice": "alice-Edit-7c1f93", "bob": "bob-Read-2e8a44", "carol": "carol-Edit-5d90b2"}
CREDENTIAL_VARIABLES = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")

pytestmark = pytest.mark.slow


def _script(action: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run([str(SCRIPT), action], env={**env, "PATH": path}, capture_output=True, text=True,
                          timeout=180, check=False)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The server, with experiment ``kobench``: alice and carol may EDIT it, bob may READ it."""
    pytest.importorskip("flask_wtf", reason="the basic-auth app needs Flask-WTF: pip install 'mlflow[auth]'")
    home = tmp_path_factory.mktemp("tracking-server")
    with throwaway_postgres(["mlflow", "mlflow_auth"]) as postgres:
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES},
            "MLFLOW_BACKEND_STORE_URI": f"{postgres}/mlflow",
            "MLFLOW_AUTH_DATABASE_URI": f"{postgres}/mlflow_auth",
            "MLFLOW_ARTIFACTS_DESTINATION": str(home / "artifacts"),
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-secret-key",
            "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "KOBENCH_SERVER_DIR": str(home / "state"),
            "KOBENCH_SERVER_PORT": str(port),
            "KOBENCH_SERVER_WORKERS": "2",  # each worker imports MLflow at start; two serve these tests
        }
        started = _script("start", env)
        assert started.returncode == 0, started.stderr
        url = f"http://127.0.0.1:{port}"
        try:
            assert _script("status", env).stdout.startswith("running")
            _as_user("admin", ADMIN_PASSWORD)
            from mlflow.server import get_app_client
            from mlflow.tracking import MlflowClient

            accounts = get_app_client("basic-auth", tracking_uri=url)
            experiment = MlflowClient(url).create_experiment("kobench")
            for user, permission in (("alice", "EDIT"), ("bob", "READ"), ("carol", "EDIT")):
                accounts.create_user(user, PASSWORDS[user])
                accounts.grant_user_permission(user, "experiment", experiment, permission)
            yield {"url": url, "home": home, "env": env}
        finally:
            _as_user(None, None)
            pid = (home / "state" / "server.pid").read_text().strip()
            stopped = _script("stop", env)
            assert stopped.returncode == 0 and stopped.stdout.strip() == "stopped", stopped
            processes = subprocess.run(["ps", "-eo", "pgid=,stat="], capture_output=True, text=True, check=True).stdout
            assert [line for line in processes.splitlines() if line.split()[0] == pid and line.split()[1][0] != "Z"] == []
            assert _script("status", env).returncode == 3


def _as_user(user: str | None, password: str | None) -> None:
    """This process's MLflow credentials (MLflow reads them from the environment at each request)."""
    for name in CREDENTIAL_VARIABLES:
        os.environ.pop(name, None)
    if user is not None:
        os.environ.update(MLFLOW_TRACKING_USERNAME=user, MLFLOW_TRACKING_PASSWORD=password)


def _project(root: Path, tiny: Path, model: str = "tiny") -> Path:
    """A working folder with NSMC prepared and the tiny model under ``models/<model>``: one member's clone."""
    from kobench.data.prepare import prepare_task
    from kobench.tasks import get_task

    raw = write_raw("nsmc", root / "data" / "raw" / "nsmc", n=60)
    prepare_task(get_task("nsmc"), raw, root / "data" / "prepared" / "nsmc")
    shutil.copytree(tiny, root / "models" / model)
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["tune"].update(n_trials=1, search_space={"lr": {"low": 1e-3, "high": 3e-3}, "epochs": {"low": 1, "high": 1}})
    params["train"]["batch_size"] = 16
    params["data"]["max_train_samples"] = None
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, tiny_models) -> Path:  # noqa: ANN001
    return _project(tmp_path_factory.mktemp("project"), tiny_models("bert"))


def _tune(
    server: dict, project: Path, user: str | None = None, password: str | None = None, model: str = "tiny"
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}
    env.update(MLFLOW_TRACKING_URI=server["url"], KOBENCH_CACHE=str(project / "cache"))
    if user is not None:
        env.update(MLFLOW_TRACKING_USERNAME=user, MLFLOW_TRACKING_PASSWORD=password)
    command = [sys.executable, "-m", "kobench.cli", "tune", "--task", "nsmc", "--model", f"models/{model}",
               "--max-seq-len", "32"]
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=400, check=False)


def _one_line(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, (done.returncode, done.stdout, done.stderr)
    assert "trial" not in done.stdout, done.stdout  # refused before any training
    return lines[0]


@pytest.mark.parametrize(("variable", "value", "least"), [("KOBENCH_SERVER_WORKERS", "0", 1),
                                                         ("KOBENCH_SERVER_AUTH_CACHE_SECONDS", "1.5", 0)])
def test_a_bad_server_setting_is_one_line_and_creates_nothing(tmp_path: Path, variable: str, value: str,
                                                              least: int) -> None:
    env = {**os.environ, variable: value, "KOBENCH_SERVER_DIR": str(tmp_path / "state"),
           **dict.fromkeys(("MLFLOW_BACKEND_STORE_URI", "MLFLOW_AUTH_DATABASE_URI", "MLFLOW_ARTIFACTS_DESTINATION",
                            "MLFLOW_FLASK_SERVER_SECRET_KEY"), "set")}  # fmt: skip
    done = _script("start", env)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"error: {variable}='{value}' must be a whole number >= {least}\n"
    assert not (tmp_path / "state").exists()


def test_no_credentials_is_one_line_before_training(server: dict, project: Path) -> None:
    line = _one_line(_tune(server, project))
    assert "401" in line and "MLFLOW_TRACKING_USERNAME" in line and server["url"] in line, line


def test_a_wrong_password_is_one_line_without_the_password(server: dict, project: Path) -> None:
    line = _one_line(_tune(server, project, "alice", "not-her-password"))
    assert "401" in line and "'alice'" in line and "not-her-password" not in line, line


def test_editors_run_and_register_a_reader_can_neither_log_nor_move_champion(
    server: dict, project: Path, tmp_path: Path, tiny_models  # noqa: ANN001
) -> None:
    """Two EDIT accounts each run a study (from their own clones) into the one experiment; READ is refused."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    done = _tune(server, project, "alice", PASSWORDS["alice"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "kobench-nsmc-tiny v1 @champion" in done.stdout, done.stdout
    carols = _project(tmp_path / "carol", tiny_models("bert"), model="tiny-b")
    done = _tune(server, carols, "carol", PASSWORDS["carol"], model="tiny-b")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "kobench-nsmc-tiny-b v1 @champion" in done.stdout, done.stdout

    refused = _one_line(_tune(server, project, "bob", PASSWORDS["bob"]))
    assert "403" in refused and "'bob'" in refused, refused
    _as_user("bob", PASSWORDS["bob"])
    client = MlflowClient(server["url"])
    champion = client.get_model_version_by_alias("kobench-nsmc-tiny", "champion")  # reading is allowed
    with pytest.raises(MlflowException) as moved:
        client.set_registered_model_alias("kobench-nsmc-tiny", "champion", champion.version)
    assert moved.value.get_http_status_code() == 403

    # both studies' parent runs in the one experiment, each with its account recorded on every run
    _as_user("admin", ADMIN_PASSWORD)
    experiment = client.get_experiment_by_name("kobench").experiment_id
    runs = client.search_runs([experiment], max_results=1000)
    parents = {r.data.tags["kobench.study"]: r for r in runs if r.data.tags.get("kobench.kind") == "study"}
    assert sorted(parents) == ["nsmc-tiny", "nsmc-tiny-b"]
    users = {"nsmc-tiny": "alice", "nsmc-tiny-b": "carol"}
    for study, parent in parents.items():
        assert (parent.data.tags["mlflow.user"], parent.info.user_id) == (users[study], users[study])
    for run in runs:
        assert run.data.tags["mlflow.user"] == users[run.data.tags["kobench.study"]], run.info.run_name
    assert len([r for r in runs if r.data.tags.get("kobench.kind") == "trial"]) == 2

    # no password is anywhere: not in either clone's files, nor in any run's params, tags or metric names, nor in
    # the server's artifacts, state and log
    for password in PASSWORDS.values():
        for path in [*project.rglob("*"), *carols.rglob("*"), *server["home"].rglob("*")]:
            if path.is_file():
                assert password.encode() not in path.read_bytes(), path
        for run in runs:
            assert password not in repr((run.data.params, run.data.tags, run.data.metrics)), run.info.run_name
