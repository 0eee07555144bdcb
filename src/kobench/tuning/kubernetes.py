"""``kobench k8s-job``: one study as a Kubernetes Indexed Job, each pod one worker of the shared study."""

from __future__ import annotations

import re
import shlex
from typing import Any

from kobench.errors import KobenchError
from kobench.tuning.cluster import FINALISER, tune_commands

CONTAINER = "worker"
# environment variable <- key of the Secret; the credentials are optional (a server without accounts)
SECRET_KEYS = {
    "KOBENCH_OPTUNA_STORAGE": ("optuna-storage", False),
    "MLFLOW_TRACKING_URI": ("mlflow-tracking-uri", False),
    "MLFLOW_TRACKING_USERNAME": ("mlflow-username", True),
    "MLFLOW_TRACKING_PASSWORD": ("mlflow-password", True),
}
EXIT_BAD_INPUT = 2  # kobench's one-line errors: a retry would fail the same way
EXIT_NO_TRIAL = 1  # a study without a completed trial: a retry would train the whole budget again


def job_name(study: str) -> str:
    """``kobench-<study>`` as a DNS-1123 label short enough for the pods' names (``<job>-<index>-<suffix>``).

    >>> job_name("korquad-KoELECTRA_base.v3")
    'kobench-korquad-koelectra-base-v3'
    """
    name = re.sub(r"[^a-z0-9-]+", "-", f"kobench-{study}".lower()).strip("-")[:52].rstrip("-")
    return name


def indexed_job(  # noqa: PLR0913
    name: str,
    *,
    workers: int,
    image: str,
    tune_args: list[str],
    secret: str,
    gpus: int = 1,
    workdir: str = "/project",
    claim: str | None = None,
) -> dict[str, Any]:
    """The Job: ``workers`` pods at once (completions = parallelism), index 0 finalises, one GPU each.

    The stores' URLs and credentials come from the Secret ``secret`` (keys in ``SECRET_KEYS``) through
    ``env.valueFrom.secretKeyRef``, never from the manifest. The project (``params.yaml``, prepared data,
    ``outputs/``) is the image's ``workdir``, or the PersistentVolumeClaim ``claim`` mounted there (ReadWriteMany
    when pods land on several nodes). A pod that fails with a one-line error (exit 2) or a study without a
    completed trial (exit 1) fails the Job; an evicted or preempted pod is recreated and resumes the study.
    """
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) or len(name) > 63:
        raise KobenchError(f"--name {name!r}: not a Kubernetes name (lowercase letters, digits and '-', at most 63)")
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", secret) or len(secret) > 253:
        raise KobenchError(f"--secret {secret!r}: not a Kubernetes Secret name (lowercase letters, digits, '-', '.')")
    finaliser, worker = (shlex.join(c) for c in tune_commands(["kobench"], tune_args))
    script = f'if [ "$JOB_COMPLETION_INDEX" = {FINALISER} ]; then exec {finaliser}; else exec {worker}; fi'
    env = [
        {"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key, **({"optional": True} if opt else {})}}}
        for var, (key, opt) in SECRET_KEYS.items()
    ]
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": image,
        "workingDir": workdir,
        "command": ["sh", "-c", script],
        "env": env,
    }
    if gpus:
        container["resources"] = {"limits": {"nvidia.com/gpu": gpus}}
    pod: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if claim:
        container["volumeMounts"] = [{"name": "project", "mountPath": workdir}]
        pod["volumes"] = [{"name": "project", "persistentVolumeClaim": {"claimName": claim}}]
    labels = {"app.kubernetes.io/name": "kobench", "app.kubernetes.io/instance": name}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "completionMode": "Indexed",
            "completions": workers,
            "parallelism": workers,
            "backoffLimit": workers,
            "podFailurePolicy": {
                "rules": [
                    {"action": "FailJob", "onExitCodes": {"containerName": CONTAINER, "operator": "In",
                                                         "values": [EXIT_NO_TRIAL, EXIT_BAD_INPUT]}},
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
                ]
            },
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod},
        },
    }  # fmt: skip


def to_yaml(manifest: dict[str, Any]) -> str:
    """The manifest as YAML, keys in the order built."""
    import yaml

    return yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True)
