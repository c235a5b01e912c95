"""Memory estimates made before a Gram matrix is built."""

from __future__ import annotations

import math
import os

import torch


def available_bytes(device: torch.device | str = "cpu") -> int:
    """Free memory on `device`: CUDA's `mem_get_info`, else the OS's available physical memory."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def gram_bytes(n: int, m: int, dtype: torch.dtype = torch.float64, copies: float = 2.0) -> int:
    """Bytes for an (n, m) matrix times `copies` (a factorization needs a second n x n buffer)."""
    return int(n * m * torch.empty((), dtype=dtype).element_size() * copies)


def check_gram_memory(
    n: int,
    m: int | None = None,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
    copies: float = 2.0,
    budget: int | None = None,
    extra: int = 0,
) -> int:
    """Raise MemoryError, before anything is allocated, if an (n, m) Gram matrix (times
    `copies`) does not fit in `budget` (default: 90 % of what is available); the message gives
    the memory needed, the largest square size that fits (`data.subset=`) and `solver=falkon`,
    which never forms the matrix (M centres: an n x M block at a time). `extra`: bytes needed
    beside it (e.g. a test-train matrix)."""
    m = n if m is None else m
    need = gram_bytes(n, m, dtype, copies) + extra
    have = int(0.9 * available_bytes(device)) if budget is None else budget
    if need > have:
        per = gram_bytes(1, 1, dtype, copies)
        fits = math.isqrt(max(have, 0) // per)
        raise MemoryError(
            f"a {n} x {m} {str(dtype).replace('torch.', '')} Gram matrix needs about "
            f"{need / 2**30:.1f} GiB (x{copies:g} for the solve{' + the rest' if extra else ''}) "
            f"but only {have / 2**30:.1f} GiB "
            f"is available on {device}; nothing was computed. Use fewer points (at most about "
            f"data.subset={fits}), or a solver that never forms it: solver=falkon "
            "(e.g. solver=falkon solver.centers=10000; docs/largescale.md)"
        )
    return need
