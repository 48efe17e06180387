"""The worker's rooms, checked: the server process imports no torch (it must start fast and stay
small; training and evaluation run in their own processes), the training and evaluation code
knows nothing of gRPC, and only the gRPC room itself imports grpc or the generated messages,
not even inside a function body."""
import ast
import json
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "projhead_worker"
SERVER_PROCESS = ["server", "jobs", "supervise", "storage", "eventlog", "memory", "config", "errors", "paths",
                  "runlock", "atomic", "healthcheck", "evalspec", "slurm_job", "slurm_launch", "threadname", "resume"]
TRAINING_PROCESS = ["train", "trainstate", "trainproc", "evaluation.job", "evaluation", "methods", "models", "data", "checkpoint",
                    "export", "dynamics", "losses", "optim", "dist", "info"]
TORCH = ("torch", "torchvision", "numpy")
GRPC = ("grpc", "grpc_health", "projhead.v1", "projhead_worker.server", "projhead_worker.healthcheck")
GRPC_ROOM = {"server.py", "healthcheck.py", "__main__.py"}  # the gRPC service, its health probe, the command line


def _brought_in(modules: list[str], prefixes: tuple[str, ...]) -> dict[str, list[str]]:
    """Imports the modules in order in one fresh interpreter; for each, which of `prefixes` its
    import loaded first (the first module of the list that pulls one in is named)."""
    code = ("import importlib, json, sys\n"
            "out = {}\n"
            f"for m in {modules!r}:\n"
            "    before = set(sys.modules)\n"
            "    importlib.import_module('projhead_worker.' + m)\n"
            "    out[m] = sorted(set(sys.modules) - before)\n"
            "print(json.dumps(out))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True).stdout
    return {m: sorted({p for n in new for p in prefixes if n == p or n.startswith(p + ".")}) for m, new in json.loads(out).items()}


def test_the_server_process_modules_load_no_torch():
    assert {m: got for m, got in _brought_in(SERVER_PROCESS, TORCH).items() if got} == {}


def test_training_and_evaluation_load_nothing_of_grpc():
    assert {m: got for m, got in _brought_in(TRAINING_PROCESS, GRPC).items() if got} == {}


def test_only_the_grpc_room_imports_grpc_or_the_generated_messages():
    offenders = []
    for f in sorted(PKG.rglob("*.py")):
        rel = f.relative_to(PKG).as_posix()
        if rel in GRPC_ROOM:
            continue
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            if isinstance(node, ast.ImportFrom) and node.level:  # relative: from .server import ...
                names = [f"projhead_worker.{node.module}"] if node.module else [f"projhead_worker.{a.name}" for a in node.names]
            offenders += [f"{rel}:{node.lineno} imports {n}" for n in names
                          if any(n == p or n.startswith(p + ".") for p in GRPC)]
    assert offenders == []


def test_the_checks_can_fail():
    # the server process does load grpc, and the training loop does load torch
    assert "grpc" in _brought_in(["server"], ("grpc",))["server"]
    assert "torch" in _brought_in(["train"], ("torch",))["train"]
