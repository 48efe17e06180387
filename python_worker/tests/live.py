"""A real worker for tests: the gRPC server of server/service.py in this process on a free loopback
port, over a JobManager whose training processes are real ones, and client stubs for it."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from projhead.v1 import worker_pb2_grpc as pb_grpc
from projhead_worker.server import service as server
from projhead_worker.server.jobs import JobManager


class Live:
    def __init__(self, jobs: JobManager, port: int, health_servicer, grpc_server, stopping: threading.Event):
        self.jobs, self.port, self.health_servicer, self.server, self.stopping = jobs, port, health_servicer, grpc_server, stopping
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = pb_grpc.WorkerStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def serving(self, timeout: float = 5.0) -> str:
        res = self.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(res.status)


@contextmanager
def live_worker(run_root: Path, data_roots: list[Path] | None = None, token: str | None = None, **jobs_kw):
    jobs = JobManager(run_root, **jobs_kw)
    srv, health = server.build_server(jobs, data_roots or [], token, None)
    port = server.bind(srv, "127.0.0.1", 0, None)
    srv.start()
    stopping = threading.Event()
    server.follow_storage(health, jobs, stopping)
    live = Live(jobs, port, health, srv, stopping)
    try:
        yield live
    finally:
        stopping.set()
        live.channel.close()
        jobs.shutdown(timeout=30)
        srv.stop(grace=0).wait()
