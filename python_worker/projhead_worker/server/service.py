"""The gRPC servicer: translation between projhead.v1 messages and plain Python values, the
health service, the auth interceptor and TLS. Training logic lives in jobs.py / train.py;
every error becomes a status code here, in `_status_of` alone (errors.classify says which).

Over 450 lines on purpose: it is the whole of the gRPC room (the one module that imports the
generated messages, tests/test_import_direction.py), one handler per RPC of worker.proto and the
message <-> value conversions they share; the work itself is in jobs.py and its neighbours.
"""
from __future__ import annotations

import functools
import hmac
import math
import os
import re
import socket
import sys
import threading
import time
from concurrent import futures
from pathlib import Path
from typing import Any, Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from projhead.v1 import rules_pb2
from projhead.v1 import worker_pb2 as pb
from projhead.v1 import worker_pb2_grpc as pb_grpc

from .. import __version__
from ..common import errors, memory, paths
from ..common.config import RunConfig
from ..common.echo import echo
from ..common.errors import JobError, MalformedRequest, SpecError
from ..common.evalspec import evaluation_config
from .jobs import JobManager
from .supervise import EvaluationProcess
from .threadname import name_os_thread

SERVICE_NAME = "projhead.v1.Worker"
MAX_RECEIVE_BYTES = 4 * 1024 * 1024  # requests are small; anything bigger is a mistake or an attack
MAX_SEND_BYTES = 8 * 1024 * 1024
EXPORT_CHUNK = 1024 * 1024
# Each open stream (WatchRun, Evaluate, ExportBackbone) holds one thread of the pool while it
# lasts. At most max_streams may be open at once (more: RESOURCE_EXHAUSTED), and the pool has
# UNARY_THREADS more than that, so health and the unary calls always find a thread.
DEFAULT_MAX_STREAMS = 64
UNARY_THREADS = 32
RPC_THREAD_NAME = "projhead-rpc"

_RUN_STATE = {
    "pending": pb.RUN_STATE_PENDING, "running": pb.RUN_STATE_RUNNING, "finished": pb.RUN_STATE_FINISHED,
    "failed": pb.RUN_STATE_FAILED, "cancelled": pb.RUN_STATE_CANCELLED, "interrupted": pb.RUN_STATE_INTERRUPTED,
}
_STATUS = {
    errors.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    errors.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    errors.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    errors.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    errors.INTERNAL: grpc.StatusCode.INTERNAL,
}


def _status_of(err: Exception) -> tuple[grpc.StatusCode, str]:
    """The one place where Python errors become gRPC status codes: errors.classify's status."""
    status, message = errors.classify(err, errors.RPC)
    return _STATUS[status], message


def _handle(fn: Callable) -> Callable:
    """Wraps a unary handler so every exception aborts with its mapped status."""

    def wrapper(self, request, context):
        try:
            return fn(self, request, context)
        except Exception as e:  # noqa: BLE001
            code, msg = _status_of(e)
            if code == grpc.StatusCode.INTERNAL:
                print(f"[worker] internal error in {fn.__name__}: {msg}", file=sys.stderr, flush=True)
            context.abort(code, msg)

    wrapper.__name__ = fn.__name__
    return wrapper


def _handle_stream(fn: Callable) -> Callable:
    """Wraps a streaming handler: counted against the worker's stream limit, every exception
    aborts with its mapped status."""

    def wrapper(self, request, context):
        if not self.streams.acquire(blocking=False):
            code, msg = _status_of(JobError(
                "resource_exhausted",
                f"{fn.__name__}: this worker already serves {self.max_streams} open streams (WatchRun, Evaluate and "
                "ExportBackbone together, the limit of serve --max-streams); close some or retry later"))
            context.abort(code, msg)
        try:
            yield from fn(self, request, context)
        except Exception as e:  # noqa: BLE001
            code, msg = _status_of(e)
            context.abort(code, msg)
        finally:
            self.streams.release()

    wrapper.__name__ = fn.__name__
    return wrapper


# -- translation -------------------------------------------------------------------------------

