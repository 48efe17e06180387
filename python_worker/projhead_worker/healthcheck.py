"""Health probe for containers: exit 0 iff the worker's grpc.health.v1 service answers SERVING.

    python -m projhead_worker.healthcheck [--host 127.0.0.1] [--port 50051] [--service NAME]
        [--tls-ca F [--server-name N] [--tls-cert F --tls-key F]]

The image's HEALTHCHECK runs it. It speaks the standard health protocol (the same one any gRPC
tool probes), so "healthy" means the server answers, not merely that a port is open. The health
service needs no token. A worker started with --tls-cert only speaks TLS: give the probe the CA
(and, for mTLS, a client certificate) through the flags or PROJHEAD_HEALTH_TLS_CA,
PROJHEAD_HEALTH_TLS_CERT, PROJHEAD_HEALTH_TLS_KEY, PROJHEAD_HEALTH_SERVER_NAME, so that a
HEALTHCHECK line in an image can stay fixed while deployments differ.

Deliberately light: imports grpc only (never torch), since Docker runs it every interval.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    ap = argparse.ArgumentParser(prog="python -m projhead_worker.healthcheck")
    ap.add_argument("--host", default=env("PROJHEAD_HEALTH_HOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(env("PROJHEAD_HEALTH_PORT", "50051")))
    ap.add_argument("--service", default="", help="service to ask about (default: the whole server)")
    ap.add_argument("--timeout", type=float, default=3.0, help="seconds")
    ap.add_argument("--tls-ca", default=env("PROJHEAD_HEALTH_TLS_CA"), help="PEM CA of the worker's certificate (enables TLS)")
    ap.add_argument("--tls-cert", default=env("PROJHEAD_HEALTH_TLS_CERT"), help="PEM client certificate (mTLS)")
    ap.add_argument("--tls-key", default=env("PROJHEAD_HEALTH_TLS_KEY"), help="PEM client key (mTLS)")
    ap.add_argument("--server-name", default=env("PROJHEAD_HEALTH_SERVER_NAME"), help="name to check in the worker's certificate")
    args = ap.parse_args(argv)

    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    target = f"[{args.host}]:{args.port}" if ":" in args.host else f"{args.host}:{args.port}"
    try:
        if args.tls_ca:
            read = lambda p: Path(p).read_bytes() if p else None  # noqa: E731
            creds = grpc.ssl_channel_credentials(read(args.tls_ca), read(args.tls_key), read(args.tls_cert))
            options = [("grpc.ssl_target_name_override", args.server_name)] if args.server_name else []
            channel = grpc.secure_channel(target, creds, options=options)
        else:
            channel = grpc.insecure_channel(target)
    except OSError as e:
        print(f"healthcheck: {e.filename}: {e.strerror}", file=sys.stderr)
        return 1
    with channel:
        try:
            res = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout)
        except grpc.RpcError as e:
            print(f"healthcheck: {target}: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(res.status)
    if res.status != health_pb2.HealthCheckResponse.SERVING:
        print(f"healthcheck: {target}: {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
