"""The server's gates, without a network: the token interceptor (constant-time, health exempt),
the guard that turns undecodable request bytes into INVALID_ARGUMENT, field paths in spec
errors, Evaluate's own checks, and an idempotent resume that is sent twice."""
import hmac
import json
import stat
import sys
import time
from types import SimpleNamespace

import grpc
import pytest
import torch

from projhead.v1 import worker_pb2 as pb
from projhead_worker import jobs, server
from projhead_worker.config import RunConfig, SpecError


class Aborted(Exception):
    pass


class FakeContext:
    def abort(self, code, details):
        raise Aborted(code, details)


def _handler(streaming=False):
    deser = pb.WatchRunRequest.FromString
    if streaming:
        return grpc.unary_stream_rpc_method_handler(lambda req, ctx: iter([req]), deser, lambda m: m.SerializeToString())
    return grpc.unary_unary_rpc_method_handler(lambda req, ctx: req, deser, lambda m: m.SerializeToString())


def _details(method, token=None):
    md = (("authorization", f"Bearer {token}"),) if token is not None else ()
    return SimpleNamespace(method=method, invocation_metadata=md)


def test_token_interceptor_compares_in_constant_time_and_exempts_health(monkeypatch):
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(server.hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    auth = server.TokenAuthInterceptor("s3cret")
    ok = auth.intercept_service(lambda d: _handler(), _details("/projhead.v1.Worker/ListRuns", "s3cret"))
    assert ok.unary_unary(pb.WatchRunRequest(run_id="a"), FakeContext()).run_id == "a"
    assert calls == [(b"Bearer s3cret", b"Bearer s3cret")]
    for method, token in [("/projhead.v1.Worker/ListRuns", None), ("/projhead.v1.Worker/ListRuns", "s3cre"),
                          ("/projhead.v1.Worker/WatchRun", "wrong")]:
        h = auth.intercept_service(lambda d: _handler(streaming=method.endswith("WatchRun")), _details(method, token))
        behavior = h.unary_stream if h.response_streaming else h.unary_unary
        with pytest.raises(Aborted) as e:
            behavior(pb.WatchRunRequest(), FakeContext())
        assert e.value.args[0] == grpc.StatusCode.UNAUTHENTICATED
    calls.clear()
    health = auth.intercept_service(lambda d: "health handler", _details("/grpc.health.v1.Health/Check"))
    assert health == "health handler" and calls == []


@pytest.mark.parametrize("streaming", [False, True])
def test_undecodable_requests_are_invalid_argument(streaming):
    guard = server.RequestGuardInterceptor()
    h = guard.intercept_service(lambda d: _handler(streaming), _details("/projhead.v1.Worker/WatchRun"))
    behavior = h.unary_stream if streaming else h.unary_unary
    good = h.request_deserializer(pb.WatchRunRequest(run_id="ok").SerializeToString())
    assert good.run_id == "ok"
    for raw in (b"\x0a\x02\xff\xfe", b"\x0a\x10a", b"\xff" * 11):
        req = h.request_deserializer(raw)
        with pytest.raises(Aborted) as e:
            behavior(req, FakeContext())
        code, details = e.value.args
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a valid request message for /projhead.v1.Worker/WatchRun" in details


def test_unknown_enum_number_names_the_full_field_path():
    spec = pb.RunSpec(run_id="r", train=pb.TrainSpec(precision=99))
    with pytest.raises(SpecError) as e:
        server.message_to_dict(spec)
    assert e.value.field == "train.precision"
    assert server._status_of(e.value) == (grpc.StatusCode.INVALID_ARGUMENT, f"spec.{e.value}")


@pytest.mark.parametrize("fields, field", [
    ({"probe_epochs": 2**32 - 1}, "probe_epochs"),
    ({"knn_k": 100_001}, "knn_k"),
    ({"device": "tpu"}, "device"),
    ({"layers": ["h", "../x"]}, "layers[1]"),
    ({"layers": ["z"] * 65}, "layers"),
])
def test_evaluate_fields_are_checked(fields, field):
    with pytest.raises(jobs.JobError) as e:
        server._check_evaluate(pb.EvaluateRequest(run_id="r", **fields))
    assert e.value.code == "invalid_argument" and str(e.value).startswith(f"{field}:")
    server._check_evaluate(pb.EvaluateRequest(run_id="r", layers=["h", "head.1", "z"], device="cuda:0", knn_k=200))


def test_empty_run_id_is_refused_not_defaulted(tmp_path):
    m = jobs.JobManager(tmp_path)
    with pytest.raises(jobs.JobError) as e:
        m.start({"run_id": ""}, resume=False)
    assert e.value.code == "invalid_argument" and "run_id" in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_a_resume_sent_twice_starts_once_and_tells_both_where_it_continues(tmp_path):
    # A stand-in for the training interpreter: it holds the run (and its lock) until killed.
    fake = tmp_path / "fake-python"
    fake.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(60)\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    root = tmp_path / "runs"
    run = root / "r"
    (run / "checkpoints").mkdir(parents=True)
    spec = RunConfig.from_dict({"run_id": "r"}).to_dict()
    (run / "worker-spec.json").write_text(json.dumps(spec))
    kinds = ["started", "step", "checkpoint", "step", "cancelled"]
    (run / "worker-events.jsonl").write_text("".join(json.dumps({"seq": i + 1, "time": 0, "type": t}) + "\n" for i, t in enumerate(kinds)))
    torch.save({"format": "projhead.ckpt.v1", "seq": 3}, run / "checkpoints" / "last.pt")
    (run / "checkpoints" / ".last.pt.tmp-4242").write_bytes(b"partial")

    m = jobs.JobManager(root, python=str(fake))
    try:
        status, created, resumed_from = m.start(spec, resume=True)
        assert (created, resumed_from, status["state"]) == (True, 3, "running")
        assert not (run / "checkpoints" / ".last.pt.tmp-4242").exists()
        assert [json.loads(l)["seq"] for l in (run / "worker-events.jsonl").read_text().splitlines()] == [1, 2, 3]
        # the same request again (its answer was lost): nothing new starts, same seq
        _, created, resumed_from = m.start(spec, resume=True)
        assert (created, resumed_from) == (False, 3)
        assert int((run / "train.lock").read_text()) == m.get("r").proc.pid
        with pytest.raises(jobs.JobError, match="still being trained"):
            jobs._wait_for_training_lock(run, timeout=0.2)
    finally:
        m.cancel("r", graceful=False)
        deadline = time.time() + 10
        while m.get("r").active and time.time() < deadline:
            time.sleep(0.05)
    assert m.get("r").state == "cancelled"
    jobs._wait_for_training_lock(run, timeout=5)  # the lock went with the process
