"""What GetInfo reports: versions, devices and datasets. Imports torch lazily (slow)."""
from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from ..common.config import BACKBONES, DATASETS, METHODS


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _system_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def worker_info(data_roots: list[Path]) -> dict[str, Any]:
    import torch

    from ..training.data import dataset_status

    devices = [{"id": "cpu", "name": _cpu_name(), "memory_bytes": _system_memory(), "capability": "",
                "cores": os.cpu_count() or 0}]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            devices.append({"id": f"cuda:{i}", "name": p.name, "memory_bytes": p.total_memory,
                            "capability": f"{p.major}.{p.minor}", "cores": p.multi_processor_count})
    datasets = []
    for name in DATASETS:
        available, default_root, detail = dataset_status(name)
        datasets.append({"name": name, "available": available, "default_root": default_root, "detail": detail})
    return {
        "python_version": platform.python_version(),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda or "",
        "devices": devices,
        "datasets": datasets,
        "methods": list(METHODS),
        "backbones": list(BACKBONES),
    }