def message_to_dict(msg, prefix: str = "") -> dict[str, Any]:
    """A message as a plain dict with proto field names and Python scalars (zero values kept, so
    the config layer applies its defaults). `prefix` is the dotted path of msg, for errors."""
    out: dict[str, Any] = {}
    for f in msg.DESCRIPTOR.fields:
        value = getattr(msg, f.name)
        if f.message_type is not None and not _is_repeated(f):
            out[f.name] = message_to_dict(value, f"{prefix}{f.name}.") if msg.HasField(f.name) else {}
        elif _is_repeated(f):
            out[f.name] = [message_to_dict(v, f"{prefix}{f.name}[{i}].") if f.message_type else v for i, v in enumerate(value)]
        elif f.enum_type is not None:
            labels = _enum_labels(f.enum_type)
            if value not in labels:
                known = ", ".join(f"{n} ({label})" for n, label in labels.items())
                raise SpecError(prefix + f.name, value, f"a known {f.enum_type.name}: {known}")
            out[f.name] = labels[value]
        else:
            out[f.name] = value
    return out


@functools.cache
def _enum_labels(enum_type) -> dict[int, str]:
    """An enum's wire values -> the names configs use (each value's (projhead.v1.label) option)."""
    return {v.number: v.GetOptions().Extensions[rules_pb2.label] or v.name for v in enum_type.values}


@functools.cache
def _enum_numbers(enum_type) -> dict[str, int]:
    """The reverse of _enum_labels: a config's label -> the enum's wire value."""
    return {label: number for number, label in _enum_labels(enum_type).items()}


def _is_repeated(f) -> bool:
    # protobuf 7 removed FieldDescriptor.label; is_repeated replaces it.
    rep = getattr(f, "is_repeated", None)
    return rep if rep is not None else f.label == f.LABEL_REPEATED


class UnknownField(Exception):
    """An event or record carries a key its proto message has no field for, or a value an enum
    field has no label for (strict mode)."""


# A key that is not a field of its message (a misspelt metric, a field renamed on one side only)
# would otherwise vanish on the way to the client. With PROJHEAD_STRICT_FIELDS=1 (the Python tests'
# conftest sets it, so subprocess workers inherit it) it raises; otherwise the worker logs it once
# per (message type, key) and drops it, because a worker must still serve the event logs an older
# version wrote (e.g. StepMetrics' reserved head_loss_before).
STRICT_FIELDS_ENV = "PROJHEAD_STRICT_FIELDS"
_unknown_logged: set[tuple[str, str]] = set()
_unknown_lock = threading.Lock()


def _unknown_field(msg, name: str) -> None:
    full_name = msg.DESCRIPTOR.full_name
    _drop(msg, name, f"{full_name} has no field {name!r}", f"{name!r}: not a field of {full_name}")


def _unknown_label(msg, name: str, value: str) -> None:
    enum_type = msg.DESCRIPTOR.fields_by_name[name].enum_type
    labels = f"{enum_type.full_name} ({', '.join(_enum_numbers(enum_type))})"
    where = f"{msg.DESCRIPTOR.full_name}.{name}"
    _drop(msg, name, f"{where}: {value!r} is not a label of {labels}", f"{where} {value!r}: not a label of {labels}")


def _drop(msg, name: str, raised: str, logged: str) -> None:
    """Strict: raises UnknownField(raised); else logs `logged` once per (message type, field)."""
    if os.environ.get(STRICT_FIELDS_ENV) == "1":
        raise UnknownField(raised)
    with _unknown_lock:
        if (msg.DESCRIPTOR.full_name, name) in _unknown_logged:
            return
        _unknown_logged.add((msg.DESCRIPTOR.full_name, name))
    print(f"[worker] dropped {logged} (logged once)", file=sys.stderr, flush=True)


def _fill(msg, fields: dict[str, Any]):
    for name, value in fields.items():
        field = msg.DESCRIPTOR.fields_by_name.get(name)
        if field is None:
            _unknown_field(msg, name)
            continue
        if value is None:
            continue
        if field.enum_type is not None and isinstance(value, str):
            # Configs hold an enum by its label (train.precision "bf16"), the message by number.
            number = _enum_numbers(field.enum_type).get(value)
            if number is None:
                _unknown_label(msg, name, value)
            else:
                setattr(msg, name, number)
        elif isinstance(value, dict):  # a sub-message
            _fill(getattr(msg, name), value).SetInParent()
        elif isinstance(value, list) and value and isinstance(value[0], dict):  # repeated messages
            for item in value:
                _fill(getattr(msg, name).add(), item)
        elif isinstance(value, list):
            getattr(msg, name).extend(value)
        else:
            setattr(msg, name, value)
    return msg


