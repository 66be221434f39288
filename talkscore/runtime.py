"""Device choice, thread counts and reproducibility."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import numpy as np
import torch


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """`auto` (or None) picks CUDA when available, else CPU; other names are checked."""
    if name is None or str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}: use auto, cpu or cuda (cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available here; use cpu")
    return device


def usable_cores() -> int:
    """Cores this process may run on: its affinity mask, capped by a cgroup CPU quota."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores or 1, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota here
    return max(1, cores or 1)


def busy_cores(sample_s: float = 0.1) -> float:
    """How many cores other processes kept busy over the last `sample_s` seconds (Linux's
    /proc/stat; 0 where it cannot be read)."""

    def ticks() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # all, idle + iowait

    try:
        total_0, idle_0 = ticks()
        time.sleep(sample_s)
        total_1, idle_1 = ticks()
    except (OSError, ValueError, IndexError):
        return 0.0
    busy_share = 1 - (idle_1 - idle_0) / max(1, total_1 - total_0)
    return busy_share * (os.cpu_count() or 1)


def configure_threads(workers: int = 1, training: bool = False) -> int:
    """Set torch's intra-op thread count for this process and return it.

    Scoring and extraction run their stages side by side on threads of their own (face
    tracking, decoding, the visual backend, DNSMOS), so torch gets one thread: faster than
    torch's default on a quiet machine and beside a busy process alike (docs/performance.md).
    Training gets the cores that other processes leave free, shared among `workers`: torch's
    threads wait for each other by spinning, so one more thread than there are free cores
    halves the speed.
    """
    threads = 1
    if training:
        free = usable_cores() - round(busy_cores())
        threads = max(1, free // max(1, workers))
    torch.set_num_threads(threads)
    return threads


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; returns a torch generator for data shuffling."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
