

def test_a_slurm_gpu_job_leases_among_its_own_gpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from kobench.engine.devices import slot_dir

    monkeypatch.setenv("KOBENCH_CACHE", str(tmp_path))
    monkeypatch.setenv("SLURM_JOB_ID", "4243")
    monkeypatch.delenv("SLURM_JOB_GPUS", raising=False)
    monkeypatch.delenv("SLURM_STEP_GPUS", raising=False)
    assert slot_dir() == tmp_path / "slots"  # a CPU job: the machine's slots, as outside Slurm
    monkeypatch.setenv("SLURM_JOB_GPUS", "3")  # Slurm gave this job GPU 3, which it sees as cuda:0
    assert slot_dir() == tmp_path / "slots" / "slurm-4243"
