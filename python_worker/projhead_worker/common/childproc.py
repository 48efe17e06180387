"""The small protocol between the worker and the processes it starts (server/supervise.py sends,
training/trainproc.py answers): a signal, a stderr prefix and an environment variable. Here so
that neither side imports the other."""
from __future__ import annotations

import signal

# What the worker sends its training processes when it shuts down: checkpoint and end
# `interrupted` (worker_signal). SIGTERM/SIGINT reaching a training process directly say `signal`.
INTERRUPT_SIGNAL = signal.SIGUSR2
# A final event a training process could not write (disk full, read-only folder) goes to its
# stderr as this prefix and JSON {cause, message, unwritten}; the worker reads it from there.
UNWRITTEN = "projhead-unwritten-event: "
# The worker's pid, for a training process to notice that its worker is gone (trainproc.watch_parent).
WORKER_PID_ENV = "PROJHEAD_WORKER_PID"
