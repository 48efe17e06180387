"""Confinement of every path a client sends: data roots and checkpoint paths must resolve
(symlinks followed) inside the directories the worker was told to serve."""
from __future__ import annotations

import os
from pathlib import Path

from .echo import echo
from .errors import PathError


def default_data_roots() -> list[Path]:
    roots = [Path("/usr/share/datasets")]
    if os.environ.get("PROJHEAD_DATA_ROOT"):
        roots.append(Path(os.environ["PROJHEAD_DATA_ROOT"]))
    return roots


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def confine(path: str, roots: list[Path], field: str) -> Path:
    if "\x00" in path:
        raise PathError(f"{field}: contains a NUL byte")
    resolved = Path(path).expanduser().resolve()
    real_roots = [r.expanduser().resolve() for r in roots]
    if not any(_inside(resolved, r) for r in real_roots):
        allowed = ", ".join(str(r) for r in real_roots) or "(none configured)"
        raise PathError(f"{field}: {echo(path)} is outside the worker's data roots ({allowed}); start the worker with --data-root")
    return resolved


def checkpoint_in(run_dir: Path, rel: str) -> Path:
    """The checkpoint `rel` (relative to the run directory), or the newest one when empty."""
    run_dir = run_dir.resolve()
    if not rel:
        p = run_dir / "checkpoints" / "last.pt"
        if not p.is_file():
            raise FileNotFoundError(f"checkpoint: run {run_dir.name!r} has no checkpoint yet")
        return p
    if "\x00" in rel or os.path.isabs(rel):
        raise PathError(f"checkpoint: {echo(rel)} must be a path relative to the run directory")
    p = (run_dir / rel).resolve()
    if not _inside(p, run_dir):
        raise PathError(f"checkpoint: {echo(rel)} leaves the run directory")
    if not _inside(p, run_dir / "checkpoints") or p.suffix != ".pt":
        raise PathError(f"checkpoint: {echo(rel)} is not a checkpoint of run {run_dir.name!r} (expected checkpoints/<name>.pt)")
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint: {echo(rel)} not found in run {run_dir.name!r}")
    return p
