"""Soak: one real worker process (python -m projhead_worker serve, --max-runs 2) through rounds of
short real runs, re-attaches after cut streams, cancels, resumes and evaluations, all at once;
after the warm-up rounds its RSS, open file descriptors and threads (but the gRPC pool's, which
stays within its bound) stay flat, no process of its
stays behind, and no run is left pending or running."""
import json
import os
import subprocess
import sys
import threading
import time

import grpc
from conftest import wait_for
from grpc_health.v1 import health_pb2, health_pb2_grpc

from projhead.v1 import worker_pb2 as pb
from projhead.v1 import worker_pb2_grpc as pb_grpc
from projhead_worker.server.service import DEFAULT_MAX_STREAMS, RPC_THREAD_NAME, UNARY_THREADS
from projhead_worker.server.supervise import process_tree

WARMUP, ROUNDS = 2, 3  # the first evaluation (round 1) imports torch into the worker
RSS_GROWTH = 32 * 2**20  # after warm-up; measured growth is a few MiB
TERMINAL = {"finished", "failed", "cancelled", "interrupted"}


def _spec(rid: str, epochs: int = 2) -> pb.RunSpec:
    return pb.RunSpec(
        run_id=rid, seed=1,
        data=pb.DataSpec(name="shapes", synthetic_size=64, train_limit=64, test_limit=16),
        model=pb.ModelSpec(backbone="convnet", width=4, head=pb.HeadSpec(hidden_dims=[16], out_dim=8)),
        train=pb.TrainSpec(epochs=epochs, batch_size=16, device="cpu", precision=pb.PRECISION_FP32, log_every_steps=1,
                           knn_every_epochs=0, checkpoint_every_steps=1, threads=1))


def _proc(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/status") as f:
        st = dict(line.split(":", 1) for line in f)
    names = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                names.append(f.read().strip())
        except FileNotFoundError:  # a thread that just ended
            pass
    # The gRPC pool grows lazily up to its bound, to the most calls served at once (timing
    # decides when it adds its last thread): a leak is any other thread, or the pool past it.
    rpc = sum(n == RPC_THREAD_NAME for n in names)
    return {"rss": int(st["VmRSS"].split()[0]) * 1024, "threads": len(names) - rpc, "rpc threads": rpc,
            "fds": len(os.listdir(f"/proc/{pid}/fd"))}


class Client:
    def __init__(self, port: int):
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = pb_grpc.WorkerStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def watch(self, rid: str, from_seq: int = 0, cut_after: int | None = None) -> list:
        """Events after from_seq; with cut_after, the stream is cancelled after that many."""
        call = self.stub.WatchRun(pb.WatchRunRequest(run_id=rid, from_seq=from_seq), timeout=120)
        got = []
        for e in call:
            got.append(e)
            if cut_after is not None and len(got) >= cut_after:
                call.cancel()
                break
        return got

    def to_end(self, rid: str, cut_after: int | None = None) -> list:
        """Every event of the run, re-attaching after a cut stream from the last seq it had."""
        events = self.watch(rid, 0, cut_after)
        while not events or events[-1].WhichOneof("kind") not in TERMINAL:
            events += self.watch(rid, events[-1].seq if events else 0)
        assert [e.seq for e in events] == list(range(1, len(events) + 1)), f"{rid}: seqs {[e.seq for e in events]}"
        return events


def _round(c: Client, k: int, errors: list) -> None:
    a, b = f"r{k}-a", f"r{k}-b"
    c.stub.StartRun(pb.StartRunRequest(spec=_spec(a)), timeout=30)
    c.stub.StartRun(pb.StartRunRequest(spec=_spec(b, epochs=50)), timeout=30)

    def evaluate():  # of the previous round's finished run, while this round trains
        try:
            done = [e for e in c.stub.Evaluate(pb.EvaluateRequest(run_id=f"r{k - 1}-a", layers=["h"], device="cpu",
                                                                  eval=pb.EvalSpec(probe_max_iter=1, knn_k=5)), timeout=180)
                    if e.WhichOneof("kind") == "done"]
            assert done and [l.layer for l in done[0].done.layers] == ["h"], "an evaluation result"
        except Exception as e:  # noqa: BLE001 - reported by the round
            errors.append(f"evaluate r{k - 1}-a: {e!r}")

    ev = threading.Thread(target=evaluate)
    if k > 0:
        ev.start()
    kinds = [e.WhichOneof("kind") for e in c.to_end(a, cut_after=3)]
    assert kinds[0] == "started" and kinds[-1] == "finished", f"{a}: {kinds}"
    # b is cancelled after its first step, and every other round resumed to its end
    for e in c.stub.WatchRun(pb.WatchRunRequest(run_id=b), timeout=120):
        if e.WhichOneof("kind") == "step":
            break
    c.stub.CancelRun(pb.CancelRunRequest(run_id=b, graceful=True), timeout=10)
    assert c.to_end(b)[-1].WhichOneof("kind") == "cancelled"
    if k % 2:
        res = c.stub.StartRun(pb.StartRunRequest(spec=_spec(b, epochs=1), resume=True), timeout=60)
        assert res.created, f"{b} resumed"
        assert c.to_end(b)[-1].WhichOneof("kind") == "finished"
    if k > 0:
        ev.join()


def test_many_short_runs_reattaches_cancels_and_evaluations_leave_the_worker_flat(tmp_path):
    log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen([sys.executable, "-m", "projhead_worker", "serve", "--run-root", str(tmp_path / "runs"),
                               "--port", "0", "--max-runs", "2"], stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        port = json.loads(worker.stdout.readline())["port"]
        c = Client(port)
        errors: list[str] = []
        t0 = time.monotonic()
        samples = []
        for k in range(WARMUP + ROUNDS):
            _round(c, k, errors)
            assert not errors, errors
            # quiet: every run ended and every process the worker started is gone
            wait_for(lambda: not process_tree(worker.pid), "the worker's processes to exit", timeout=30)
            runs = c.stub.ListRuns(pb.ListRunsRequest(), timeout=10).runs
            assert not [r.run_id for r in runs if r.state in (pb.RUN_STATE_PENDING, pb.RUN_STATE_RUNNING)]
            time.sleep(0.3)  # the followers' last moments
            samples.append(_proc(worker.pid))
        took = time.monotonic() - t0
        base, end = samples[WARMUP - 1], samples[-1]
        print(f"\nsoak: {WARMUP + ROUNDS} rounds ({len(runs)} runs, {WARMUP + ROUNDS - 1} evaluations) in {took:.0f} s; "
              f"worker RSS {base['rss'] / 2**20:.1f} -> {end['rss'] / 2**20:.1f} MiB, fds {base['fds']} -> {end['fds']}, "
              f"threads {base['threads']} -> {end['threads']} (and the gRPC pool's {base['rpc threads']} -> {end['rpc threads']})")
        assert end["rss"] - base["rss"] < RSS_GROWTH, samples
        assert end["fds"] <= base["fds"], f"file descriptors leak: {[s['fds'] for s in samples]}"
        assert end["threads"] <= base["threads"], f"threads leak: {[s['threads'] for s in samples]}"
        assert 0 < end["rpc threads"] <= DEFAULT_MAX_STREAMS + UNARY_THREADS, samples
        res = c.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert res.status == health_pb2.HealthCheckResponse.SERVING
        c.channel.close()
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        log.close()
    assert worker.returncode == 0, (tmp_path / "worker.log").read_text()[-3000:]