def event_to_proto(e: dict[str, Any]) -> pb.RunEvent:
    ev = pb.RunEvent(seq=int(e["seq"]), time=float(e["time"]), run_id=e.get("run_id", ""))
    kind, fields = e["type"], {k: v for k, v in e.items() if k not in ("seq", "time", "type", "run_id")}
    if kind == "finished" and isinstance(fields.get("final_loss"), float) and math.isnan(fields["final_loss"]):
        fields["final_loss"] = float("nan")
    target = {"evaluation": ev.evaluation}.get(kind) or getattr(ev, kind)
    _fill(target, fields)
    if not ev.HasField(kind):
        target.SetInParent()
    return ev


def status_to_proto(s: dict[str, Any]) -> pb.RunStatus:
    return pb.RunStatus(
        run_id=s["run_id"], state=_RUN_STATE[s["state"]], last_seq=s["last_seq"], epoch=s["epoch"], step=s["step"],
        method=s["method"], dataset=s["dataset"], error=s["error"], created_at=s["created_at"],
    )


# -- the servicer ------------------------------------------------------------------------------

class WorkerServicer(pb_grpc.WorkerServicer):
    def __init__(self, jobs: JobManager, data_roots: list[Path], auth_required: bool, tls: bool,
                 max_streams: int = DEFAULT_MAX_STREAMS):
        self.max_streams = max_streams
        self.streams = threading.BoundedSemaphore(max_streams)
        self.jobs = jobs
        self.data_roots = data_roots
        self.auth_required = auth_required
        self.tls = tls

    @_handle
    def GetInfo(self, request, context):
        from .info import worker_info

        info = worker_info(self.data_roots)
        return pb.WorkerInfo(
            worker_version=__version__, python_version=info["python_version"], torch_version=info["torch_version"],
            cuda_version=info["cuda_version"], grpc_version=grpc.__version__,
            devices=[pb.Device(**d) for d in info["devices"]],
            datasets=[pb.DatasetInfo(**d) for d in info["datasets"]],
            methods=info["methods"], backbones=info["backbones"], hostname=socket.gethostname(),
            run_root=str(self.jobs.run_root), pid=os.getpid(), auth_required=self.auth_required, tls=self.tls,
            storage_problem=self.jobs.storage.problem,
        )

    @_handle
    def StartRun(self, request, context):
        spec = message_to_dict(request.spec)
        if spec["data"].get("root"):
            spec["data"]["root"] = str(paths.confine(spec["data"]["root"], self.data_roots, "spec.data.root"))
        status, created, resumed_from = self.jobs.start(spec, request.resume)
        return pb.StartRunResponse(status=status_to_proto(status), created=created, resumed_from_seq=resumed_from)

    @_handle_stream
    def WatchRun(self, request, context):
        self.jobs.get(request.run_id)  # NOT_FOUND before the stream starts
        for e in self.jobs.watch(request.run_id, request.from_seq, context.is_active):
            yield event_to_proto({**e, "run_id": request.run_id})

    @_handle
    def CancelRun(self, request, context):
        return status_to_proto(self.jobs.cancel(request.run_id, request.graceful))

    @_handle
    def ListRuns(self, request, context):
        return pb.ListRunsResponse(runs=[status_to_proto(s) for s in self.jobs.list()])

    @_handle_stream
    def Evaluate(self, request, context):
        _check_evaluate(request)
        data = message_to_dict(request.data, "data.") if request.HasField("data") else {}
        if data.get("root"):
            data["root"] = str(paths.confine(data["root"], self.data_roots, "data.root"))
        run_dir = self.jobs.run_dir(request.run_id)
        ckpt = paths.checkpoint_in(run_dir, request.checkpoint)
        from ..training.checkpoint import load_complete

        stored = load_complete(ckpt, mmap=True)  # a bad file is answered at once (memory-mapped: cheap)
        _check_evaluation_fits(stored["spec"], data, ckpt, self.data_roots, self.jobs.max_memory)
        job = {"run_dir": str(run_dir), "checkpoint": str(ckpt), "data": data, "layers": list(request.layers),
               "eval": _eval_override(request), "device": request.device or "auto",
               "data_roots": [str(r) for r in self.data_roots]}
        # Its own process (evaluation/job.py): the data and the model never live in the server, and
        # a client that goes away ends the work with it.
        proc = EvaluationProcess(job, request.run_id)
        context.add_callback(proc.kill)
        try:
            for rec in proc.records():
                kind = rec.pop("type")
                if kind == "log":
                    yield pb.EvaluateEvent(log=pb.LogLine(level="info", message=rec["message"]))
                elif kind == "layer":
                    yield pb.EvaluateEvent(layer=_fill(pb.LayerEval(), rec))
                elif kind == "error":
                    raise JobError(rec["code"], rec["message"])
                elif kind == "done":
                    yield pb.EvaluateEvent(done=pb.EvaluateDone(
                        layers=[_fill(pb.LayerEval(), l) for l in rec["layers"]],
                        checkpoint=str(ckpt.relative_to(run_dir)), step=rec["step"], seconds=rec["seconds"],
                        train_images=rec["train_images"], test_images=rec["test_images"],
                        untrained_layers=rec.get("untrained_layers", []),
                        baselines=[_fill(pb.LayerEval(), b) for b in rec.get("baselines", [])],
                        protocol=_fill(pb.EvalProtocol(), rec.get("protocol", {}))))
                    return
            code = proc.wait()
            tail = f": {proc.stderr_tail[-1]}" if proc.stderr_tail else ""
            raise JobError("internal" if code >= 0 else "resource_exhausted",
                           f"the evaluation process ended without a result (exit {code}{', out of memory?' if code == -9 else ''}){tail}")
        finally:
            proc.kill()

    @_handle_stream
    def ExportBackbone(self, request, context):
        run_dir = self.jobs.run_dir(request.run_id)
        ckpt = paths.checkpoint_in(run_dir, request.checkpoint)
        from ..training.export import export_backbone_bytes  # imports torch: after the cheap checks
        data, meta = export_backbone_bytes(ckpt)
        for i in range(0, max(len(data), 1), EXPORT_CHUNK):
            first = i == 0
            yield pb.ExportChunk(data=data[i : i + EXPORT_CHUNK], total_bytes=len(data) if first else 0,
                                 architecture=meta.get("architecture", "") if first else "")


