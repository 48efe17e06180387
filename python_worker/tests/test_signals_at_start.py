"""A stop the worker asks for while a training process is still starting ends the run as asked,
not as a crash. Two windows:
- the training process installs its stop handlers before it imports torch (the slow part of its
  start-up), so a signal during that import finds them;
- before that, or in a launcher that has no handler yet (torchrun under srun, importing torch
  itself), the signal's default action ends the process, and srun reports that as 128 + N: the
  worker counts it as the stop it asked for.
Real processes, real signals: the stand-ins install no handler, as a launcher has none during
its imports."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from projhead_worker.common.childproc import INTERRUPT_SIGNAL
from projhead_worker.common.config import RunConfig
from projhead_worker.common.eventlog import EVENTS_FILE, SPEC_FILE, read_events
from projhead_worker.server.supervise import TrainingProcess
from projhead_worker.training.trainproc import EXIT

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]
# The shell stands in for srun: it waits for its task and exits 128 + N when a signal ended it.
SHELL_LIKE_SRUN = ["bash", "-c", 'trap : USR1 USR2; "$0" -c "import time; time.sleep(60)"; exit $?', sys.executable]


def _started(cmd: list[str], tmp_path: Path) -> tuple[subprocess.Popen, TrainingProcess]:
    proc = subprocess.Popen(cmd, start_new_session=True)
    return proc, TrainingProcess(proc, "r", tmp_path / "worker-events.jsonl", 0, log=lambda m: None)


def _ended(cmd: list[str], ask: str, tmp_path: Path) -> tuple[int, tuple[str, str]]:
    proc, p = _started(cmd, tmp_path)
    try:
        getattr(p, ask)()
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            p.kill()
    return code, p.exit_cause(code, None, killed_by_us=False, closing=ask == "interrupt")


@pytest.mark.parametrize("cmd", [SLEEP, SHELL_LIKE_SRUN], ids=["alone", "under-a-launcher"])
@pytest.mark.parametrize("ask,signum,cause", [("interrupt", INTERRUPT_SIGNAL, "interrupted"), ("cancel", signal.SIGUSR1, "cancelled")])
def test_a_stop_asked_while_starting_ends_as_asked(cmd, ask, signum, cause, tmp_path):
    code, (got, message) = _ended(cmd, ask, tmp_path)
    assert code in (-signum, 128 + signum)  # the signal's default action ended it
    assert got == cause
    assert "still starting" in message


def test_a_process_killed_by_another_signal_is_still_a_crash(tmp_path):
    proc, p = _started(SLEEP, tmp_path)
    p.asked = INTERRUPT_SIGNAL  # asked to stop, but something else ended it
    proc.send_signal(signal.SIGSEGV)
    code = proc.wait(timeout=30)
    assert p.exit_cause(code, None, killed_by_us=False, closing=False)[0] == "crash"
    assert p.exit_cause(128 + INTERRUPT_SIGNAL, None, killed_by_us=False, closing=False)[0] == "interrupted"
    p.asked = None
    assert p.exit_cause(128 + INTERRUPT_SIGNAL, None, killed_by_us=False, closing=False)[0] == "crash"  # nobody asked: an exit code like any other


def test_the_training_process_entry_loads_no_torch_before_its_stop_handlers():
    code = ("import sys, projhead_worker.training.trainproc\n"
            "print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def _catches(pid: int, signum: int) -> bool:
    """Whether the process has a handler for signum (SigCgt of /proc/<pid>/status)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    except FileNotFoundError:
        pass
    return False


def test_a_shutdown_signal_during_the_torch_import_ends_the_run_interrupted(tmp_path):
    cfg = RunConfig.from_dict({"run_id": "early", "data": {"name": "shapes", "synthetic_size": 64, "image_size": 16},
                               "model": {"backbone": "convnet", "width": 4, "head": {"hidden_dims": [16], "out_dim": 8}},
                               "train": {"epochs": 1, "batch_size": 16, "device": "cpu", "knn_every_epochs": 0,
                                         "threads": 1, "eval_at_end": False}})
    (tmp_path / SPEC_FILE).write_text(json.dumps(cfg.to_dict()))
    proc = subprocess.Popen([sys.executable, "-m", "projhead_worker.training.trainproc", "--run-dir", str(tmp_path)],
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not _catches(proc.pid, INTERRUPT_SIGNAL) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        assert _catches(proc.pid, INTERRUPT_SIGNAL), "the training process never installed its stop handler"
        os.kill(proc.pid, INTERRUPT_SIGNAL)  # as soon as it can take it: in practice while torch loads
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == EXIT["interrupted"], err.decode(errors="replace")[-2000:]
    last = read_events(tmp_path / EVENTS_FILE)[-1]
    assert (last["type"], last["reason"]) == ("interrupted", "worker_signal")
