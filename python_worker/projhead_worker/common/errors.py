"""The worker's exception types, and `classify`: the one place an exception becomes what the
worker reports of it, wherever it was raised.

    RPC         a call the server answers: a status (STATUSES); server/service.py maps each status to
                its grpc.StatusCode, in one table
    EVALUATION  the evaluation process (evaluation/job.py): a status, sent as its `error` line's
                code, which the server answers the Evaluate call with
    TRAINING    the training process (trainproc.py): a RunFailed cause (CAUSES)

No torch and no gRPC here: the server imports it without either, and the types raised where
torch is (CheckpointError, DatasetError, NonFiniteLoss) live here so that the server names them
without importing their modules. The modules that raise them re-export them
(`config.SpecError`, `checkpoint.CheckpointError`, `data.DatasetError`, ...).
"""
from __future__ import annotations

import errno
import os
from typing import Any

from .echo import echo
from .storage import describe, is_disk_full

# statuses (server/service.py: grpc.StatusCode of each)
INVALID_ARGUMENT = "invalid_argument"
NOT_FOUND = "not_found"
ALREADY_EXISTS = "already_exists"
FAILED_PRECONDITION = "failed_precondition"
RESOURCE_EXHAUSTED = "resource_exhausted"
PERMISSION_DENIED = "permission_denied"
INTERNAL = "internal"
STATUSES = (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, RESOURCE_EXHAUSTED, PERMISSION_DENIED,
            INTERNAL)

# RunFailed causes of an exception in the training process
NON_FINITE_LOSS = "non_finite_loss"
DATASET = "dataset"
INVALID_SPEC = "invalid_spec"
OUT_OF_MEMORY = "out_of_memory"
IO = "io"
CRASH = "crash"
CAUSES = (NON_FINITE_LOSS, DATASET, INVALID_SPEC, OUT_OF_MEMORY, IO, CRASH)

# where an exception ended something (classify's second argument)
RPC = "rpc"
EVALUATION = "evaluation"
TRAINING = "training"

# OSErrors the training process reports as cause `io` (its storage), naming the path
IO_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


class JobError(Exception):
    """An error that carries its status (`code`, one of STATUSES): the job manager's, the
    server's own checks, and the evaluation process's refusals."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class MalformedRequest(JobError):
    """The request bytes did not parse as the method's message (server.RequestGuardInterceptor)."""

    def __init__(self, message: str):
        super().__init__(INVALID_ARGUMENT, message)


class SpecError(ValueError):
    """A configuration value is not allowed. `field` is the dotted path, e.g. `optim.lr`."""

    def __init__(self, field: str, value: Any, expected: str):
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(f"{field}: got {echo(value)}, expected {expected}")


class PathError(ValueError):
    """A path a client sent resolves outside the directories the worker serves (paths.py)."""


class CheckpointError(ValueError):
    """A file that is not a usable projhead checkpoint: '<path>: not a projhead checkpoint (why)'
    or 'checkpoint is for <arch>, the request asks for <arch>'."""


class DatasetError(Exception):
    """A dataset file is missing or not in the format its reader expects.
    `path` names the file or folder, `expected` the format that was expected there."""

    def __init__(self, path: str | os.PathLike, expected: str, problem: str = ""):
        self.path = str(path)
        self.expected = expected
        self.problem = problem
        what = f"{problem}; " if problem else ""
        super().__init__(f"{self.path}: {what}expected {expected}")


class NonFiniteLoss(RuntimeError):
    """The loss or a weight became NaN or infinite (train.py, instead of a checkpoint)."""


def is_out_of_memory(e: BaseException) -> bool:
    """Host or device memory ran out: MemoryError, torch's (CUDA) OutOfMemoryError, or the CPU
    allocator's RuntimeError."""
    if isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError":
        return True
    msg = str(e).lower()
    return isinstance(e, RuntimeError) and ("out of memory" in msg or "can't allocate memory" in msg)


def classify(err: BaseException, where: str) -> tuple[str, str]:
    """(kind, message) the worker reports for `err` raised in `where` (RPC, EVALUATION or
    TRAINING): kind is a status for RPC and EVALUATION, a cause for TRAINING."""
    training = where == TRAINING
    unnamed = f"{type(err).__name__}: {err}"
    if isinstance(err, JobError):
        if training:
            return CRASH, unnamed
        return (err.code if err.code in STATUSES else INTERNAL), str(err)
    if isinstance(err, NonFiniteLoss):
        return (NON_FINITE_LOSS, str(err)) if training else (INTERNAL, unnamed)
    if isinstance(err, DatasetError):
        return (DATASET if training else FAILED_PRECONDITION), str(err)
    if isinstance(err, SpecError):
        if training:
            return INVALID_SPEC, str(err)
        # a call's SpecError is a field of its RunSpec; an evaluation's names the request's own field
        return INVALID_ARGUMENT, f"spec.{err}" if where == RPC else str(err)
    if isinstance(err, PathError):
        return (INVALID_SPEC if training else PERMISSION_DENIED), str(err)
    if isinstance(err, CheckpointError):
        return (INVALID_SPEC if training else FAILED_PRECONDITION), str(err)
    if is_out_of_memory(err):
        if training:
            first = (str(err).strip().splitlines() or [""])[0]
            return OUT_OF_MEMORY, f"{type(err).__name__}: {first or 'out of memory'}"
        if where == EVALUATION:
            return RESOURCE_EXHAUSTED, f"out of memory during the evaluation: {type(err).__name__}"
        return INTERNAL, unnamed
    if isinstance(err, OSError):
        # the worker's own files (run root, checkpoints, data): the path and why, never a traceback
        if training:
            return (IO, describe(err)) if err.errno in IO_ERRNOS else (CRASH, unnamed)
        if where == RPC and isinstance(err, FileNotFoundError):
            return NOT_FOUND, str(err)
        if where == RPC and is_disk_full(err):
            return RESOURCE_EXHAUSTED, describe(err)
        return FAILED_PRECONDITION, describe(err)
    if training and isinstance(err, ValueError):
        return INVALID_SPEC, str(err)
    return (CRASH if training else INTERNAL), unnamed
