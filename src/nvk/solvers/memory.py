"""Memory estimates made before a Gram matrix is built."""

from __future__ import annotations

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
) -> int:
    """Raise MemoryError, suggesting `data.subset` or `solver=falkon`, if an (n, m) Gram matrix
    (times `copies`) does not fit in `budget` (default: 90 % of what is available)."""
    m = n if m is None else m
    need = gram_bytes(n, m, dtype, copies)
    have = int(0.9 * available_bytes(device)) if budget is None else budget
    if need > have:
        raise MemoryError(
            f"a {n} x {m} {str(dtype).replace('torch.', '')} Gram matrix needs about "
            f"{need / 2**30:.1f} GiB (x{copies:g} for the solve) but only {have / 2**30:.1f} GiB "
            f"is available on {device}; use fewer points (data.subset=...), or a solver that "
            "never forms it (solver=falkon)"
        )
    return need
