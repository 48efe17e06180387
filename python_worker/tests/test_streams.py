"""Open streams cannot starve the worker: with 200 WatchRun streams open on a running run,
health and ListRuns still answer within a second; streams beyond the worker's limit are
refused at once with RESOURCE_EXHAUSTED saying why."""
import stat
import sys
import threading
import time

import grpc
from grpc_health.v1 import health_pb2
from live import live_worker

from projhead.v1 import worker_pb2 as pb
from projhead_worker.server import service as server

STREAMS = 200


def test_health_answers_within_a_second_with_200_open_streams(tmp_path):
    fake = tmp_path / "fake-python"  # a training process that holds its run (running) until killed
    fake.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(120)\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    with live_worker(tmp_path / "runs", python=str(fake)) as w:
        w.jobs.start({"run_id": "held"}, resume=False)
        channels = [grpc.insecure_channel(f"127.0.0.1:{w.port}") for _ in range(4)]
        refused: list[str] = []
        lock = threading.Lock()

        def on_done(call):
            if call.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                with lock:
                    refused.append(call.details())

        calls = []
        try:
            for i in range(STREAMS):
                stub = server.pb_grpc.WorkerStub(channels[i % len(channels)])
                call = stub.WatchRun(pb.WatchRunRequest(run_id="held"), timeout=60)
                call.add_done_callback(on_done)
                calls.append(call)
            deadline = time.time() + 20
            while len(refused) < STREAMS - server.DEFAULT_MAX_STREAMS and time.time() < deadline:
                time.sleep(0.05)
            assert len(refused) == STREAMS - server.DEFAULT_MAX_STREAMS, f"{len(refused)} refused"
            assert "64 open streams" in refused[0] and "--max-streams" in refused[0]
            for _ in range(5):
                t0 = time.monotonic()
                assert w.health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.SERVING
                assert time.monotonic() - t0 < 1.0, f"health took {time.monotonic() - t0:.2f} s"
                t0 = time.monotonic()
                assert [r.run_id for r in w.stub.ListRuns(pb.ListRunsRequest(), timeout=5).runs] == ["held"]
                assert time.monotonic() - t0 < 1.0, f"ListRuns took {time.monotonic() - t0:.2f} s"
        finally:
            for c in calls:
                c.cancel()
            for ch in channels:
                ch.close()
        # the held streams were given back: a new one is served (it waits for events, not refused)
        time.sleep(1.0)
        call = w.stub.WatchRun(pb.WatchRunRequest(run_id="held"), timeout=1.5)
        try:
            next(call)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e
