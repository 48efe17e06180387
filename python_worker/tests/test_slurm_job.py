"""The worker's own job after SLURM's time-limit warning: requeued only when it stopped runs, and
never outside a job. The requeue itself runs against a real cluster in test/slurm."""
from __future__ import annotations

from projhead_worker.server import slurm_job


def test_no_requeue_when_no_run_was_stopped(monkeypatch, capsys):
    monkeypatch.setenv("SLURM_JOB_ID", "123")
    monkeypatch.setenv("PATH", "/nonexistent")  # scontrol would fail loudly if it were called
    assert slurm_job.after_time_limit_warning(0) is False
    assert "not requeued" in capsys.readouterr().err


def test_no_requeue_outside_a_job(monkeypatch, capsys):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert slurm_job.after_time_limit_warning(2) is False
    assert "outside a SLURM job" in capsys.readouterr().err


def test_a_refused_requeue_is_said(monkeypatch, capsys):
    monkeypatch.setenv("SLURM_JOB_ID", "123")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert slurm_job.after_time_limit_warning(1) is False
    assert "scontrol requeue 123 failed" in capsys.readouterr().err