_LAYER_RE = re.compile(r"h|z|head\.[1-9][0-9]{0,2}")  # fullmatch: "$" also matches before a final "\n"
_DEVICE_RE = re.compile(r"|auto|cpu|cuda(:\d{1,3})?")


def _check_evaluate(request) -> None:
    """Evaluate's own fields (the run and checkpoint are checked where they are resolved)."""
    def bad(field: str, value: Any, expected: str) -> JobError:
        return JobError("invalid_argument", f"{field}: got {echo(value)}, expected {expected}")

    _eval_override(request)  # its fields against RunSpec.eval's rules (SpecError names the field)
    if not _DEVICE_RE.fullmatch(request.device):
        raise bad("device", request.device, "auto, cpu, cuda or cuda:N")
    if len(request.layers) > 64:
        raise bad("layers", f"{len(request.layers)} names", "at most 64 layer names")
    for i, layer in enumerate(request.layers):
        if not _LAYER_RE.fullmatch(layer):
            raise bad(f"layers[{i}]", layer, 'a layer name: "h", "head.N" or "z"')


def _eval_override(request) -> dict[str, Any]:
    """EvaluateRequest.eval as a checked dict ({} = the run's own settings). The rules are
    RunSpec.eval's: a zero value stands for the field's default, as in a RunSpec."""
    if not request.HasField("eval"):
        return {}

    override = message_to_dict(request.eval, "eval.")
    try:
        RunConfig.from_dict({"eval": override})
    except SpecError as e:  # the request's own field (eval.knn_k), not a RunSpec's
        raise JobError("invalid_argument", str(e)) from None
    return override


