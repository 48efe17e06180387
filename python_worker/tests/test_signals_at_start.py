"""A stop the worker asks for while a training process is still starting (importing torch; under
SLURM, torchrun not yet forwarding signals) ends the run as asked, not as a crash: the signal's
default action kills the process before it has a handler, and srun reports that as 128 + N.
Real processes, real signals: the stand-ins install no handler, as a training process has none
during its imports."""
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from projhead_worker.common.childproc import INTERRUPT_SIGNAL
from projhead_worker.server.supervise import TrainingProcess

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
