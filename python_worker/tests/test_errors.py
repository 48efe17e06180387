"""errors.classify, the one classifier: for every exception type, the status a call answers with
(through server._status_of), the status an evaluation process reports and the cause a training
process reports, each with its message, as the worker reported them before the three classifiers
(server._status_of, evaluation/job._error_of, trainproc.classify_failure) became one; and
errors.py imports without torch and without grpc."""
import errno
import json
import subprocess
import sys

import grpc
import pytest
import torch

from projhead_worker.common import errors
from projhead_worker.common.errors import CheckpointError, DatasetError, JobError, MalformedRequest, NonFiniteLoss, PathError, SpecError
from projhead_worker.server import service as server
from projhead_worker.training.evaluation import job as evaluation_job

# (exception, (grpc status of a call, message), (status of an evaluation, message), (cause of a
# training failure, message)); None where that process never raises the type. A JobError in an
# evaluation is what evaluation/job.py raises to refuse a request (its code, its message).
TABLE = [
    pytest.param(MalformedRequest("request: not a valid request message for X (DecodeError: bad)"),
                 ("INVALID_ARGUMENT", "request: not a valid request message for X (DecodeError: bad)"),
                 None,
                 None, id="malformed"),
    pytest.param(JobError("invalid_argument", "run_id: bad"),
                 ("INVALID_ARGUMENT", "run_id: bad"),
                 ("invalid_argument", "run_id: bad"),
                 ("crash", "JobError: run_id: bad"), id="job_invalid_argument"),
    pytest.param(JobError("not_found", "run_id: no run"),
                 ("NOT_FOUND", "run_id: no run"),
                 ("not_found", "run_id: no run"),
                 ("crash", "JobError: run_id: no run"), id="job_not_found"),
    pytest.param(JobError("already_exists", "run_id: running"),
                 ("ALREADY_EXISTS", "run_id: running"),
                 ("already_exists", "run_id: running"),
                 ("crash", "JobError: run_id: running"), id="job_already_exists"),
    pytest.param(JobError("failed_precondition", "shutting down"),
                 ("FAILED_PRECONDITION", "shutting down"),
                 ("failed_precondition", "shutting down"),
                 ("crash", "JobError: shutting down"), id="job_failed_precondition"),
    pytest.param(JobError("resource_exhausted", "too many"),
                 ("RESOURCE_EXHAUSTED", "too many"),
                 ("resource_exhausted", "too many"),
                 ("crash", "JobError: too many"), id="job_resource_exhausted"),
    pytest.param(JobError("permission_denied", "no"),
                 ("PERMISSION_DENIED", "no"),
                 ("permission_denied", "no"),
                 ("crash", "JobError: no"), id="job_permission_denied"),
    pytest.param(JobError("internal", "the evaluation process ended"),
                 ("INTERNAL", "the evaluation process ended"),
                 ("internal", "the evaluation process ended"),
                 ("crash", "JobError: the evaluation process ended"), id="job_internal"),
    pytest.param(JobError("bogus", "what"),
                 ("INTERNAL", "what"),
                 ("internal", "what"),
                 ("crash", "JobError: what"), id="job_unknown_code"),
    pytest.param(PathError("data.root: '/etc' is outside the data roots"),
                 ("PERMISSION_DENIED", "data.root: '/etc' is outside the data roots"),
                 ("permission_denied", "data.root: '/etc' is outside the data roots"),
                 ("invalid_spec", "data.root: '/etc' is outside the data roots"), id="path"),
    pytest.param(SpecError("train.batch_size", 0, "an integer"),
                 ("INVALID_ARGUMENT", "spec.train.batch_size: got 0, expected an integer"),
                 ("invalid_argument", "train.batch_size: got 0, expected an integer"),
                 ("invalid_spec", "train.batch_size: got 0, expected an integer"), id="spec"),
    pytest.param(CheckpointError("/r/checkpoints/last.pt: not a projhead checkpoint (x)"),
                 ("FAILED_PRECONDITION", "/r/checkpoints/last.pt: not a projhead checkpoint (x)"),
                 ("failed_precondition", "/r/checkpoints/last.pt: not a projhead checkpoint (x)"),
                 ("invalid_spec", "/r/checkpoints/last.pt: not a projhead checkpoint (x)"), id="checkpoint"),
    pytest.param(DatasetError("/data/mnist/train.gz", "an IDX file", "file not found"),
                 ("FAILED_PRECONDITION", "/data/mnist/train.gz: file not found; expected an IDX file"),
                 ("failed_precondition", "/data/mnist/train.gz: file not found; expected an IDX file"),
                 ("dataset", "/data/mnist/train.gz: file not found; expected an IDX file"), id="dataset"),
    pytest.param(NonFiniteLoss("loss became nan at step 3"),
                 ("INTERNAL", "NonFiniteLoss: loss became nan at step 3"),
                 ("internal", "NonFiniteLoss: loss became nan at step 3"),
                 ("non_finite_loss", "loss became nan at step 3"), id="non_finite_loss"),
    pytest.param(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB\nmore"),
                 ("INTERNAL", "OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB\nmore"),
                 ("resource_exhausted", "out of memory during the evaluation: OutOfMemoryError"),
                 ("out_of_memory", "OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB"), id="oom_cuda"),
    pytest.param(MemoryError(),
                 ("INTERNAL", "MemoryError: "),
                 ("resource_exhausted", "out of memory during the evaluation: MemoryError"),
                 ("out_of_memory", "MemoryError: out of memory"), id="oom_memory_error"),
    pytest.param(RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: 8 bytes"),
                 ("INTERNAL", "RuntimeError: [enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: 8 bytes"),
                 ("resource_exhausted", "out of memory during the evaluation: RuntimeError"),
                 ("out_of_memory", "RuntimeError: [enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: 8 bytes"), id="oom_cpu_allocator"),
    pytest.param(RuntimeError("CUDA error: out of memory"),
                 ("INTERNAL", "RuntimeError: CUDA error: out of memory"),
                 ("resource_exhausted", "out of memory during the evaluation: RuntimeError"),
                 ("out_of_memory", "RuntimeError: CUDA error: out of memory"), id="oom_runtime"),
    pytest.param(FileNotFoundError(errno.ENOENT, "No such file or directory", "/r/x"),
                 ("NOT_FOUND", "[Errno 2] No such file or directory: '/r/x'"),
                 ("failed_precondition", "/r/x: No such file or directory"),
                 ("crash", "FileNotFoundError: [Errno 2] No such file or directory: '/r/x'"), id="file_not_found"),
    pytest.param(OSError(errno.ENOSPC, "No space left on device", "/r/y"),
                 ("RESOURCE_EXHAUSTED", "/r/y: No space left on device (disk full)"),
                 ("failed_precondition", "/r/y: No space left on device (disk full)"),
                 ("io", "/r/y: No space left on device (disk full)"), id="enospc"),
    pytest.param(OSError(errno.EDQUOT, "Disk quota exceeded", "/r/y"),
                 ("RESOURCE_EXHAUSTED", "/r/y: Disk quota exceeded (disk full)"),
                 ("failed_precondition", "/r/y: Disk quota exceeded (disk full)"),
                 ("io", "/r/y: Disk quota exceeded (disk full)"), id="edquot"),
    pytest.param(OSError(errno.EROFS, "Read-only file system", "/r/y"),
                 ("FAILED_PRECONDITION", "/r/y: Read-only file system (file system mounted read-only)"),
                 ("failed_precondition", "/r/y: Read-only file system (file system mounted read-only)"),
                 ("io", "/r/y: Read-only file system (file system mounted read-only)"), id="erofs"),
    pytest.param(PermissionError(errno.EACCES, "Permission denied", "/r/y"),
                 ("FAILED_PRECONDITION", "/r/y: Permission denied (not writable, or immutable)"),
                 ("failed_precondition", "/r/y: Permission denied (not writable, or immutable)"),
                 ("io", "/r/y: Permission denied (not writable, or immutable)"), id="eacces"),
    pytest.param(PermissionError(errno.EPERM, "Operation not permitted", "/r/y"),
                 ("FAILED_PRECONDITION", "/r/y: Operation not permitted (not writable, or immutable)"),
                 ("failed_precondition", "/r/y: Operation not permitted (not writable, or immutable)"),
                 ("io", "/r/y: Operation not permitted (not writable, or immutable)"), id="eperm"),
    pytest.param(OSError(errno.EIO, "Input/output error", "/r/y"),
                 ("FAILED_PRECONDITION", "/r/y: Input/output error"),
                 ("failed_precondition", "/r/y: Input/output error"),
                 ("io", "/r/y: Input/output error"), id="eio"),
    pytest.param(OSError(errno.EMFILE, "Too many open files"),
                 ("FAILED_PRECONDITION", "Too many open files"),
                 ("failed_precondition", "Too many open files"),
                 ("crash", "OSError: [Errno 24] Too many open files"), id="emfile"),
    pytest.param(OSError("weird"),
                 ("FAILED_PRECONDITION", "OSError"),
                 ("failed_precondition", "OSError"),
                 ("crash", "OSError: weird"), id="oserror_without_errno"),
    pytest.param(ValueError("train.batch_size: 512 is larger than the 256 training images"),
                 ("INTERNAL", "ValueError: train.batch_size: 512 is larger than the 256 training images"),
                 ("internal", "ValueError: train.batch_size: 512 is larger than the 256 training images"),
                 ("invalid_spec", "train.batch_size: 512 is larger than the 256 training images"), id="value"),
    pytest.param(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
                 ("INTERNAL", "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
                 ("internal", "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
                 ("invalid_spec", "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"), id="unicode_decode"),
    pytest.param(RuntimeError("mat1 and mat2 shapes cannot be multiplied"),
                 ("INTERNAL", "RuntimeError: mat1 and mat2 shapes cannot be multiplied"),
                 ("internal", "RuntimeError: mat1 and mat2 shapes cannot be multiplied"),
                 ("crash", "RuntimeError: mat1 and mat2 shapes cannot be multiplied"), id="runtime"),
    pytest.param(KeyError("model"),
                 ("INTERNAL", "KeyError: 'model'"),
                 ("internal", "KeyError: 'model'"),
                 ("crash", "KeyError: 'model'"), id="key"),
    pytest.param(TypeError("x"),
                 ("INTERNAL", "TypeError: x"),
                 ("internal", "TypeError: x"),
                 ("crash", "TypeError: x"), id="type"),
]


@pytest.mark.parametrize("exc, rpc, evaluation, training", TABLE)
def test_every_exception_is_reported_as_before(exc, rpc, evaluation, training):
    code, message = server._status_of(exc)
    assert (code.name, message) == rpc
    if evaluation is not None:
        assert errors.classify(exc, errors.EVALUATION) == evaluation
    if training is not None:
        assert errors.classify(exc, errors.TRAINING) == training


def test_kinds_are_the_named_ones():
    for row in TABLE:
        exc = row.values[0]
        assert errors.classify(exc, errors.RPC)[0] in errors.STATUSES
        assert errors.classify(exc, errors.EVALUATION)[0] in errors.STATUSES
        assert errors.classify(exc, errors.TRAINING)[0] in errors.CAUSES


def test_every_status_has_its_grpc_code_in_one_table():
    assert set(server._STATUS) == set(errors.STATUSES)
    for status, code in server._STATUS.items():
        assert code == getattr(grpc.StatusCode, status.upper())


def test_the_types_are_the_ones_their_modules_raise():
    from projhead_worker.common import config, paths
    from projhead_worker.server import jobs
    from projhead_worker.training import checkpoint, data, train
    from projhead_worker.training.data import base

    assert config.SpecError is SpecError and paths.PathError is PathError and jobs.JobError is JobError
    assert checkpoint.CheckpointError is CheckpointError and train.NonFiniteLoss is NonFiniteLoss
    assert data.DatasetError is DatasetError and base.DatasetError is DatasetError
    assert server.MalformedRequest is MalformedRequest


def test_the_evaluation_process_reports_the_classified_status(tmp_path, capsys):
    missing = tmp_path / "checkpoints" / "nope.pt"
    assert evaluation_job.main([json.dumps({"run_dir": str(tmp_path), "checkpoint": str(missing)})]) == 1
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line == {"type": "error", "code": "failed_precondition", "message": f"{missing}: No such file or directory"}


def test_errors_imports_without_torch_or_grpc():
    code = ("import sys; sys.modules['torch'] = None; sys.modules['grpc'] = None; sys.modules['numpy'] = None\n"
            "from projhead_worker.common import errors\n"
            "print(errors.classify(errors.DatasetError('/d', 'an IDX file'), errors.TRAINING)[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "dataset"
