"""Shared by the benchmarks: the machine's own limits, measured in the same run, and running a
peer library (neural-tangents) in another Python.

- `machine_limits`: a STREAM-like copy (b ← a on arrays far larger than the caches: bytes read
  + written per second) and a dense matrix product (2n³ flops per second), in the dtype and on
  the device being benchmarked, best of a few repeats with the same threads as the kernels.
- `timed`, `eager_only`: best-of timing, and nvk with its compiled path off (NVK_COMPILE=0).
- `peer`: runs a script in another interpreter (one with jax + neural-tangents) and returns the
  JSON object its last line prints, or None with the reason on stderr.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import sys
import time

import torch

XLA_ENV = {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=true"}  # jax on every core, as torch


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, repeats: int, *, warm: bool = True, device: str = "cpu") -> tuple[float, object]:
    """(best wall time of `repeats` calls, the last result), after one untimed warm-up call
    when `warm` (first-call costs: compilation, allocator)."""
    out = fn() if warm else None
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        out = fn()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best, out


@contextlib.contextmanager
def eager_only():
    """nvk's eager recursions inside (NVK_COMPILE=0), the environment restored after."""
    old = os.environ.get("NVK_COMPILE")
    os.environ["NVK_COMPILE"] = "0"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("NVK_COMPILE", None)
        else:
            os.environ["NVK_COMPILE"] = old


def machine_limits(
    dtype: torch.dtype, device: str = "cpu", *, copy_mib: int = 512, matmul_n: int = 2048,
    repeats: int = 5,
) -> dict[str, float]:  # fmt: skip
    """{"copy_GBps": bytes read + written per second by b.copy_(a) on `copy_mib` MiB arrays,
    "matmul_GFLOPs": 2n³ / time of an n × n matrix product}, in `dtype` on `device`."""
    src = torch.ones(copy_mib * 2**20 // dtype.itemsize, dtype=dtype, device=device)
    t_copy = timed(functools.partial(torch.empty_like(src).copy_, src), repeats, device=device)[0]
    del src
    g = torch.Generator(device=device).manual_seed(0)
    m = torch.randn(matmul_n, matmul_n, generator=g, dtype=dtype, device=device)
    t_mm = timed(lambda: m @ m, repeats, device=device)[0]
    return {
        "copy_GBps": 2 * copy_mib * 2**20 / t_copy / 1e9,
        "matmul_GFLOPs": 2 * matmul_n**3 / t_mm / 1e9,
    }


def versus_limits(seconds: float, nbytes: float, flops: float, limits: dict[str, float]) -> dict:
    """Effective rates of a kernel that moved `nbytes` and did `flops` in `seconds`, and their
    fractions of the machine's limits (1.0 = at the limit)."""
    gbps, gflops = nbytes / seconds / 1e9, flops / seconds / 1e9
    return {
        "GBps": gbps,
        "GFLOPs": gflops,
        "of_copy": gbps / limits["copy_GBps"],
        "of_matmul": gflops / limits["matmul_GFLOPs"],
    }


def peer(python: str, script: str, *args: object, env: dict[str, str] | None = None) -> dict | None:
    """The JSON object printed on the last stdout line of `python -c script args...`."""
    try:
        out = subprocess.run(
            [python, "-c", script, *map(str, args)],
            capture_output=True,
            text=True,
            timeout=3600,
            check=True,
            env={"PATH": "/usr/bin:/bin", **(env or {})},
        )
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError, OSError) as e:
        err = getattr(e, "stderr", "") or ""
        print(f"  (peer run failed: {e}; {err.strip().splitlines()[-1:]})", file=sys.stderr)
        return None
