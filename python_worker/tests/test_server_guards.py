"""The server's gates, without a network: the token interceptor (constant-time, health exempt),
the guard that turns undecodable request bytes into INVALID_ARGUMENT, field paths in spec
errors, Evaluate's own checks, and an idempotent resume that is sent twice."""
import hmac
import json
import os
import stat
import subprocess
import sys
import time
from types import SimpleNamespace

import grpc
import pytest
import torch

from projhead.v1 import worker_pb2 as pb
from projhead_worker.common.config import RunConfig, SpecError
from projhead_worker.server import jobs, resume
from projhead_worker.server import service as server


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
    assert calls == [(b"s3cret", b"s3cret")]
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
    ({"eval": pb.EvalSpec(probe_max_iter=2**32 - 1)}, "eval.probe_max_iter"),
    ({"eval": pb.EvalSpec(knn_k=100_001)}, "eval.knn_k"),
    ({"eval": pb.EvalSpec(val_fraction=0.01)}, "eval.val_fraction"),
    ({"device": "tpu"}, "device"),
    ({"layers": ["h", "../x"]}, "layers[1]"),
    ({"layers": ["z"] * 65}, "layers"),
])
def test_evaluate_fields_are_checked(fields, field):
    with pytest.raises(jobs.JobError) as e:
        server._check_evaluate(pb.EvaluateRequest(run_id="r", **fields))
    assert e.value.code == "invalid_argument" and str(e.value).startswith(f"{field}:")
    server._check_evaluate(pb.EvaluateRequest(run_id="r", layers=["h", "head.1", "z"], device="cuda:0", eval=pb.EvalSpec(knn_k=200)))


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
            resume.wait_for_training_lock(run, timeout=0.2)
    finally:
        m.cancel("r", graceful=False)
        deadline = time.time() + 10
        while m.get("r").active and time.time() < deadline:
            time.sleep(0.05)
    assert m.get("r").state == "cancelled"
    resume.wait_for_training_lock(run, timeout=5)  # the lock went with the process


def test_run_ids_match_as_a_whole_string(tmp_path):
    # "$" alone matches before a final newline: "nl\n" would make a directory 'nl\n'
    m = jobs.JobManager(tmp_path)
    for bad in ["nl\n", "nl\r", "\nnl", "a\x00", "..", "a/b", "x" * 129]:
        with pytest.raises(jobs.JobError) as e:
            m.start({"run_id": bad}, resume=False)
        assert e.value.code == "invalid_argument" and "run_id" in str(e.value)
        with pytest.raises(jobs.JobError):
            m.get(bad)
    with pytest.raises(SpecError):
        RunConfig.from_dict({"run_id": "ok", "train": {"device": "cpu\n"}})
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_echoed_values_are_cut(tmp_path):
    m = jobs.JobManager(tmp_path)
    huge = "x" * 10_000 + "\n"
    for call in (lambda: m.start({"run_id": huge}, resume=False), lambda: m.get(huge),
                 lambda: m.start({"run_id": "ok", "name": huge}, resume=False),
                 lambda: m.start({"run_id": "ok", "method": {"name": huge}}, resume=False)):
        with pytest.raises(jobs.JobError) as e:
            call()
        assert len(str(e.value)) < 400 and "(10001 bytes)" in str(e.value), str(e.value)[:200]
    req = pb.EvaluateRequest(run_id="r", device="d" * 5000, layers=["h" * 5000])
    with pytest.raises(jobs.JobError) as e:
        server._check_evaluate(req)
    assert len(str(e.value)) < 400


