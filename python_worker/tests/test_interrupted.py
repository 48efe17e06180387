"""Runs stopped by something other than their client end `interrupted` (with the reason), never
`cancelled`: the worker shutting down (worker_signal), the training process signalled directly
(signal), a worker that died leaving a run without a final event (worker_died). A client's cancel
still ends `cancelled`. Real training processes, tiny runs."""
import json
import os
import signal

from conftest import wait_for as _wait

from projhead.v1 import worker_pb2 as pb
from projhead_worker.server import jobs
from projhead_worker.server import service as server

TINY = {
    "data": {"name": "shapes", "train_limit": 64, "test_limit": 32, "synthetic_size": 128},
    "model": {"backbone": "convnet", "width": 4, "head": {"hidden_dims": [16], "out_dim": 8}},
    "train": {"epochs": 200, "batch_size": 16, "device": "cpu", "precision": "fp32", "log_every_steps": 1,
              "knn_every_epochs": 0, "checkpoint_every_epochs": 0, "checkpoint_every_steps": 2, "threads": 1},
}


def _spec(run_id):
    return {"run_id": run_id, **json.loads(json.dumps(TINY))}




def _steps(job):
    return sum(1 for e in job.events if e["type"] == "step")


def test_worker_shutdown_and_a_direct_sigterm_interrupt_a_cancel_cancels(tmp_path):
    m = jobs.JobManager(tmp_path, max_running=3)
    for rid in ("down", "term", "cancel"):
        m.start(_spec(rid), resume=False)
    try:
        _wait(lambda: all(_steps(m.get(r)) >= 2 for r in ("down", "term", "cancel")), what="three runs stepping")
        os.kill(m.get("term").proc.pid, signal.SIGTERM)  # as a batch system would
        m.cancel("cancel", graceful=True)
        _wait(lambda: not m.get("term").active and not m.get("cancel").active, what="term and cancel to end")
    finally:
        m.shutdown(timeout=60)
    ends = {r: m.get(r).events[-1] for r in ("down", "term", "cancel")}
    assert ends["cancel"]["type"] == "cancelled" and m.get("cancel").state == "cancelled"
    assert (ends["down"]["type"], ends["down"]["reason"]) == ("interrupted", "worker_signal"), ends["down"]
    assert (ends["term"]["type"], ends["term"]["reason"]) == ("interrupted", "signal"), ends["term"]
    assert "SIGTERM" in ends["term"]["message"]
    for r in ("down", "term"):
        job = m.get(r)
        assert job.state == "interrupted"
        assert ends[r]["checkpoint"] == "checkpoints/last.pt" and ends[r]["step"] >= 2
        assert job.error.startswith(f"interrupted ({ends[r]['reason']})")
        assert server.status_to_proto(job.status()).state == pb.RUN_STATE_INTERRUPTED
        ev = server.event_to_proto(ends[r])
        assert ev.WhichOneof("kind") == "interrupted" and ev.interrupted.reason == ends[r]["reason"]
    assert server.status_to_proto(m.get("cancel").status()).state == pb.RUN_STATE_CANCELLED

    # A fresh worker on the same root lists them as interrupted and resumes one to its end.
    m2 = jobs.JobManager(tmp_path)
    assert {s["run_id"]: s["state"] for s in m2.list()} == {"down": "interrupted", "term": "interrupted", "cancel": "cancelled"}
    spec = _spec("down")
    spec["train"]["epochs"] = 6  # ends soon
    _, created, resumed_from = m2.start(spec, resume=True)
    assert created and resumed_from > 0
    _wait(lambda: not m2.get("down").active, what="the resumed run to end")
    assert m2.get("down").state == "finished", m2.get("down").error


def test_a_run_left_without_a_final_event_is_closed_as_interrupted_on_load(tmp_path):
    run = tmp_path / "orphan"
    run.mkdir()
    (run / "worker-spec.json").write_text(json.dumps(_spec("orphan")))
    (run / "worker-events.jsonl").write_text(
        "".join(json.dumps({"seq": i + 1, "time": 0, "type": t, "step": 1}) + "\n" for i, t in enumerate(["started", "step"]))
        + '{"seq": 3, "ti')  # torn by the kill
    m = jobs.JobManager(tmp_path)
    job = m.get("orphan")
    assert job.state == "interrupted"
    end = job.events[-1]
    assert (end["seq"], end["type"], end["reason"]) == (3, "interrupted", "worker_died")
    stored = [json.loads(l) for l in (run / "worker-events.jsonl").read_text().splitlines()]
    assert [e["seq"] for e in stored] == [1, 2, 3] and stored[-1]["type"] == "interrupted"
    # loading again adds nothing
    assert len(jobs.JobManager(tmp_path).get("orphan").events) == 3
