"""Specs that would exhaust the worker are refused before anything is allocated or written:
memory estimated from the spec against the budget (serve --max-memory), naming the fields that
drive it; more processes than devices; and the estimate is not absurd for ordinary runs."""
import pytest

from projhead_worker.common import memory
from projhead_worker.common.config import RunConfig
from projhead_worker.server import jobs


@pytest.mark.parametrize("spec, field", [
    ({"data": {"synthetic_size": 10_000_000}}, "data.synthetic_size"),
    ({"model": {"head": {"hidden_dims": [65536, 65536, 65536]}}}, "model.head.hidden_dims"),
    ({"data": {"image_size": 1024}, "train": {"batch_size": 512}}, "data.image_size"),
])
def test_specs_above_the_budget_are_refused_naming_the_fields(tmp_path, spec, field):
    m = jobs.JobManager(tmp_path, max_memory=16 * 2**30, gpu_count=lambda: 0)
    with pytest.raises(jobs.JobError) as e:
        m.start({"run_id": "big", **spec}, resume=False)
    assert e.value.code == "resource_exhausted", e.value
    assert field in str(e.value) and "--max-memory" in str(e.value) and "GiB" in str(e.value)
    assert list(tmp_path.iterdir()) == [], "nothing written"


def test_ordinary_runs_fit_and_estimates_are_in_a_sane_range():
    small = memory.estimate_run(RunConfig.from_dict({}))
    assert 0.5 * 2**30 < small.total < 4 * 2**30
    r18 = memory.estimate_run(RunConfig.from_dict({"data": {"name": "cifar10"}, "model": {"backbone": "resnet18"}, "train": {"batch_size": 512}}))
    assert 3 * 2**30 < r18.total < 30 * 2**30  # SimCLR resnet18 at batch 512 needs ~5-10 GiB
    ev = memory.estimate_evaluation(RunConfig.from_dict({"data": {"image_size": 1024}}))
    assert ev.total > 10 * 2**30


def test_nproc_above_the_devices_is_refused(tmp_path):
    m = jobs.JobManager(tmp_path, gpu_count=lambda: 0)
    with pytest.raises(jobs.JobError) as e:
        m.start({"run_id": "wide", "train": {"nproc": 64, "device": "cpu"}}, resume=False)
    assert e.value.code == "resource_exhausted" and "train.nproc" in str(e.value) and "CPU cores" in str(e.value)
    with pytest.raises(jobs.JobError) as e:
        m.start({"run_id": "gpu", "train": {"device": "cuda"}}, resume=False)
    assert e.value.code == "failed_precondition" and "train.device" in str(e.value)
    g = jobs.JobManager(tmp_path, gpu_count=lambda: 2)
    with pytest.raises(jobs.JobError, match="2 CUDA devices"):
        g.start({"run_id": "wide", "train": {"nproc": 3, "batch_size": 48}}, resume=False)
    assert list(tmp_path.iterdir()) == []


def test_concurrent_runs_get_one_gpu_each_and_wait_for_a_free_one(tmp_path, monkeypatch):
    import stat
    import sys
    import time

    assert jobs.assign_devices(1, set(), 2) == [0]
    assert jobs.assign_devices(1, {0}, 2) == [1]
    assert jobs.assign_devices(2, {0}, 3) == [1, 2]
    assert jobs.assign_devices(1, {0, 1}, 2) is None
    # Two fake GPUs, three concurrent run slots: two runs start on GPUs 0 and 1, the third waits.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,7")
    out = tmp_path / "seen"
    out.mkdir()
    fake = tmp_path / "fake-python"
    fake.write_text(f"#!{sys.executable}\nimport os, sys, time\nrun = sys.argv[sys.argv.index('--run-dir') + 1]\n"
                    f"open(os.path.join({str(out)!r}, os.path.basename(run)), 'w').write(os.environ.get('CUDA_VISIBLE_DEVICES', ''))\n"
                    "time.sleep(60)\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    m = jobs.JobManager(tmp_path / "runs", max_running=3, python=str(fake), max_memory=2**40)
    try:
        for rid in ("a", "b", "c"):
            m.start({"run_id": rid}, resume=False)  # device auto
        deadline = time.time() + 20
        while len(list(out.iterdir())) < 2 and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        assert {p.name: p.read_text() for p in out.iterdir()} == {"a": "4", "b": "7"}
        assert m.get("c").state == "pending"
        m.cancel("a", graceful=False)
        deadline = time.time() + 20
        while not (out / "c").exists() and time.time() < deadline:
            time.sleep(0.05)
        assert (out / "c").read_text() == "4", "c got the GPU a gave back"
    finally:
        for rid in ("a", "b", "c"):
            m.cancel(rid, graceful=False)


def test_the_started_event_names_the_gpu_the_run_was_given(tmp_path, monkeypatch):
    import json

    from projhead_worker.training.trainproc import Emitter

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")
    emit = Emitter(tmp_path / "events.jsonl", 0)
    emit("started", device="cuda:0")
    emit("step", device="cuda:0")
    got = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["device"] for e in got] == ["cuda:7", "cuda:0"]
