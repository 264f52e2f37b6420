"""Which device a model runs on: the one the user named, else the GPU when there is one."""

from __future__ import annotations

import torch


def torch_device(name: str | torch.device | None = None) -> torch.device:
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def memory_report(device: torch.device) -> dict[str, float]:
    """GiB on a CUDA device since the last ``reset_peak_memory_stats``: what tensors peaked at
    (allocated), what the caching allocator held at its peak (reserved: what the process
    really needs), and what the device had in use now, CUDA context and other processes
    included (``mem_get_info``; measured after the run, while the cache still holds)."""
    if device.type != "cuda":
        return {}
    free, total = torch.cuda.mem_get_info(device)
    return {
        "allocated": torch.cuda.max_memory_allocated(device) / 2**30,
        "reserved": torch.cuda.max_memory_reserved(device) / 2**30,
        "device_in_use": (total - free) / 2**30,
    }
