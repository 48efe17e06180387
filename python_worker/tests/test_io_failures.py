"""I/O errors end runs by name and never wedge the worker: a run whose folder becomes immutable
(chattr +i) or whose disk fills up (a tiny tmpfs run root) ends `failed` with cause `io` naming
the path, the next queued run starts, health says NOT_SERVING (and GetInfo why) while the worker
cannot write its state and SERVING once it can again; StartRun on an unwritable run root is a
clean status naming the path and leaves nothing behind. Needs root (mount, chattr)."""
import json
import os
import shutil
import subprocess

import grpc
import pytest
from conftest import need
from conftest import wait_for as _wait
from live import live_worker

from projhead.v1 import worker_pb2 as pb
from projhead_worker.server import service as server

ROOT = os.geteuid() == 0 and shutil.which("chattr") is not None
needs_root = need(ROOT, "root and chattr (tmpfs mounts, immutable folders)", "run the tests as root")

TINY = {
    "data": {"name": "shapes", "train_limit": 64, "test_limit": 32, "synthetic_size": 128},
    "model": {"backbone": "convnet", "width": 4, "head": {"hidden_dims": [16], "out_dim": 8}},
    "train": {"epochs": 100, "batch_size": 16, "device": "cpu", "precision": "fp32", "log_every_steps": 1,
              "knn_every_epochs": 0, "checkpoint_every_epochs": 0, "checkpoint_every_steps": 1, "threads": 1},
}


def _spec(run_id, epochs=100):
    d = {"run_id": run_id, **json.loads(json.dumps(TINY))}
    d["train"]["epochs"] = epochs
    return d




def _steps(job):
    return sum(1 for e in job.events if e["type"] == "step")


def _chattr(flag, path):
    subprocess.run(["chattr", "-R", flag, str(path)], check=True)


@pytest.fixture
def tmpfs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(path):
    """Fills the file system of `path` to the last byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


@needs_root
def test_an_immutable_run_folder_fails_the_run_with_cause_io_and_the_queue_moves(tmp_path):
    root = tmp_path / "runs"
    with live_worker(root, max_running=1) as w:
        jobs = w.jobs
        jobs.start(_spec("frozen"), resume=False)
        jobs.start(_spec("next", epochs=1), resume=False)
        assert jobs.get("next").state == "pending"
        _wait(lambda: _steps(jobs.get("frozen")) >= 3, what="step 3")
        _chattr("+i", root / "frozen")
        try:
            _wait(lambda: not jobs.get("frozen").active, timeout=60, what="the frozen run to end")
            end = jobs.get("frozen").events[-1]
            assert (end["type"], end["cause"]) == ("failed", "io"), end
            assert str(root / "frozen") in end["message"] and "immutable" in end["message"], end["message"]
            assert jobs.get("frozen").state == "failed"
            # the worker could not store that event: it says so, and names the file
            assert w.serving() == "NOT_SERVING"
            info = w.stub.GetInfo(pb.GetInfoRequest(), timeout=30)
            assert "worker-events.jsonl" in info.storage_problem, info.storage_problem
            # the queue moved on
            _wait(lambda: jobs.get("next").state != "pending", timeout=30, what="the next run to start")
            # cancel and resume of the failed run answer at once, by name
            assert w.stub.CancelRun(pb.CancelRunRequest(run_id="frozen"), timeout=5).state == pb.RUN_STATE_FAILED
            with pytest.raises(Exception) as e:
                jobs.start(_spec("frozen"), resume=True)
            code, msg = server._status_of(e.value)
            assert code == grpc.StatusCode.FAILED_PRECONDITION and str(root / "frozen") in msg, (code, msg)
        finally:
            _chattr("-i", root / "frozen")
        # writable again: the kept event is stored, health recovers, what was written stays
        _wait(lambda: w.serving() == "SERVING", timeout=15, what="SERVING again")
        stored = [json.loads(line) for line in (root / "frozen" / "worker-events.jsonl").read_text().splitlines()]
        assert stored[-1]["type"] == "failed" and stored[-1]["cause"] == "io"
        assert [e["seq"] for e in stored] == list(range(1, len(stored) + 1))
        assert (root / "frozen" / "checkpoints" / "last.pt").is_file()
        _wait(lambda: not jobs.get("next").active, timeout=90, what="the next run to end")
        assert jobs.get("next").state == "finished", jobs.get("next").error


@needs_root
def test_a_full_disk_fails_the_run_with_cause_io_and_health_follows_the_space(tmpfs):
    with live_worker(tmpfs, max_running=1) as w:
        jobs = w.jobs
        jobs.start(_spec("full"), resume=False)
        _wait(lambda: _steps(jobs.get("full")) >= 3, what="step 3")
        filler = tmpfs / "filler"
        _fill(filler)
        _wait(lambda: not jobs.get("full").active, timeout=60, what="the run to end on a full disk")
        end = jobs.get("full").events[-1]
        assert (end["type"], end["cause"]) == ("failed", "io"), end
        assert "disk full" in end["message"] and str(tmpfs) in end["message"], end["message"]
        _wait(lambda: w.serving() == "NOT_SERVING", timeout=10, what="NOT_SERVING on a full disk")
        assert "disk full" in w.stub.GetInfo(pb.GetInfoRequest(), timeout=30).storage_problem
        # a new run on the full disk: a clean status naming the path, nothing left behind
        with pytest.raises(grpc.RpcError) as e:
            w.stub.StartRun(pb.StartRunRequest(spec=pb.RunSpec(run_id="later")), timeout=10)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e.value
        assert str(tmpfs / "later") in e.value.details() and "disk full" in e.value.details()
        assert not (tmpfs / "later").exists()
        filler.unlink()
        _wait(lambda: w.serving() == "SERVING", timeout=15, what="SERVING once there is space")
        stored = [json.loads(line) for line in (tmpfs / "full" / "worker-events.jsonl").read_text().splitlines()]
        assert stored[-1]["type"] == "failed" and stored[-1]["cause"] == "io"
        assert not [p for p in (tmpfs / "full" / "checkpoints").iterdir() if ".tmp" in p.name], "no partial checkpoint left"


@needs_root
def test_an_unwritable_run_root_at_start_run_is_a_clean_status_naming_the_path(tmp_path):
    root = tmp_path / "runs"
    with live_worker(root) as w:
        _chattr("+i", root)
        try:
            with pytest.raises(grpc.RpcError) as e:
                w.stub.StartRun(pb.StartRunRequest(spec=pb.RunSpec(run_id="nope")), timeout=10)
            assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION, e.value
            assert str(root / "nope") in e.value.details() and "PermissionError" not in e.value.details()
            assert not (root / "nope").exists()
        finally:
            _chattr("-i", root)
        _wait(lambda: w.serving() == "SERVING", timeout=15, what="SERVING again")
