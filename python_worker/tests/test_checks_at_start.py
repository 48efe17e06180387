"""What can be known at the request is answered at the request, by name, over real gRPC: specs
that could only fail later inside the training process (train.nnodes outside SLURM, a DirectCLR
dimension above the backbone's features, a batch the processes cannot share or the data cannot
fill); checkpoints whose stored spec is invalid (one answer for Evaluate and ExportBackbone,
naming the file); a checkpoint's stored data.root confined like every other path; and TLS files
that are not what they should be, named at start-up."""
import json
import subprocess
import sys

import grpc
import pytest
import torch
from conftest import wait_for
from live import live_worker

from projhead.v1 import worker_pb2 as pb
from projhead_worker.common.config import RunConfig, SpecError

TINY = {
    "run_id": "base",
    "data": {"name": "shapes", "train_limit": 64, "test_limit": 32, "synthetic_size": 128},
    "model": {"backbone": "convnet", "width": 4, "head": {"hidden_dims": [16], "out_dim": 8}},
    "train": {"epochs": 1, "batch_size": 16, "device": "cpu", "precision": "fp32", "log_every_steps": 1,
              "knn_every_epochs": 0, "checkpoint_every_epochs": 0, "threads": 1},
}


def _spec(**sections) -> pb.RunSpec:
    return pb.RunSpec(run_id="late", data=pb.DataSpec(name="shapes", synthetic_size=128),
                      model=pb.ModelSpec(backbone="convnet", width=4), **sections)


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    root = tmp_path_factory.mktemp("checks") / "runs"
    data = tmp_path_factory.mktemp("data")
    with live_worker(root, data_roots=[data]) as w:
        w.jobs.start(json.loads(json.dumps(TINY)), resume=False)
        wait_for(lambda: not w.jobs.get("base").active, what="the base run", timeout=120)
        assert w.jobs.get("base").state == "finished", w.jobs.get("base").error
        w.data = data
        yield w


@pytest.mark.parametrize("spec, code, field, words", [
    (_spec(train=pb.TrainSpec(nnodes=2, batch_size=64, device="cpu")), "FAILED_PRECONDITION", "train.nnodes: got 2",
     "outside a SLURM job"),
    (_spec(train=pb.TrainSpec(nnodes=4096, device="cpu")), "INVALID_ARGUMENT", "train.nnodes", "= 4096"),
    (_spec(method=pb.MethodSpec(name="directclr", directclr_dim=65536), train=pb.TrainSpec(device="cpu")),
     "INVALID_ARGUMENT", "method.directclr_dim", "feature dimension 32"),
    (_spec(train=pb.TrainSpec(nproc=2, batch_size=15, device="cpu")), "INVALID_ARGUMENT", "train.batch_size", "multiple of"),
    (_spec(train=pb.TrainSpec(batch_size=256, device="cpu")), "INVALID_ARGUMENT", "train.batch_size", "128 training images"),
    (_spec(train=pb.TrainSpec(nproc=2, device="cuda:1")), "INVALID_ARGUMENT", "train.device", "train.nproc"),
])
def test_specs_that_would_fail_later_are_refused_at_start_run_naming_the_field(worker, spec, code, field, words):
    with pytest.raises(grpc.RpcError) as e:
        worker.stub.StartRun(pb.StartRunRequest(spec=spec), timeout=10)
    assert e.value.code().name == code, e.value.details()
    assert field in e.value.details() and words in e.value.details(), e.value.details()
    assert not (worker.jobs.run_root / "late").exists(), "nothing written"


def test_the_cross_field_rules_leave_an_evaluation_its_own_data():
    # an evaluation on a smaller data set than the run's batch is fine (training=False)
    spec = {**TINY, "train": {**TINY["train"], "batch_size": 64}, "data": {**TINY["data"], "train_limit": 32}}
    with pytest.raises(SpecError, match="train.batch_size"):
        RunConfig.from_dict(spec)
    assert RunConfig.from_dict(spec, training=False).data.train_limit == 32


def _planted(worker, name: str, change) -> str:
    ckpt = torch.load(worker.jobs.run_root / "base" / "checkpoints" / "last.pt", weights_only=True)
    change(ckpt["spec"])
    torch.save(ckpt, worker.jobs.run_root / "base" / "checkpoints" / f"{name}.pt")
    return f"checkpoints/{name}.pt"


