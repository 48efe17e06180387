"""Faults injected at random points of real runs on a real worker process, one after another on
one queue (--max-runs 2, a tiny tmpfs run root): SIGKILL of a training process, a run folder
made immutable (read-only), a full disk, SIGKILL of the worker. After each: the run is not stuck
(it ends by name: crash, io, interrupted), the queue moves on, and health says SERVING once the
storage is usable again. Then a fresh worker resumes every faulted run, and each ends with exactly
the per-step losses of the uninterrupted run. The random points come from a seed printed on
failure (PROJHEAD_FAULT_SEED repeats one). Needs root (mount, chattr)."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from conftest import need
from conftest import wait_for as _wait
from grpc_health.v1 import health_pb2, health_pb2_grpc
from test_io_failures import ROOT, _chattr, _fill

from projhead.v1 import worker_pb2 as pb
from projhead.v1 import worker_pb2_grpc as pb_grpc

STEPS = 32  # 8 epochs of 4 steps (the steps are quick; process starts dominate)


def _spec(run_id: str) -> pb.RunSpec:
    return pb.RunSpec(
        run_id=run_id, seed=7,
        data=pb.DataSpec(name="shapes", train_limit=64, test_limit=32, synthetic_size=128),
        model=pb.ModelSpec(backbone="convnet", width=4, head=pb.HeadSpec(hidden_dims=[16], out_dim=8)),
        train=pb.TrainSpec(epochs=8, batch_size=16, device="cpu", precision=pb.PRECISION_FP32, log_every_steps=1,
                           checkpoint_every_steps=1, threads=1))


class Worker:
    def __init__(self, root: Path, max_runs: int):
        env = {k: v for k, v in os.environ.items() if k != "PROJHEAD_TOKEN"}
        self.proc = subprocess.Popen([sys.executable, "-m", "projhead_worker", "serve", "--port", "0", "--run-root", str(root),
                                      "--max-runs", str(max_runs)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
        ready = json.loads(self.proc.stdout.readline())
        self.channel = grpc.insecure_channel(ready["address"])
        self.stub = pb_grpc.WorkerStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        grpc.channel_ready_future(self.channel).result(timeout=30)

    def start(self, run_id: str, resume: bool = False):
        return self.stub.StartRun(pb.StartRunRequest(spec=_spec(run_id), resume=resume), timeout=120)

    def state(self, run_id: str) -> int:
        return next(r.state for r in self.stub.ListRuns(pb.ListRunsRequest(), timeout=10).runs if r.run_id == run_id)

    def serving(self) -> bool:
        return self.health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.SERVING

    def close(self, kill: bool = False):
        self.channel.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        self.proc.wait(timeout=60)


def _events(root: Path, run_id: str) -> list[dict]:
    path = root / run_id / "worker-events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip().endswith("}")]


def _steps(root: Path, run_id: str) -> int:
    return sum(1 for e in _events(root, run_id) if e["type"] == "step")




def _losses(root: Path, run_id: str) -> list[float]:
    return [e["loss"] for e in _events(root, run_id) if e["type"] == "step"]


def _ended(w: Worker, run_id: str, state: int, what: str):
    _wait(lambda: w.state(run_id) not in (pb.RUN_STATE_RUNNING, pb.RUN_STATE_PENDING), f"{run_id} to end ({what})", 60)
    got = w.state(run_id)
    assert got == state, f"{run_id}: {pb.RunState.Name(got)}, expected {pb.RunState.Name(state)} ({what})"


@need(ROOT, "root and chattr (tmpfs mounts, immutable folders)", "run the tests as root")
def test_faults_at_random_points_end_runs_by_name_and_resume_exactly(tmp_path):
    seed = int(os.environ.get("PROJHEAD_FAULT_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    at = {name: rng.randrange(2, STEPS // 2) for name in ("train-kill", "read-only", "disk-full", "worker-kill")}
    note = f"(seed {seed}, fault steps {at})"
    root = tmp_path / "mnt"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(root)], check=True)
    t0 = time.monotonic()
    w = None
    try:
        w = Worker(root, max_runs=2)
        for rid in ("ref", "t", "r"):
            w.start(rid)  # ref and t at once, r waits for a free slot

        # SIGKILL of the training process: failed (crash), and the queue moves on to r
        _wait(lambda: _steps(root, "t") >= at["train-kill"], f"t at step {at['train-kill']}")
        pid = int((root / "t" / "train.lock").read_text())
        os.kill(pid, signal.SIGKILL)
        _ended(w, "t", pb.RUN_STATE_FAILED, "training process killed " + note)

        # the run folder made immutable: failed (io), nothing stuck (health while the worker
        # cannot store an event: test_io_failures.py)
        _wait(lambda: _steps(root, "r") >= at["read-only"], f"r at step {at['read-only']}")
        _chattr("+i", root / "r")
        try:
            _ended(w, "r", pb.RUN_STATE_FAILED, "read-only folder " + note)
            err = next(x.error for x in w.stub.ListRuns(pb.ListRunsRequest(), timeout=10).runs if x.run_id == "r")
            assert err.startswith("io:"), err
        finally:
            _chattr("-i", root / "r")
        _wait(w.serving, "SERVING once r is writable", 15)
        w.start("f")

        # a full disk: failed (io); SERVING again once there is space
        _wait(lambda: _steps(root, "f") >= at["disk-full"], f"f at step {at['disk-full']}")
        _fill(root / "filler")
        try:
            _ended(w, "f", pb.RUN_STATE_FAILED, "disk full " + note)
            # The failed run removed its partial files (a checkpoint's temporary file), which frees
            # space: the worker's probe may then rightly say SERVING. Fill that too, so the disk
            # is full while health is read; the probe runs every 2 s.
            _fill(root / "filler-2")
            _wait(lambda: not w.serving(), "NOT_SERVING on a full disk " + note, 10)
        finally:
            for name in ("filler", "filler-2"):
                (root / name).unlink(missing_ok=True)
        _wait(w.serving, "SERVING once there is space", 15)
        end = _events(root, "f")[-1]
        assert (end["type"], end["cause"]) == ("failed", "io"), end

        ref = _losses(root, "ref")
        assert w.state("ref") == pb.RUN_STATE_FINISHED and len(ref) == STEPS, "the uninterrupted reference run"

        # SIGKILL of the worker: its training process notices, checkpoints and ends interrupted
        w.start("k")
        _wait(lambda: _steps(root, "k") >= at["worker-kill"], f"k at step {at['worker-kill']}")
        orphan = int((root / "k" / "train.lock").read_text())
        w.close(kill=True)
        _wait(lambda: not Path(f"/proc/{orphan}").exists() or Path(f"/proc/{orphan}/stat").read_text().split(") ")[1][0] == "Z",
              "the orphaned training process to exit", 60)
        assert _events(root, "k")[-1]["type"] == "interrupted", _events(root, "k")[-2:]

        # a fresh worker resumes all of them; each ends with the uninterrupted losses
        w = Worker(root, max_runs=4)
        assert w.state("k") == pb.RUN_STATE_INTERRUPTED
        for rid in ("t", "r", "f", "k"):
            w.start(rid, resume=True)
        for rid in ("t", "r", "f", "k"):
            _ended(w, rid, pb.RUN_STATE_FINISHED, "resumed " + note)
            got = _losses(root, rid)
            assert len(got) == STEPS, (rid, len(got), note)
            worst = max(abs(a - b) for a, b in zip(got, ref))
            assert worst <= 1e-6, f"{rid}: largest loss difference {worst} {note}"
            seqs = [e["seq"] for e in _events(root, rid)]
            assert seqs == list(range(1, len(seqs) + 1)), (rid, note)
        print(f"# faults {note} in {time.monotonic() - t0:.0f} s")
    finally:
        if w is not None:
            w.close()
        subprocess.run(["umount", "-l", str(root)], check=False)
