"""Which device a model runs on: the one the user named, else the GPU when there is one."""

from __future__ import annotations

import torch


def torch_device(name: str | torch.device | None = None) -> torch.device:
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