def _status(call) -> tuple[str, str]:
    try:
        for _ in call:
            pass
    except grpc.RpcError as e:
        return e.code().name, e.details()
    return "OK", ""


def test_a_checkpoint_with_an_invalid_stored_spec_gets_one_answer_from_evaluate_and_export(worker):
    rel = _planted(worker, "nan-lr", lambda s: s["optim"].__setitem__("lr", float("nan")))
    path = str(worker.jobs.run_root.resolve() / "base" / rel)
    answers = {
        "evaluate": _status(worker.stub.Evaluate(pb.EvaluateRequest(run_id="base", checkpoint=rel), timeout=60)),
        "evaluate with data": _status(worker.stub.Evaluate(pb.EvaluateRequest(
            run_id="base", checkpoint=rel, data=pb.DataSpec(name="shapes", synthetic_size=64)), timeout=60)),
        "export": _status(worker.stub.ExportBackbone(pb.ExportBackboneRequest(run_id="base", checkpoint=rel), timeout=60)),
    }
    for what, (code, details) in answers.items():
        assert code == "FAILED_PRECONDITION", (what, code, details)
        assert details.startswith(f"{path}: not a projhead checkpoint (its spec is invalid: optim.lr"), (what, details)


def test_a_stored_data_root_outside_the_data_roots_is_refused(worker):
    rel = _planted(worker, "etc-root", lambda s: s["data"].update(name="imagefolder", root="/etc"))
    code, details = _status(worker.stub.Evaluate(pb.EvaluateRequest(run_id="base", checkpoint=rel), timeout=60))
    assert code == "PERMISSION_DENIED", (code, details)
    assert "data.root" in details and "'/etc'" in details and "outside the worker's data roots" in details
    # a data override that names a dataset but no root keeps the stored one: confined as well
    code, details = _status(worker.stub.Evaluate(pb.EvaluateRequest(
        run_id="base", checkpoint=rel, data=pb.DataSpec(name="imagefolder")), timeout=60))
    assert code == "PERMISSION_DENIED" and "data.root" in details, (code, details)
    # inside the roots it is used (and a missing folder is the dataset's problem, named)
    inside = _planted(worker, "inside-root", lambda s: s["data"].update(name="imagefolder", root=str(worker.data / "none")))
    code, details = _status(worker.stub.Evaluate(pb.EvaluateRequest(run_id="base", checkpoint=inside), timeout=120))
    assert code == "FAILED_PRECONDITION" and str(worker.data / "none") in details, (code, details)


def _serve(tmp_path, *flags) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "projhead_worker", "serve", "--run-root", str(tmp_path / "runs"), *flags],
                          capture_output=True, text=True, timeout=60)


def test_tls_files_that_are_not_pem_are_named_at_start(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
    other_key = tmp_path / "other-key.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(other_key), "2048"], check=True, capture_output=True)
    junk = tmp_path / "junk.txt"
    junk.write_text("hello, not a certificate\n")
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    cases = [
        (["--tls-cert", str(junk), "--tls-key", str(key)], f"--tls-cert {str(junk)!r}: not a PEM certificate"),
        (["--tls-cert", str(broken), "--tls-key", str(key)], f"--tls-cert {str(broken)!r}: not a valid PEM certificate"),
        (["--tls-cert", str(cert), "--tls-key", str(junk)], f"--tls-key {str(junk)!r}: not a PEM private key"),
        (["--tls-cert", str(cert), "--tls-key", str(other_key)], f"--tls-key {str(other_key)!r}: is not the key of the certificate"),
        (["--tls-cert", str(cert), "--tls-key", str(key), "--tls-client-ca", str(junk)],
         f"--tls-client-ca {str(junk)!r}: not a PEM certificate"),
        (["--tls-cert", str(tmp_path / "missing.pem"), "--tls-key", str(key)], "No such file"),
    ]
    for flags, words in cases:
        r = _serve(tmp_path, *flags)
        assert r.returncode == 2, (flags, r.returncode, r.stderr)
        assert words in r.stderr and "Failed to bind" not in r.stderr, (flags, r.stderr)
        assert not (tmp_path / "runs").exists(), "nothing created"
