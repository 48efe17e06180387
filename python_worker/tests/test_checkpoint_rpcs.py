"""Evaluate, ExportBackbone and resume against bad checkpoints, over real gRPC: every corrupt,
foreign or mismatched file is FAILED_PRECONDITION "<path>: not a projhead checkpoint (...)" or
"checkpoint is for <arch>, the request asks for <arch>", never INTERNAL and never torch's advice;
Evaluate checks layers against the checkpoint's model before it loads data, runs in its own
process, and stops when the client goes away."""
import io
import json
import os
import pickle
import time
import zipfile

import grpc
import pytest
import torch
from conftest import wait_for as _wait
from live import live_worker

from projhead.v1 import worker_pb2 as pb
from projhead_worker.server import jobs

TINY = {
    "run_id": "base",
    "data": {"name": "shapes", "train_limit": 64, "test_limit": 32, "synthetic_size": 128},
    "model": {"backbone": "convnet", "width": 4, "head": {"hidden_dims": [16], "out_dim": 8}},
    "train": {"epochs": 1, "batch_size": 16, "device": "cpu", "precision": "fp32", "log_every_steps": 1,
              "knn_every_epochs": 0, "checkpoint_every_epochs": 0, "threads": 1},
}




class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/projhead-evil-ran",))


def _bad_files(good: bytes) -> dict[str, bytes]:
    """16 files that are not usable checkpoints of run `base`."""
    ckpt = torch.load(io.BytesIO(good), weights_only=True)

    def saved(obj) -> bytes:
        b = io.BytesIO()
        torch.save(obj, b)
        return b.getvalue()

    flipped = bytearray(good)
    for i in range(len(flipped) // 3, len(flipped) // 3 + 64):
        flipped[i] ^= 0xFF
    wrong_arch = dict(ckpt, spec=json.loads(json.dumps(ckpt["spec"])))
    wrong_arch["spec"]["model"]["head"]["hidden_dims"] = [32]
    shrunk = dict(ckpt, model={k: v[..., :1] if v.dim() else v for k, v in ckpt["model"].items()})
    return {
        "random": os.urandom(4096),
        "empty": b"",
        "text": b"hello, not a checkpoint\n",
        "pickle": pickle.dumps({"format": "projhead.ckpt.v1", "x": 1}),
        "evil-pickle": pickle.dumps(Evil()),
        "evil-in-torch": saved({**ckpt, "evil": Evil()}),
        "truncated-half": good[: len(good) // 2],
        "truncated-tail": good[:-100],
        "flipped": bytes(flipped),
        "zip-not-torch": _zip(),
        "foreign": saved({"state_dict": {"w": torch.zeros(2)}, "epoch": 3}),
        "no-format": saved({k: v for k, v in ckpt.items() if k != "format"}),
        "no-model": saved({k: v for k, v in ckpt.items() if k != "model"}),
        "tensor-only": saved(torch.zeros(3)),
        "wrong-weights": saved(shrunk),
        "wrong-arch": saved(wrong_arch),
    }


def _zip() -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr("data.pkl", b"junk")
    return b.getvalue()


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt-rpcs") / "runs"
    with live_worker(root) as w:
        w.jobs.start(json.loads(json.dumps(TINY)), resume=False)
        _wait(lambda: not w.jobs.get("base").active, what="the base run", timeout=120)
        assert w.jobs.get("base").state == "finished", w.jobs.get("base").error
        yield w


def _code(call):
    try:
        for _ in call:
            pass
    except grpc.RpcError as e:
        return e.code(), e.details()
    return grpc.StatusCode.OK, ""


def test_evaluate_works_in_its_own_process_and_checks_layers_first(worker):
    done = [e for e in worker.stub.Evaluate(pb.EvaluateRequest(run_id="base", layers=["h", "z"], eval=pb.EvalSpec(probe_max_iter=1)), timeout=120)
            if e.WhichOneof("kind") == "done"]
    assert [l.layer for l in done[0].done.layers] == ["h", "z"]
    t0 = time.monotonic()
    code, msg = _code(worker.stub.Evaluate(pb.EvaluateRequest(run_id="base", layers=["head.7"]), timeout=60))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, msg)
    assert "layers[0]" in msg and "h, head.1, z" in msg, msg
    assert time.monotonic() - t0 < 30


def test_every_bad_checkpoint_is_a_clean_failed_precondition(worker):
    run_dir = worker.jobs.run_dir("base")
    good = (run_dir / "checkpoints" / "last.pt").read_bytes()
    bad = _bad_files(good)
    assert len(bad) == 16
    for name, data in bad.items():
        (run_dir / "checkpoints" / f"bad-{name}.pt").write_bytes(data)
    for name in bad:
        rel = f"checkpoints/bad-{name}.pt"
        for rpc, call in (("Evaluate", lambda: worker.stub.Evaluate(pb.EvaluateRequest(run_id="base", checkpoint=rel, layers=["h"]), timeout=60)),
                          ("ExportBackbone", lambda: worker.stub.ExportBackbone(pb.ExportBackboneRequest(run_id="base", checkpoint=rel), timeout=60))):
            code, msg = _code(call())
            if name == "wrong-arch" and rpc == "ExportBackbone":
                assert code in (grpc.StatusCode.OK, grpc.StatusCode.FAILED_PRECONDITION), (name, rpc, code, msg)
                continue
            assert code == grpc.StatusCode.FAILED_PRECONDITION, (name, rpc, code, msg)
            assert "not a projhead checkpoint" in msg or "checkpoint is for" in msg, (name, rpc, msg)
            assert "weights_only" not in msg and "Traceback" not in msg and len(msg) < 600, (name, rpc, msg)
    assert not os.path.exists("/tmp/projhead-evil-ran")


def test_resume_from_a_bad_checkpoint_is_a_clean_failed_precondition(worker, tmp_path):
    run_dir = worker.jobs.run_dir("base")
    good = (run_dir / "checkpoints" / "last.pt").read_bytes()
    bad = _bad_files(good)
    for name in ("random", "empty", "evil-pickle", "truncated-half", "foreign", "wrong-arch"):
        (run_dir / "checkpoints" / "last.pt").write_bytes(bad[name])
        spec = json.loads(json.dumps(TINY))
        spec["train"]["epochs"] = 2
        with pytest.raises(jobs.JobError) as e:
            worker.jobs.start(spec, resume=True)
        assert e.value.code == "failed_precondition", (name, e.value)
        assert "not a projhead checkpoint" in str(e.value) or "checkpoint is for" in str(e.value), (name, str(e.value))
    (run_dir / "checkpoints" / "last.pt").write_bytes(good)


def test_evaluate_stops_when_the_client_goes_away(worker):
    call = worker.stub.Evaluate(pb.EvaluateRequest(run_id="base", eval=pb.EvalSpec(probe_max_iter=100000)), timeout=120)
    first = next(call)  # the process runs
    assert first.WhichOneof("kind") == "log"
    procs = _evaluate_processes()
    assert procs, "an evaluation process runs"
    call.cancel()
    _wait(lambda: not _evaluate_processes(), timeout=15, what="the evaluation process to stop")


def _evaluate_processes() -> list[int]:
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if b"projhead_worker.training.evaluation.job" in cmd and str(os.getpid()).encode() not in cmd:
            try:
                state, ppid = open(f"/proc/{pid}/stat").read().rsplit(") ", 1)[1].split()[:2]
            except (OSError, ValueError):
                continue
            # This test's worker runs in this process: its evaluations are our children (an
            # evaluation of another worker on the machine is not this test's business).
            if state != "Z" and int(ppid) == os.getpid():
                out.append(int(pid))
    return out
