"""Fuzz of every RPC of a real worker process (python -m projhead_worker serve) with malformed and
extreme requests: random bytes, every numeric field of RunSpec at its extremes (NaN, inf, max
values), strings that are huge, carry NUL, newlines, control or bidi characters, traversal,
symlinks, repeated fields with thousands of entries. Each answer must be a clean status (never
INTERNAL or UNKNOWN) whose message names the field and stays short; a refused request writes
nothing; health is SERVING afterwards; the worker's peak RSS stays under RSS_BOUND.

The worker runs with --max-memory 1M: every spec that passes validation is then refused by the
memory check (RESOURCE_EXHAUSTED naming --max-memory), so no request trains anything."""
import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from projhead.v1 import worker_pb2 as pb

RSS_BOUND = 1536 * 2**20  # peak resident memory of the worker during the fuzz
MAX_MESSAGE = 1024
SERVICE = "/projhead.v1.Worker/"
BAD = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE}
STRINGS = ["x" * 10_000, "a\x00b", "nl\n", "../../etc/passwd", "\u202eevil\u202c", "ü" * 300, "\x1b[31m", " "]


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz")
    root, outside = base / "runs", base / "outside"
    (root / "existing" / "checkpoints").mkdir(parents=True)
    outside.mkdir()
    (root / "existing" / "worker-spec.json").write_text(json.dumps({"run_id": "existing", "train": {"epochs": 1}}))
    (root / "existing" / "worker-events.jsonl").write_text('{"seq": 1, "time": 0, "type": "started"}\n'
                                                           '{"seq": 2, "time": 0, "type": "cancelled", "step": 0, "checkpoint": ""}\n')
    (outside / "secret.pt").write_bytes(b"secret")
    (root / "existing" / "checkpoints" / "evil.pt").symlink_to(outside / "secret.pt")
    (root / "link").symlink_to(outside)
    env = {k: v for k, v in os.environ.items() if k != "PROJHEAD_TOKEN"}
    proc = subprocess.Popen([sys.executable, "-m", "projhead_worker", "serve", "--port", "0", "--run-root", str(root),
                             "--max-memory", "1M"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        ready = json.loads(proc.stdout.readline())
        channel = grpc.insecure_channel(ready["address"])
        grpc.channel_ready_future(channel).result(timeout=30)
        yield proc, channel, root, outside
        channel.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _snapshot(root: Path, outside: Path) -> list[str]:
    # The storage check's own probe file (storage.py) comes and goes every few seconds: not a write
    # of the request's.
    return sorted(str(p) for d in (root, outside) for p in d.rglob("*") if not p.name.startswith(".projhead-probe-"))


def _call(channel, method: str, payload: bytes, streaming: bool):
    if streaming:
        call = channel.unary_stream(SERVICE + method, request_serializer=None, response_deserializer=None)
        try:
            for _ in call(payload, timeout=30):
                pass
        except grpc.RpcError as e:
            return e.code(), e.details() or ""
        return grpc.StatusCode.OK, ""
    call = channel.unary_unary(SERVICE + method, request_serializer=None, response_deserializer=None)
    try:
        call(payload, timeout=30)
    except grpc.RpcError as e:
        return e.code(), e.details() or ""
    return grpc.StatusCode.OK, ""


STREAMING = {"WatchRun", "Evaluate", "ExportBackbone"}


def _extremes(field):
    t = field.type
    F = field
    if t in (F.TYPE_FLOAT, F.TYPE_DOUBLE):
        return [math.nan, math.inf, -math.inf, -1e308, 1e308, -0.0]
    if t in (F.TYPE_UINT32, F.TYPE_FIXED32):
        return [2**32 - 1, 2**31]
    if t in (F.TYPE_UINT64, F.TYPE_FIXED64):
        return [2**64 - 1]
    if t in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32):
        return [-(2**31), 2**31 - 1]
    if t in (F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64):
        return [-(2**63), 2**63 - 1]
    if t == F.TYPE_STRING:
        return STRINGS[:4]
    if t == F.TYPE_ENUM:
        return [99, -1]
    return []


def _spec_cases():
    """(path, RunSpec) with one field of RunSpec set to an extreme, for every scalar field."""
    cases = []

    def walk(desc, path):
        for f in desc.fields:
            p = f"{path}{f.name}"
            if f.message_type is not None and not _repeated(f):
                walk(f.message_type, p + ".")
                continue
            values = _extremes(f)
            if _repeated(f) and values:
                values = [[values[0]] * 3, [1] * 5000]
            for v in values:
                cases.append((p, f, v))

    walk(pb.RunSpec.DESCRIPTOR, "")
    return cases


def _repeated(f) -> bool:
    rep = getattr(f, "is_repeated", None)
    return rep if rep is not None else f.label == f.LABEL_REPEATED


def _set(spec, path: str, value):
    *parents, leaf = path.split(".")
    m = spec
    for p in parents:
        m = getattr(m, p)
    if isinstance(value, list):
        getattr(m, leaf).extend(value)
    else:
        setattr(m, leaf, value)


def _cases():
    """(name, method, request bytes, words one of which the error must contain)."""
    rng = random.Random(1234)
    out = []
    methods = ["GetInfo", "StartRun", "WatchRun", "CancelRun", "ListRuns", "Evaluate", "ExportBackbone"]
    for m in methods:
        for i in range(6):
            out.append((f"{m} random bytes {i}", m, rng.randbytes(rng.choice([1, 7, 64, 1000])), ["request", "run_id", "spec.", None]))
        out.append((f"{m} truncated varint", m, b"\x08\xff\xff", ["request", None]))
        out.append((f"{m} bad utf-8 in field 1", m, b"\x0a\x02\xff\xfe", ["request", "run_id", None]))
    for path, f, v in _spec_cases():
        spec = pb.RunSpec(run_id="fz")
        if path == "run_id":
            spec.run_id = ""
        try:
            _set(spec, path, v)
        except (ValueError, TypeError):
            continue
        out.append((f"StartRun spec.{path}={str(v)[:20]!r}", "StartRun", pb.StartRunRequest(spec=spec, resume=random.random() < 0.2).SerializeToString(),
                    [f"spec.{path}", "--max-memory"] + (["spec.data.root", "data roots"] if path == "data.root" else [])))
    for s in STRINGS + ["", "..", ".hidden", "a/b", "link", "x" * 129]:
        for m, req in (("StartRun", pb.StartRunRequest(spec=pb.RunSpec(run_id=s))), ("WatchRun", pb.WatchRunRequest(run_id=s, from_seq=2**64 - 1)),
                       ("CancelRun", pb.CancelRunRequest(run_id=s)), ("Evaluate", pb.EvaluateRequest(run_id=s)),
                       ("ExportBackbone", pb.ExportBackboneRequest(run_id=s))):
            out.append((f"{m} run_id {s[:20]!r}", m, req.SerializeToString(), ["run_id", "symbolic link"]))
    for c in ["../../etc/passwd", "/etc/passwd", "checkpoints/evil.pt", "worker-spec.json", "a\x00b", "x" * 10_000, "checkpoints/../../x.pt", ""]:
        for m, req in (("Evaluate", pb.EvaluateRequest(run_id="existing", checkpoint=c)), ("ExportBackbone", pb.ExportBackboneRequest(run_id="existing", checkpoint=c))):
            out.append((f"{m} checkpoint {c[:20]!r}", m, req.SerializeToString(), ["checkpoint"]))
    evaluate = [
        ("layers 65", pb.EvaluateRequest(run_id="existing", layers=["h"] * 65), ["layers"]),
        ("layers 10000", pb.EvaluateRequest(run_id="existing", layers=["z"] * 10_000), ["layers"]),
        ("layer ../x", pb.EvaluateRequest(run_id="existing", layers=["h", "../x"]), ["layers[1]"]),
        ("layer huge", pb.EvaluateRequest(run_id="existing", layers=["h" * 10_000]), ["layers[0]"]),
        ("layer head.0", pb.EvaluateRequest(run_id="existing", layers=["head.0"]), ["layers[0]"]),
        ("layer nl", pb.EvaluateRequest(run_id="existing", layers=["h\n"]), ["layers[0]"]),
        ("device tpu", pb.EvaluateRequest(run_id="existing", device="tpu"), ["device"]),
        ("device cpu nl", pb.EvaluateRequest(run_id="existing", device="cpu\n"), ["device"]),
        ("device huge", pb.EvaluateRequest(run_id="existing", device="c" * 10_000), ["device"]),
        ("probe_max_iter max", pb.EvaluateRequest(run_id="existing", eval=pb.EvalSpec(probe_max_iter=2**32 - 1)), ["eval.probe_max_iter"]),
        ("knn_k max", pb.EvaluateRequest(run_id="existing", eval=pb.EvalSpec(knn_k=2**32 - 1)), ["eval.knn_k"]),
        ("knn_temperature nan", pb.EvaluateRequest(run_id="existing", eval=pb.EvalSpec(knn_temperature=float("nan"))), ["eval.knn_temperature"]),
        ("val_fraction 0.9", pb.EvaluateRequest(run_id="existing", eval=pb.EvalSpec(val_fraction=0.9)), ["eval.val_fraction"]),
        ("data.root /etc", pb.EvaluateRequest(run_id="existing", data=pb.DataSpec(name="mnist", root="/etc")), ["data.root"]),
        ("data.root nul", pb.EvaluateRequest(run_id="existing", data=pb.DataSpec(name="mnist", root="a\x00")), ["data.root"]),
        ("data.name unknown", pb.EvaluateRequest(run_id="existing", data=pb.DataSpec(name="imagenet-22k")), ["checkpoint", "data.name"]),
        ("data.image_size max", pb.EvaluateRequest(run_id="existing", data=pb.DataSpec(name="shapes", image_size=2**32 - 1)), ["checkpoint", "data.image_size"]),
    ]
    for name, req, words in evaluate:
        out.append((f"Evaluate {name}", "Evaluate", req.SerializeToString(), words))
    return out


def _rss_peak(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def test_fuzz_every_rpc(worker):
    proc, channel, root, outside = worker
    cases = _cases()
    names = [c[0] for c in cases]
    assert len(set(names)) >= 150, f"{len(set(names))} distinct cases"
    before = _snapshot(root, outside)
    failures = []
    t0 = time.monotonic()
    for name, method, payload, words in cases:
        code, msg = _call(channel, method, payload, method in STREAMING)
        if code in BAD:
            failures.append(f"{name}: {code.name} {msg[:200]!r}")
            continue
        if len(msg) > MAX_MESSAGE:
            failures.append(f"{name}: message of {len(msg)} characters")
        if code != grpc.StatusCode.OK and not any(w and w in msg for w in words):
            failures.append(f"{name}: {code.name} {msg[:200]!r} names none of {words}")
        if code == grpc.StatusCode.OK and None not in words:
            failures.append(f"{name}: accepted")
        if _snapshot(root, outside) != before:
            failures.append(f"{name}: wrote {sorted(set(_snapshot(root, outside)) - set(before))[:3]}")
            before = _snapshot(root, outside)
    took = time.monotonic() - t0
    assert not failures, f"{len(failures)} of {len(cases)} cases:\n" + "\n".join(failures[:40])
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert proc.poll() is None, "the worker is still alive"
    peak = _rss_peak(proc.pid)
    assert peak < RSS_BOUND, f"worker peak RSS {peak / 2**20:.0f} MiB"
    print(f"# {len(cases)} requests in {took:.1f} s; worker peak RSS {peak / 2**20:.0f} MiB")
