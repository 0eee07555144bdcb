"""A throwaway kobench project in a temporary git repository, for real `dvc repro` runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

import fork_server

ROOT = Path(__file__).resolve().parents[1]


def make_project(tmp_path: Path, params_update: dict) -> Path:
    """Copy dvc.yaml, params.yaml and src/ into ``tmp_path/project``, git + dvc init, apply ``params_update``."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "dvc.yaml", project)
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    for section, values in params_update.items():
        params[section] = {**params.get(section, {}), **values} if isinstance(values, dict) else values
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    run(["git", "init", "-q"], project)
    run(["dvc", "init", "-q"], project)
    run(["dvc", "config", "core.analytics", "false"], project)
    return project


def run(
    cmd: list[str], cwd: Path, env: dict | None = None, timeout: int = 600, *, spawns_daemons: bool = False
) -> subprocess.CompletedProcess:
    """Run ``cmd`` with the test interpreter's bin directory first on PATH; fail loudly with its output.

    ``spawns_daemons``: the command leaves background processes (``dvc queue start``'s workers) that inherit its
    output; with pipes, waiting for their end of file would wait for those workers, so it writes to a file.
    """
    bin_dir = str(Path(sys.executable).parent)
    shims = fork_server.shim_directory()  # DVC's stages run `kobench` from there, without re-importing torch & co
    if shims is not None:
        bin_dir = f"{shims}{os.pathsep}{bin_dir}"
    full_env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **(env or {})}
    full_env.setdefault("GIT_AUTHOR_NAME", "kobench-test")
    full_env.setdefault("GIT_AUTHOR_EMAIL", "test@localhost")
    full_env.setdefault("GIT_COMMITTER_NAME", "kobench-test")
    full_env.setdefault("GIT_COMMITTER_EMAIL", "test@localhost")
    if spawns_daemons:
        with tempfile.TemporaryFile("w+") as out:
            done = subprocess.run(cmd, cwd=cwd, env=full_env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
            out.seek(0)
            result = subprocess.CompletedProcess(cmd, done.returncode, out.read(), "")
    else:
        result = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result