def _check_evaluation_fits(spec: Any, data: dict[str, Any], ckpt: Path, data_roots: list[Path], budget: int) -> None:

    try:
        cfg = evaluation_config(spec, data, ckpt, data_roots)  # the checkpoint's spec, the request's data, the roots
    except SpecError as e:  # a data field of the request ("data.image_size: ...")
        raise JobError("invalid_argument", str(e)) from None
    est = memory.estimate_evaluation(cfg)
    if est.total > budget:
        raise JobError("resource_exhausted", f"data: the evaluation needs about {memory.gib(est.total)} of memory, this worker "
                                             f"allows {memory.gib(budget)} (serve --max-memory): {est.words()}")


# -- request guard -----------------------------------------------------------------------------

class _Undecodable:
    def __init__(self, error: Exception):
        self.error = error


class RequestGuardInterceptor(grpc.ServerInterceptor):
    """Bytes that do not parse as the method's request message (wrong wire types, invalid UTF-8
    in a string, truncated data) become INVALID_ARGUMENT naming the method, instead of grpcio's
    INTERNAL "Exception deserializing request!"."""

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None or handler.request_streaming or handler.request_deserializer is None:
            return handler
        parse, method = handler.request_deserializer, details.method

        def safe_parse(data: bytes):
            try:
                return parse(data)
            except Exception as e:  # noqa: BLE001 - any parse failure is the client's
                return _Undecodable(e)

        def guard(behavior):
            def checked(request, context):
                if isinstance(request, _Undecodable):
                    code, msg = _status_of(MalformedRequest(
                        f"request: not a valid request message for {method} ({type(request.error).__name__}: {request.error})"))
                    context.abort(code, msg)
                return behavior(request, context)

            return checked

        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(guard(handler.unary_stream), safe_parse, handler.response_serializer)
        return grpc.unary_unary_rpc_method_handler(guard(handler.unary_unary), safe_parse, handler.response_serializer)


# -- auth --------------------------------------------------------------------------------------

class TokenAuthInterceptor(grpc.ServerInterceptor):
    """Requires `authorization: Bearer <token>` on every call except the health service. The
    token travels as plain call metadata (grpcio drops call credentials on insecure channels),
    so anything off loopback must use TLS; the comparison is constant-time."""

    def __init__(self, token: str):
        self._expected = token.encode()

    def _check(self, metadata) -> str:
        """"" when the call carries the token, else why not."""
        values = [v for k, v in (metadata or ()) if k == "authorization"]
        if len(values) > 1:
            return "more than one 'authorization' header"
        got = values[0] if values else ""
        got = got.encode("latin-1", "replace") if isinstance(got, str) else got
        scheme, _, token = got.partition(b" ")
        # Auth schemes are case-insensitive (RFC 7235); the comparison is constant-time.
        ok = scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(b" "), self._expected)
        return "" if ok else "missing or wrong token (metadata 'authorization: Bearer <token>')"

    def intercept_service(self, continuation, details):
        if details.method.startswith("/grpc.health.v1.Health/"):
            return continuation(details)
        why = self._check(details.invocation_metadata)
        if not why:
            return continuation(details)
        handler = continuation(details)

        def deny(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, why)

        if handler is None:
            return None
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(deny, handler.request_deserializer, handler.response_serializer)
        return grpc.unary_unary_rpc_method_handler(deny, handler.request_deserializer, handler.response_serializer)


# -- serving -----------------------------------------------------------------------------------

