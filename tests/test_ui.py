"""`kobench ui`: the MLflow UI and the Optuna dashboard on 127.0.0.1 over the project's stores; Ctrl-C stops both."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        return urllib.request.urlopen(url, timeout=2).status == 200
    except OSError:
        return False


def test_ui_serves_both_and_ctrl_c_stops_both(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    if shutil.which("optuna-dashboard", path=str(bin_dir)) is None:
        pytest.skip("optuna-dashboard is not installed (pip install -e '.[dev]')")
    mlflow_port, optuna_port = _free_port(), _free_port()
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "kobench.cli", "ui", "--mlflow-port", str(mlflow_port), "--optuna-port", str(optuna_port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    urls = [f"http://127.0.0.1:{mlflow_port}/health", f"http://127.0.0.1:{optuna_port}/dashboard"]
    try:
        deadline = time.monotonic() + 90
        while not all(_answers(url) for url in urls):
            assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
            time.sleep(0.1)
        assert (tmp_path / "mlflow.db").exists() and (tmp_path / "optuna.db").exists()  # the project's own stores
        process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, out
    assert f"MLflow UI: http://127.0.0.1:{mlflow_port}" in out and f"Optuna dashboard: http://127.0.0.1:{optuna_port}" in out
    assert not any(_answers(url) for url in urls)  # nothing left listening
    assert out.splitlines()[-3:] == [f"MLflow UI: http://127.0.0.1:{mlflow_port}",  # the servers' own lines: in a log
                                     f"Optuna dashboard: http://127.0.0.1:{optuna_port}", "Ctrl-C stops both"], out


@pytest.mark.parametrize("option", ["--mlflow-port", "--optuna-port"])
def test_a_taken_port_is_one_line_before_anything_starts(tmp_path: Path, option: str) -> None:
    bin_dir = Path(sys.executable).parent
    if option == "--optuna-port" and shutil.which("optuna-dashboard", path=str(bin_dir)) is None:
        pytest.skip("optuna-dashboard is not installed (pip install -e '.[dev]')")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    with socket.socket() as other:  # another program listening on the port
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        ports = {"--mlflow-port": str(_free_port()), "--optuna-port": str(_free_port()), option: str(taken)}
        result = subprocess.run([sys.executable, "-m", "kobench.cli", "ui", *(x for kv in ports.items() for x in kv)],
                                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {option} {taken}: 127.0.0.1:{taken} is in use by another program; pick another port"
    ]
    assert result.stdout == "" and list(tmp_path.iterdir()) == []  # no URL printed, no store created, nothing started


def test_one_port_for_both_servers_is_refused() -> None:
    from kobench.errors import KobenchError
    from kobench.tools.ui import check_ports

    port = _free_port()
    with pytest.raises(KobenchError, match=rf"--optuna-port {port}: also given to --mlflow-port"):
        check_ports("127.0.0.1", {"--mlflow-port": port, "--optuna-port": port})
    with pytest.raises(KobenchError, match=r"--mlflow-port 70000: not a port; allowed: 1-65535"):
        check_ports("127.0.0.1", {"--mlflow-port": 70000})


def test_the_mlflow_ui_is_one_server_process(tmp_path: Path) -> None:
    from kobench.tools.ui import services

    found = services(f"sqlite:///{tmp_path}/mlflow.db", f"sqlite:///{tmp_path}/optuna.db", "127.0.0.1",
                     _free_port(), _free_port())  # fmt: skip
    command = found[0].command
    assert found[0].name == "MLflow UI" and command[command.index("--workers") + 1] == "1"


def test_the_ui_command_imports_neither_torch_nor_mlflow(tmp_path: Path) -> None:
    # it only creates Optuna's tables and starts the servers: the training stack would cost seconds before either
    code = ("import sys; from kobench.tools.ui import services; "
            f"services('sqlite:///{tmp_path}/mlflow.db', 'sqlite:///{tmp_path}/optuna.db', '127.0.0.1', "
            f"{_free_port()}, {_free_port()}); "
            "print(sorted(m for m in ('torch', 'transformers', 'mlflow', 'sklearn') if m in sys.modules))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
    assert (tmp_path / "optuna.db").exists()
