"""Command line of the worker.

    python -m projhead_worker serve [--host 127.0.0.1] [--port 0] [--run-root DIR] [--data-root DIR ...]
        [--token-file F | env PROJHEAD_TOKEN] [--tls-cert F --tls-key F [--tls-client-ca F]]
        [--max-runs N] [--max-streams N] [--max-memory BYTES] [--port-file F] [--insecure-no-auth]

When it listens, the first line on stdout is a JSON object:
    {"event": "ready", "port": 50051, "pid": 1234, "address": "127.0.0.1:50051"}
(also written atomically to --port-file). Errors go to stderr; exit code 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
import sys
import threading
from pathlib import Path


def _positive(v: str) -> int:
    try:
        n = int(v)
    except ValueError:
        n = 0
    if not 1 <= n <= 100_000:
        raise argparse.ArgumentTypeError(f"expected an integer in [1, 100000], got {v!r}")
    return n


def _bytes(v: str) -> int:
    units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    s = v.strip().upper().removesuffix("B").removesuffix("I")
    num, unit = (s[:-1], s[-1]) if s and s[-1] in units else (s, "")
    try:
        n = float(num) * units[unit]
    except ValueError:
        n = 0
    if not n >= 2**20:
        raise argparse.ArgumentTypeError(f"expected a size such as 512M or 8G (at least 1M), got {v!r}")
    return int(n)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


MIN_TOKEN_BYTES = 16


def read_token(token_file: str | None) -> str:
    """The token from --token-file (one line; its final newline dropped) or $PROJHEAD_TOKEN, ""
    when neither is given. $PROJHEAD_TOKEN is removed from the environment either way, so no
    process this worker starts inherits it. Refuses an empty, short or non-header-safe token."""
    env = os.environ.pop("PROJHEAD_TOKEN", None)
    if token_file:
        try:
            raw = Path(token_file).read_bytes()
        except OSError as e:
            raise ValueError(f"--token-file {token_file!r}: {e.strerror}") from None
        source = f"--token-file {token_file!r}"
        token = raw[:-1] if raw.endswith(b"\n") else raw
        token = token[:-1] if token.endswith(b"\r") else token
    elif env:  # set but empty: not given (as a shell's `PROJHEAD_TOKEN= cmd` means)
        source, token = "PROJHEAD_TOKEN", env.encode("utf-8", "surrogateescape")
    else:
        return ""
    if not token.strip():
        raise ValueError(f"{source}: the token is empty; auth would be off. Put a random token of at least {MIN_TOKEN_BYTES} bytes in it")
    if len(token) < MIN_TOKEN_BYTES:
        raise ValueError(f"{source}: the token has {len(token)} bytes; at least {MIN_TOKEN_BYTES} are needed")
    if not all(0x21 <= b <= 0x7E for b in token):
        raise ValueError(f"{source}: the token must be printable ASCII without spaces or line breaks (it travels in a header)")
    return token.decode("ascii")


def serve(args: argparse.Namespace) -> int:
    # Each subcommand loads only what it uses (`slurm-job` and `--help` load no gRPC).
    from .common import paths
    from .common.atomic import atomic_write_text
    from .server.jobs import JobManager
    from .server.service import bind, build_server, follow_storage, wait_for_termination

    try:
        token = read_token(args.token_file)
    except ValueError as e:
        print(f"projhead worker: {e}", file=sys.stderr)
        return 2
    if not _is_loopback(args.host) and not token and not args.insecure_no_auth:
        print(f"projhead worker: refusing to listen on {args.host} without a token: anyone who reaches it could run code "
              "on this machine. Give --token-file (or PROJHEAD_TOKEN), or --insecure-no-auth if you really mean it.",
              file=sys.stderr)
        return 2
    if not _is_loopback(args.host) and not token:
        print(f"projhead worker: WARNING: --insecure-no-auth: listening on {args.host} WITHOUT AUTHENTICATION; anyone who "
              "can reach this port can run code on this machine", file=sys.stderr, flush=True)
    if not _is_loopback(args.host) and token and not args.tls_cert:
        print("projhead worker: warning: the token travels in clear text without TLS (--tls-cert/--tls-key)", file=sys.stderr)
    if bool(args.tls_cert) != bool(args.tls_key):
        print("projhead worker: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    tls = None
    if args.tls_cert:
        from .server.service import load_tls

        try:
            tls = load_tls(args.tls_cert, args.tls_key, args.tls_client_ca)
        except ValueError as e:
            print(f"projhead worker: {e}", file=sys.stderr)
            return 2
    data_roots = [Path(p) for p in args.data_root] + paths.default_data_roots()

    jobs = JobManager(Path(args.run_root), max_running=args.max_runs, max_memory=args.max_memory)
    server, health_servicer = build_server(jobs, data_roots, token or None, tls, max_streams=args.max_streams)
    try:
        port = bind(server, args.host, args.port, tls)
    except (OSError, RuntimeError) as e:
        print(f"projhead worker: {e}", file=sys.stderr)
        return 1
    server.start()
    stop = threading.Event()
    follow_storage(health_servicer, jobs, stop)
    address = f"[{args.host}]:{port}" if ":" in args.host else f"{args.host}:{port}"
    ready = {"event": "ready", "port": port, "pid": os.getpid(), "address": address}
    if args.port_file:
        atomic_write_text(args.port_file, json.dumps(ready))
    print(json.dumps(ready), flush=True)

    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: stop.set())
    # A SLURM job's time-limit warning (slurm_job.py): stop like SIGTERM, then requeue the job
    # when it stopped runs that are to go on there.
    requeue = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: (requeue.set(), stop.set()))
    stopped = wait_for_termination(server, health_servicer, jobs, stop)
    if requeue.is_set():
        from .server import slurm_job

        slurm_job.after_time_limit_warning(stopped)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m projhead_worker")
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the projhead.v1.Worker gRPC service")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    s.add_argument("--port", type=int, default=0, help="port (0 = pick a free one and announce it)")
    s.add_argument("--run-root", default=os.environ.get("PROJHEAD_RUN_ROOT", "runs"), help="where runs are kept")
    s.add_argument("--data-root", action="append", default=[], help="directory clients may read datasets from (repeatable)")
    s.add_argument("--token-file", help="file holding the auth token (or set PROJHEAD_TOKEN)")
    s.add_argument("--tls-cert", help="PEM server certificate")
    s.add_argument("--tls-key", help="PEM server key")
    s.add_argument("--tls-client-ca", help="PEM CA: require client certificates signed by it (mTLS)")
    s.add_argument("--max-runs", type=_positive, default=1, help="runs training at once; more wait as pending")
    s.add_argument("--max-streams", type=_positive, default=64,
                   help="open WatchRun/Evaluate/ExportBackbone streams at once; more are refused (RESOURCE_EXHAUSTED)")
    s.add_argument("--max-memory", type=_bytes, default=None,
                   help="memory one run or evaluation may need (e.g. 8G); larger specs are refused (default: the machine's memory)")
    s.add_argument("--port-file", help="also write the ready line to this file")
    s.add_argument("--insecure-no-auth", action="store_true", help="allow a non-loopback bind without a token (dangerous)")
    args = ap.parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