def build_server(jobs: JobManager, data_roots: list[Path], token: str | None,
                 tls: tuple[bytes, bytes, bytes | None] | None, max_streams: int = DEFAULT_MAX_STREAMS):
    # Auth first: an unauthenticated caller learns nothing, not even whether its bytes parse.
    interceptors = ([TokenAuthInterceptor(token)] if token else []) + [RequestGuardInterceptor()]
    server = grpc.server(
        # one thread per open stream; named RPC_THREAD_NAME for the system, so they can be counted
        futures.ThreadPoolExecutor(max_workers=max_streams + UNARY_THREADS, thread_name_prefix="rpc",
                                   initializer=name_os_thread, initargs=(RPC_THREAD_NAME,)),
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),
            ("grpc.max_send_message_length", MAX_SEND_BYTES),
            # Long WatchRun streams: let clients keep them alive with pings (else GOAWAY too_many_pings).
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
            ("grpc.http2.max_ping_strikes", 0),
            ("grpc.keepalive_time_ms", 30_000),
        ],
    )
    servicer = WorkerServicer(jobs, data_roots, auth_required=bool(token), tls=tls is not None, max_streams=max_streams)
    pb_grpc.add_WorkerServicer_to_server(servicer, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    return server, health_servicer


def follow_storage(health_servicer, jobs: JobManager, stopping: threading.Event) -> None:
    """Health follows whether the worker can write its state (NOT_SERVING while it cannot)."""
    jobs.storage.on_change(lambda ok: set_serving(health_servicer, ok and not stopping.is_set()))
    set_serving(health_servicer, jobs.storage.ok and not stopping.is_set())


def set_serving(health_servicer, serving: bool) -> None:
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, status)


def load_tls(cert_path: str, key_path: str, client_ca_path: str | None) -> tuple[bytes, bytes, bytes | None]:
    """The PEM files of serve --tls-cert/--tls-key/--tls-client-ca, read and checked (grpcio
    says only "Failed to bind to address" for a file that is not what it should be): ValueError
    naming the flag, the file and what is wrong with it."""
    import ssl

    def read(flag: str, path: str) -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as e:
            raise ValueError(f"{flag} {path!r}: {e.strerror}") from None

    def certificates(flag: str, path: str) -> bytes:
        data = read(flag, path)
        if b"-----BEGIN CERTIFICATE-----" not in data:
            raise ValueError(f"{flag} {path!r}: not a PEM certificate (no '-----BEGIN CERTIFICATE-----' line)")
        try:
            ssl.create_default_context(cadata=data.decode("ascii"))
        except (ssl.SSLError, UnicodeDecodeError, ValueError) as e:
            raise ValueError(f"{flag} {path!r}: not a valid PEM certificate ({getattr(e, 'reason', None) or e})") from None
        return data

    cert = certificates("--tls-cert", cert_path)
    key = read("--tls-key", key_path)
    if not re.search(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----", key):
        raise ValueError(f"--tls-key {key_path!r}: not a PEM private key (no '-----BEGIN ... PRIVATE KEY-----' line)")
    if b"ENCRYPTED" in key:
        raise ValueError(f"--tls-key {key_path!r}: the key is encrypted; the worker needs it unencrypted (readable by it alone)")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_path, key_path, password=lambda: b"")
    except ssl.SSLError as e:
        if "KEY_VALUES_MISMATCH" in str(e) or getattr(e, "reason", "") == "KEY_VALUES_MISMATCH":
            raise ValueError(f"--tls-key {key_path!r}: is not the key of the certificate in --tls-cert {cert_path!r}") from None
        raise ValueError(f"--tls-key {key_path!r}: not a valid PEM private key for --tls-cert {cert_path!r} "
                         f"({getattr(e, 'reason', None) or e})") from None
    client_ca = certificates("--tls-client-ca", client_ca_path) if client_ca_path else None
    return cert, key, client_ca


def bind(server, host: str, port: int, tls: tuple[bytes, bytes, bytes | None] | None) -> int:
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if tls is None:
        bound = server.add_insecure_port(address)
    else:
        cert, key, client_ca = tls
        creds = grpc.ssl_server_credentials([(key, cert)], root_certificates=client_ca,
                                            require_client_auth=client_ca is not None)
        bound = server.add_secure_port(address, creds)
    if not bound:
        raise OSError(f"could not bind {address} (in use, or not an address of this machine)")
    return bound


def wait_for_termination(server, health_servicer, jobs: JobManager, stop: threading.Event) -> int:
    """Serves until `stop`, then stops the runs and the server; returns how many runs it stopped."""
    stop.wait()
    set_serving(health_servicer, False)
    stopped = jobs.shutdown()
    server.stop(grace=2).wait()
    time.sleep(0)
    return stopped
