"""The worker's rooms, checked. The package is split by process:

    __main__.py, healthcheck.py   entry points (serve, slurm-job; the container's health probe)
    server/                       the gRPC server process: no torch at import
    training/                     the torch side: training and evaluation processes
    common/                       what both use: no torch, no gRPC

Imports run downward only: entry points -> server -> training -> common. server/ imports
training/ only inside a function body (the server loads torch on demand: resume checks,
ExportBackbone, GetInfo); training/ never imports server/; common/ imports neither. The server
process's modules load no torch, training and evaluation know nothing of gRPC, and only the
gRPC room itself imports grpc or the generated messages, not even inside a function body."""
import ast
import json
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "projhead_worker"
ENTRY_POINTS = {"__init__", "__main__", "healthcheck"}
ROOMS = ("server", "training", "common")
TORCH = ("torch", "torchvision", "numpy")
GRPC = ("grpc", "grpc_health", "projhead.v1", "projhead_worker.server.service", "projhead_worker.healthcheck")
GRPC_ROOM = {"server/service.py", "healthcheck.py", "__main__.py"}  # the gRPC service, its health probe, the command line


def _modules(room: str) -> list[str]:
    """Dotted names (below projhead_worker) of every module of a room, packages included."""
    out = []
    for f in sorted((PKG / room).rglob("*.py")):
        parts = list(f.relative_to(PKG).with_suffix("").parts)
        out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


SERVER_PROCESS = _modules("common") + _modules("server")
TRAINING_PROCESS = _modules("common") + _modules("training")


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


def _imports(source: str, module: str, is_package: bool) -> list[tuple[int, str, bool]]:
    """(line, absolute module name, inside a function body) of every import in `source`, the
    relative ones resolved against `module` (dotted, starting with projhead_worker)."""
    base = module.split(".") if is_package else module.split(".")[:-1]
    found: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((child.lineno, a.name, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    parent = base[:len(base) - child.level + 1]
                    if child.module:
                        found.append((child.lineno, ".".join(parent + child.module.split(".")), in_function))
                    else:  # from . import a, b: each name may be a module of the package
                        found.extend((child.lineno, ".".join(parent + [a.name]), in_function) for a in child.names)
                else:
                    found.append((child.lineno, child.module or "", in_function))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(source), False)
    return found


def _room(module: str) -> str | None:
    """The room of a dotted module name (projhead_worker.<room>...), "entry" for the package's
    top-level modules, None outside the package."""
    parts = module.split(".")
    if parts[0] != "projhead_worker":
        return None
    if len(parts) == 1 or parts[1] in ENTRY_POINTS or parts[1].startswith("__"):  # __version__: the package's
        return "entry" if len(parts) > 1 and parts[1] in ENTRY_POINTS - {"__init__"} else "package"
    return parts[1] if parts[1] in ROOMS else "unknown"


def _upward(source: str, module: str, is_package: bool = False) -> list[str]:
    """The imports of one module that break the rooms' direction."""
    here = _room(module)
    bad = []
    for line, target, in_function in _imports(source, module, is_package):
        there = _room(target)
        if there is None or there == here or there == "package":
            continue
        allowed = (here == "entry"
                   or (here == "server" and there == "common")
                   or (here == "server" and there == "training" and in_function)
                   or (here == "training" and there == "common"))
        if not allowed:
            where = "inside a function" if in_function else "at the top"
            bad.append(f"{module}:{line} ({here}) imports {target} ({there}) {where}")
    return bad


def test_the_package_holds_only_entry_points_and_rooms():
    flat = sorted(f.stem for f in PKG.glob("*.py"))
    assert set(flat) == ENTRY_POINTS
    assert sorted(d.name for d in PKG.iterdir() if d.is_dir() and (d / "__init__.py").exists()) == sorted(ROOMS)


def test_imports_run_downward_only():
    offenders = []
    for f in sorted(PKG.rglob("*.py")):
        parts = list(f.relative_to(PKG).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        module = ".".join(["projhead_worker"] + (parts[:-1] if is_package else parts))
        offenders += _upward(f.read_text(), module, is_package)
    assert offenders == []


def test_the_direction_check_can_fail():
    assert _upward("from ..server import supervise\n", "projhead_worker.training.trainproc") == [
        "projhead_worker.training.trainproc:1 (training) imports projhead_worker.server (server) at the top"]
    assert _upward("from ..training import checkpoint\n", "projhead_worker.server.jobs") == [
        "projhead_worker.server.jobs:1 (server) imports projhead_worker.training (training) at the top"]
    assert _upward("def f():\n    from ..training import checkpoint\n", "projhead_worker.server.jobs") == []
    assert _upward("def f():\n    from projhead_worker.server.jobs import JobManager\n", "projhead_worker.common.memory") == [
        "projhead_worker.common.memory:2 (common) imports projhead_worker.server.jobs (server) inside a function"]
    assert _upward("from ... import healthcheck\n", "projhead_worker.training.data.idx") != []


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
        parts = list(f.relative_to(PKG).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        module = ".".join(["projhead_worker"] + (parts[:-1] if is_package else parts))
        offenders += [f"{rel}:{line} imports {n}" for line, n, _ in _imports(f.read_text(), module, is_package)
                      if any(n == p or n.startswith(p + ".") for p in GRPC)]
    assert offenders == []


def test_the_checks_can_fail():
    # the server process does load grpc, and the training loop does load torch
    assert "grpc" in _brought_in(["server.service"], ("grpc",))["server.service"]
    assert "torch" in _brought_in(["training.train"], ("torch",))["training.train"]