def test_training_processes_do_not_inherit_the_token(tmp_path, monkeypatch):
    monkeypatch.setenv("PROJHEAD_TOKEN", "a-secret-token-0123456789")
    out = tmp_path / "env.json"
    fake = tmp_path / "fake-python"
    fake.write_text(f"#!{sys.executable}\nimport json, os\nopen({str(out)!r}, 'w').write(json.dumps(dict(os.environ)))\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    m = jobs.JobManager(tmp_path / "runs", python=str(fake))
    m.start({"run_id": "env"}, resume=False)
    deadline = time.time() + 20
    while m.get("env").active and time.time() < deadline:
        time.sleep(0.05)
    env = json.loads(out.read_text())
    assert "PROJHEAD_TOKEN" not in env and "a-secret-token-0123456789" not in json.dumps(env)
    assert env["PROJHEAD_LOCK_FD"]  # the rest of the environment is there


@pytest.mark.parametrize("content, why", [
    (b"", "empty"), (b"   \n", "empty"), (b"\n", "empty"), (b"short", "5 bytes"),
    (b"0123456789abcdef\nsecond-line-here", "printable ASCII"), (b"0123456789 abcdef", "printable ASCII"),
])
def test_bad_tokens_are_refused_at_start(tmp_path, content, why):
    f = tmp_path / "token"
    f.write_bytes(content)
    r = subprocess.run([sys.executable, "-m", "projhead_worker", "serve", "--token-file", str(f), "--run-root", str(tmp_path / "runs")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert why in r.stderr and "--token-file" in r.stderr, r.stderr
    assert not (tmp_path / "runs").exists()


def test_token_file_with_a_final_newline_works_and_bearer_is_case_insensitive(tmp_path, monkeypatch):
    from projhead_worker.__main__ import read_token

    monkeypatch.delenv("PROJHEAD_TOKEN", raising=False)
    f = tmp_path / "token"
    f.write_bytes(b"0123456789abcdef-token\n")
    assert read_token(str(f)) == "0123456789abcdef-token"
    auth = server.TokenAuthInterceptor("0123456789abcdef-token")
    for header in ["Bearer 0123456789abcdef-token", "bearer 0123456789abcdef-token", "BEARER 0123456789abcdef-token"]:
        assert auth._check((("authorization", header),)) == ""
    assert "more than one" in auth._check((("authorization", "Bearer 0123456789abcdef-token"),) * 2)
    assert auth._check((("authorization", "Basic 0123456789abcdef-token"),))
    assert auth._check((("authorization", "Bearer 0123456789abcdef-toke"),))
    monkeypatch.setenv("PROJHEAD_TOKEN", "0123456789abcdef-env")
    assert read_token(None) == "0123456789abcdef-env" and "PROJHEAD_TOKEN" not in os.environ


def test_symlinks_in_the_run_root_are_refused_not_followed(tmp_path):
    root, outside = tmp_path / "runs", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "x").symlink_to(outside)
    m = jobs.JobManager(root)
    for resume in (False, True):
        with pytest.raises(jobs.JobError) as e:
            m.start({"run_id": "x"}, resume=resume)
        assert e.value.code == "failed_precondition" and "symbolic link" in str(e.value)
    # a run whose files are links: refused on resume, skipped at load
    run = root / "y"
    run.mkdir()
    (run / "worker-spec.json").write_text(json.dumps(RunConfig.from_dict({"run_id": "y"}).to_dict()))
    (outside / "events").write_text("")
    (run / "worker-events.jsonl").symlink_to(outside / "events")
    with pytest.raises(jobs.JobError, match="symbolic link"):
        m.start({"run_id": "y"}, resume=True)
    assert [p.name for p in outside.iterdir()] == ["events"] and (outside / "events").read_text() == ""
    assert "y" not in [s["run_id"] for s in jobs.JobManager(root).list()]


def test_a_start_that_differs_only_in_epochs_on_an_active_run_says_so(tmp_path):
    fake = tmp_path / "fake-python"
    fake.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(60)\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    m = jobs.JobManager(tmp_path / "runs", python=str(fake))
    try:
        m.start({"run_id": "e", "train": {"epochs": 3}}, resume=False)
        assert m.start({"run_id": "e", "train": {"epochs": 3}}, resume=False)[1] is False  # a retry: fine
        with pytest.raises(jobs.JobError) as e:
            m.start({"run_id": "e", "train": {"epochs": 9}}, resume=False)
        assert e.value.code == "already_exists" and "train.epochs" in str(e.value) and "9" in str(e.value)
    finally:
        m.cancel("e", graceful=False)
