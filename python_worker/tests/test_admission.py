"""Admission under concurrency, over real gRPC and real (stand-in) training processes: a storm of
resumes of one finished run starts it once and answers everyone at once; `--max-runs` counts live
training processes, not run states; explicit `cuda:N` devices are reserved like automatic ones."""
import json
import random
import stat
import sys
import time
from concurrent import futures

import grpc
import pytest
import torch
from conftest import wait_for
from live import live_worker

from projhead.v1 import worker_pb2 as pb
from projhead_worker.common.config import RunConfig
from projhead_worker.server import jobs


def _fake(tmp_path, body: str, name: str = "fake-python"):
    """A stand-in for the training interpreter (the worker starts it as `python -m trainproc
    --run-dir D`); `body` runs with `run` = the run folder and `rid` = the run id."""
    fake = tmp_path / name
    fake.write_text(f"#!{sys.executable}\nimport json, os, sys, time\nrun = sys.argv[sys.argv.index('--run-dir') + 1]\n"
                    f"rid = os.path.basename(run)\n{body}\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return fake


def _stored_finished_run(root, spec: dict):
    run = root / spec["run_id"]
    (run / "checkpoints").mkdir(parents=True)
    (run / "worker-spec.json").write_text(json.dumps(spec))
    kinds = ["started", "step", "checkpoint", "finished"]
    (run / "worker-events.jsonl").write_text("".join(json.dumps({"seq": i + 1, "time": 0, "type": t}) + "\n" for i, t in enumerate(kinds)))
    torch.save({"format": "projhead.ckpt.v1", "seq": 3}, run / "checkpoints" / "last.pt")
    return spec


def test_two_hundred_simultaneous_resumes_start_once_and_all_answer_at_once(tmp_path, monkeypatch):
    from projhead.v1 import worker_pb2_grpc as pb_grpc
    from projhead_worker.server.service import message_to_dict

    root = tmp_path / "runs"
    req = pb.StartRunRequest(resume=True, spec=pb.RunSpec(run_id="r", train=pb.TrainSpec(epochs=3, device="cpu")))
    stored = RunConfig.from_dict(message_to_dict(req.spec)).to_dict()
    stored["train"]["epochs"] = 2  # finished with 2 epochs; the resumes raise it to 3
    _stored_finished_run(root, stored)
    fake = _fake(tmp_path, "time.sleep(60)")  # holds the run (and its train.lock) until killed
    # A busy server: the first resume takes a while to prepare the run (a real worker imports
    # torch then), and a thread can be descheduled between any two lines (here: before it looks
    # at the run's train.lock), so the others look at the lock before and after it is taken.
    repair, wait_free, rnd = jobs.eventlog.repair, jobs.runlock.wait_free, random.Random(0)
    monkeypatch.setattr(jobs.eventlog, "repair", lambda *a, **k: (time.sleep(0.3), repair(*a, **k))[1])
    monkeypatch.setattr(jobs.runlock, "wait_free", lambda *a, **k: (time.sleep(rnd.uniform(0, 1.5)), wait_free(*a, **k))[1])
    with live_worker(root, python=str(fake)) as w:
        try:
            channels = [grpc.insecure_channel(f"127.0.0.1:{w.port}") for _ in range(8)]
            stubs = [pb_grpc.WorkerStub(c) for c in channels]

            def call(i):
                t0 = time.monotonic()
                try:
                    res = stubs[i % len(stubs)].StartRun(req, timeout=20)
                    return res.created, res.status.state, res.resumed_from_seq, time.monotonic() - t0, ""
                except grpc.RpcError as e:
                    return None, None, None, time.monotonic() - t0, f"{e.code().name}: {e.details()}"

            with futures.ThreadPoolExecutor(200) as pool:
                got = list(pool.map(call, range(200)))
            errors = [g[4] for g in got if g[4]]
            assert not errors, f"{len(errors)} resumes failed, e.g. {errors[0]}"
            assert sum(1 for g in got if g[0]) == 1, "exactly one resume starts the run"
            assert {g[1] for g in got} == {pb.RUN_STATE_RUNNING}
            assert {g[2] for g in got} == {3}, "every answer says where the run continues"
            slowest = max(g[3] for g in got)
            assert slowest < 10, f"a resume waited {slowest:.1f} s"
            assert w.jobs.get("r").proc.poll() is None
        finally:
            w.jobs.cancel("r", graceful=False)
            for c in channels:
                c.close()


def test_max_runs_counts_the_process_until_it_has_exited(tmp_path):
    # The run writes its final event, then takes 1.5 s to exit (as a real one does while it
    # frees the device): the next run must not start before it is gone.
    out = tmp_path / "times"
    out.mkdir()
    body = (f"out = {str(out)!r}\nopen(os.path.join(out, rid + '.start'), 'w').write(repr(time.time()))\n"
            "log = os.path.join(run, 'worker-events.jsonl')\n"
            "with open(log, 'a') as f:\n"
            "    f.write(json.dumps({'seq': 1, 'time': time.time(), 'type': 'started'}) + '\\n')\n"
            "    f.write(json.dumps({'seq': 2, 'time': time.time(), 'type': 'finished', 'final_loss': 1.0}) + '\\n')\n"
            "time.sleep(1.5)\n"
            "open(os.path.join(out, rid + '.end'), 'w').write(repr(time.time()))\n")
    fake = _fake(tmp_path, body)
    with live_worker(tmp_path / "runs", python=str(fake), max_running=1) as w:
        for rid in ("a", "b"):
            w.stub.StartRun(pb.StartRunRequest(spec=pb.RunSpec(run_id=rid, train=pb.TrainSpec(device="cpu"))), timeout=10)
            # the next StartRun comes right after this run's final event
            wait_for(lambda: w.jobs.get(rid).state == "finished", f"run {rid}'s final event", timeout=30)
        wait_for(lambda: (out / "b.end").exists(), "run b's process to end", timeout=30)
    a_end, b_start = float((out / "a.end").read_text()), float((out / "b.start").read_text())
    assert b_start >= a_end, f"b started {a_end - b_start:.2f} s before a's process was gone"


def test_explicit_cuda_devices_are_reserved_like_automatic_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,7")  # two stand-in GPUs
    out = tmp_path / "seen"
    out.mkdir()
    fake = _fake(tmp_path, f"open(os.path.join({str(out)!r}, rid), 'w').write(os.environ.get('CUDA_VISIBLE_DEVICES', ''))\n"
                           "time.sleep(60)")
    m = jobs.JobManager(tmp_path / "runs", max_running=4, python=str(fake), max_memory=2**40)
    try:
        m.start({"run_id": "pinned", "train": {"device": "cuda:0"}}, resume=False)
        wait_for(lambda: (out / "pinned").exists(), "the pinned run")
        m.start({"run_id": "auto", "train": {"device": "auto"}}, resume=False)
        wait_for(lambda: (out / "auto").exists(), "the automatic run")
        # the explicit run sees the worker's GPUs as they are (cuda:0 is GPU 4) and holds GPU 4
        assert (out / "pinned").read_text() == "4,7"
        assert (out / "auto").read_text() == "7", "the automatic run must not land on the pinned run's GPU"
        # a second explicit run on a busy GPU waits for it (documented rule), then starts
        m.start({"run_id": "second", "train": {"device": "cuda:0"}}, resume=False)
        time.sleep(1.0)
        assert m.get("second").state == "pending" and not (out / "second").exists()
        m.cancel("pinned", graceful=False)
        wait_for(lambda: (out / "second").exists(), "the second explicit run after the first ended")
        # a GPU the worker does not have, and one GPU named for several processes, are refused at once
        with pytest.raises(jobs.JobError) as e:
            m.start({"run_id": "nowhere", "train": {"device": "cuda:2"}}, resume=False)
        assert e.value.code == "failed_precondition" and "train.device" in str(e.value) and "2 CUDA devices" in str(e.value)
        with pytest.raises(jobs.JobError) as e:
            m.start({"run_id": "wide", "train": {"device": "cuda:1", "nproc": 2}}, resume=False)
        assert e.value.code == "invalid_argument" and "train.device" in str(e.value) and "train.nproc" in str(e.value)
        assert not (tmp_path / "runs" / "nowhere").exists() and not (tmp_path / "runs" / "wide").exists()
    finally:
        for rid in ("pinned", "auto", "second"):
            try:
                m.cancel(rid, graceful=False)
            except jobs.JobError:
                pass
