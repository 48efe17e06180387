"""A worker that serves for weeks has bounded memory however many events its runs log: it keeps
the newest events of each run in memory and reads older ones from the run's event log on disk,
so a client re-attaching from seq 0 still gets every event exactly once.

The 200 000 events come through the real event path, but without real training: a stand-in
training process numbers and appends them with trainproc.Emitter (what train.py's emit calls),
as fast as it can; the worker follows the log, publishes the events and serves them over gRPC."""
import json
import stat
import sys
import threading
import time

from conftest import wait_for
from live import live_worker

from projhead.v1 import worker_pb2 as pb
from projhead_worker.server import jobs

EVENTS = 200_000
# Worker RSS may grow by at most this much while the 200 000 events pass and are re-read (the
# tail in memory is jobs.EVENT_TAIL events, ~3 MB; the rest is allocator slack). Keeping every
# event costs ~1.3 KB an event, ~250 MB here.
RSS_BOUND = 48 * 2**20


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


EMITTER = f"""#!{sys.executable}
import sys, time
from pathlib import Path
from projhead_worker.training.trainproc import Emitter
run = Path(sys.argv[sys.argv.index('--run-dir') + 1])
emit = Emitter(run / 'worker-events.jsonl', 0)
emit('started', device='cpu', resolved_spec={{}})
for step in range(1, {EVENTS - 1}):
    emit('step', step=step, epoch=1 + step // 1000, loss=4.0 + 1.0 / step, lr=0.3 * (1 - step / {EVENTS}),
         images_per_sec=1234.5 + step % 7, contrastive_acc=step % 100 / 100.0)
emit('finished', final_loss=4.0, knn_top1=-1.0, steps={EVENTS - 2}, wall_seconds=1.0, images_seen=0)
"""


def test_two_hundred_thousand_events_keep_the_worker_flat_and_reattach_exactly(tmp_path):
    fake = tmp_path / "fake-python"
    fake.write_text(EMITTER)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    with live_worker(tmp_path / "runs", python=str(fake)) as w:
        base, peak, done = _rss(), [0], threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], _rss())
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.monotonic()
        w.stub.StartRun(pb.StartRunRequest(spec=pb.RunSpec(run_id="chatty", train=pb.TrainSpec(device="cpu"))), timeout=10)
        wait_for(lambda: w.jobs.get("chatty").state == "finished", "200 000 events", timeout=180)
        t_run = time.monotonic() - t0
        time.sleep(0.2)
        assert peak[0] - base < RSS_BOUND, f"the worker grew by {(peak[0] - base) / 2**20:.0f} MiB while the events came"
        job = w.jobs.get("chatty")
        assert job.last_seq == EVENTS and len(job.events) <= jobs.EVENT_TAIL
        assert w.jobs.list()[0]["step"] == EVENTS - 2, "the run's progress without the events in memory"
        # Re-attach from seq 0: every event once, in order, as the log on disk has it (compared
        # as they come: the test client shares this process, it must not hold them either).
        # All 200 000 through the manager's watch (what WatchRun serves); over gRPC the last
        # 20 000, from the log on disk across the edge of the tail in memory.
        t1 = time.monotonic()

        def same_as_log(stream, from_seq: int, field) -> int:
            n = from_seq
            with open(tmp_path / "runs" / "chatty" / "worker-events.jsonl") as log:
                for _ in range(from_seq):
                    next(log)
                for e, line in zip(stream, log):
                    want = json.loads(line)
                    n += 1
                    assert field(e, "seq") == n == want["seq"]
                    if want["type"] == "step":
                        got = tuple(field(e, k) for k in ("step", "loss", "lr"))
                        assert got == (want["step"], want["loss"], want["lr"]), n
            return n

        assert same_as_log(w.jobs.watch("chatty", 0, lambda: True), 0, lambda e, k: e[k]) == EVENTS
        t_watch = time.monotonic() - t1
        mid = EVENTS - 20_000
        grpc_stream = w.stub.WatchRun(pb.WatchRunRequest(run_id="chatty", from_seq=mid), timeout=300)
        assert same_as_log(grpc_stream, mid, lambda e, k: e.seq if k == "seq" else getattr(e.step, k)) == EVENTS
        t_grpc = time.monotonic() - t1 - t_watch
        done.set()
        sampler.join()
        grew = peak[0] - base
        print(f"\n200k events: run {t_run:.1f} s, re-attach {t_watch:.1f} s (gRPC, last 20k: {t_grpc:.1f} s), worker RSS +{grew / 2**20:.1f} MiB at its peak")
        assert grew < RSS_BOUND, f"the worker grew by {grew / 2**20:.0f} MiB"


def test_a_worker_starting_on_a_long_log_loads_only_its_tail(tmp_path):
    run = tmp_path / "runs" / "long"
    run.mkdir(parents=True)
    (run / "worker-spec.json").write_text(json.dumps({"run_id": "long"}))
    n = 20_000
    with open(run / "worker-events.jsonl", "w") as f:
        for s in range(1, n):
            f.write(json.dumps({"seq": s, "time": 0, "type": "step", "step": s, "epoch": 1, "loss": 1.0}) + "\n")
        f.write(json.dumps({"seq": n, "time": 0, "type": "finished"}) + "\n")
    m = jobs.JobManager(tmp_path / "runs")
    job = m.get("long")
    assert len(job.events) < n, "not every event in memory"
    assert (job.state, job.last_seq, job.step, len(job.events)) == ("finished", n, n - 1, jobs.EVENT_TAIL)
    assert [e["seq"] for e in m.watch("long", 0, lambda: True)] == list(range(1, n + 1))
    assert list(m.watch("long", 2**64 - 1, lambda: True)) == [], "far past the end: nothing"
