"""Gram-matrix throughput of nvk's kernels vs eager PyTorch, GPyTorch and (optionally) JAX.

For n points in d = 32 dimensions (standard normal), times the full symmetric n × n Gram matrix
K(X, X) and reports seconds and nanoseconds per matrix entry per layer (layers = L for the NTK,
1 for the exponential kernels):

- nvk:      `nvk.kernels.gram(kernel, X, tile=...)`: tiled, upper block triangle mirrored,
            in-place recursion (one arccos per layer).
- eager:    a straightforward full-matrix PyTorch transcription of the same formula (the NTK
            recursion with arccos/sin/cos per layer; exp(−c·cdist) for Laplace; normalized
            cdist for H-Laplace).
- gpytorch: `gpytorch.kernels.MaternKernel(nu=0.5)` (lengthscale 1/c), dense (`to_dense()`),
            for Laplace only.
- jax:      neural-tangents' `stax` NTK, `jit`-compiled by XLA on the same CPU (only with
            `--jax-python` pointing at an interpreter that has jax + neural-tangents; run in a
            separate process, compile time excluded).

Prints a table, writes JSON (see benchmarks/README.md):

    .venv/bin/python benchmarks/kernels.py [--sizes 1000 4000 10000] [--repeats 3]
        [--large-repeats 1] [--dtypes float32 float64] [--jax-python /tmp/ntvenv/bin/python]
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import platform
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import torch

from nvk.kernels import fc_ntk, gram, h_laplace, laplace
from nvk.utils import atomic_write_json, package_versions

C = 1.0


def eager_ntk(x: torch.Tensor, depth: int) -> torch.Tensor:
    """The NTK recursion transcribed directly (β = 0, σ_w² = 2), full matrices."""
    d, s2 = x.shape[1], 2.0
    c = s2 * (x @ x.T) / d
    q = s2 * (x * x).sum(1) / d
    theta_acc = c.clone()
    for h in range(2, depth + 1):
        s = s2 if h < depth else 1.0
        norm = torch.sqrt(q[:, None] * q[None, :])
        th = torch.arccos(torch.clamp(c / norm, -1, 1))
        c = s / (2 * math.pi) * norm * (torch.sin(th) + (math.pi - th) * torch.cos(th))
        theta_acc = theta_acc * (s / (2 * math.pi) * (math.pi - th)) + c
        q = s * q / 2
    return theta_acc


def eager_laplace(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(-C * torch.cdist(x, x))


def eager_h_laplace(x: torch.Tensor) -> torch.Tensor:
    n = x.norm(dim=1, keepdim=True)
    return n * n.T * torch.exp(-C * torch.cdist(x / n, x / n))


def gpytorch_matern(x: torch.Tensor) -> torch.Tensor:
    import gpytorch

    k = gpytorch.kernels.MaternKernel(nu=0.5).to(x.dtype)
    k.lengthscale = 1 / C
    return k(x).to_dense()


def timeit(fn: Callable[[], object], repeats: int) -> float:
    """Best of `repeats` timed calls after one untimed warm-up call (n < 10000)."""
    if repeats > 1:
        fn()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


JAX_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    import jax
    jax.config.update("jax_enable_x64", True)
    from neural_tangents import stax
    n, d, depth, repeats = (int(a) for a in (sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[5]))
    dtype = sys.argv[4]
    layers = []
    for _ in range(depth - 1):
        layers += [stax.Dense(512, W_std=2 ** 0.5, parameterization="ntk"), stax.Relu()]
    layers += [stax.Dense(1, W_std=1.0, parameterization="ntk")]
    _, _, kernel_fn = stax.serial(*layers)
    f = jax.jit(lambda a: kernel_fn(a, None, "ntk"))
    x = np.random.default_rng(0).standard_normal((n, d)).astype(dtype)
    f(x).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        f(x).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    print(json.dumps({"seconds": best}))
    """
)


def time_jax(python: str, n: int, d: int, depth: int, dtype: str, repeats: int) -> float | None:
    try:
        out = subprocess.run(
            [python, "-c", JAX_SCRIPT, str(n), str(d), str(depth), dtype, str(repeats)],
            capture_output=True,
            text=True,
            timeout=1800,
            check=True,
            env={"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=true", "PATH": "/usr/bin:/bin"},
        )
        return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])
    except (subprocess.SubprocessError, ValueError, KeyError, IndexError) as e:
        print(f"  (jax run failed: {e})", file=sys.stderr)
        return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 10000])
    p.add_argument("--d", type=int, default=32)
    p.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--large-repeats", type=int, default=1, help="repeats for n >= 10000")
    p.add_argument("--tile", type=int, default=2048)
    p.add_argument("--kernels", nargs="+", default=None, help="subset, e.g. laplace ntk_L6")
    p.add_argument("--jax-python", default=None, help="python with jax + neural-tangents")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "kernels.json"))
    args = p.parse_args()
    rows = []
    hdr = (
        f"{'kernel':<10} {'n':>6} {'dtype':>8} {'layers':>6} {'nvk s':>8} {'eager s':>8} "
        f"{'gpytorch s':>10} {'jax s':>8} {'nvk ns/e/l':>10} {'eager/nvk':>9}"
    )
    print(hdr)
    for n in args.sizes:
        reps = args.large_repeats if n >= 10000 else args.repeats
        for dt_name in args.dtypes:
            dtype = getattr(torch, dt_name)
            x = torch.randn(n, args.d, generator=torch.Generator().manual_seed(0)).to(dtype)
            P = functools.partial
            cases = [
                ("ntk_L2", 2, P(fc_ntk, depth=2), P(eager_ntk, x, 2)),
                ("ntk_L6", 6, P(fc_ntk, depth=6), P(eager_ntk, x, 6)),
                ("laplace", 1, P(laplace, c=C), P(eager_laplace, x)),
                ("h_laplace", 1, P(h_laplace, c=C), P(eager_h_laplace, x)),
            ]
            cases = [c for c in cases if args.kernels is None or c[0] in args.kernels]
            for name, layers, kern, eager in cases:
                with torch.no_grad():
                    t_nvk = timeit(
                        functools.partial(gram, kern, x, tile=args.tile, dtype=dtype), reps
                    )
                    t_eager = timeit(eager, reps)
                    t_gp = (
                        timeit(functools.partial(gpytorch_matern, x), reps)
                        if name == "laplace"
                        else None
                    )
                t_jax = None
                if args.jax_python and name.startswith("ntk"):
                    t_jax = time_jax(args.jax_python, n, args.d, layers, dt_name, reps)
                per = 1e9 * t_nvk / (n * n * layers)
                row = {
                    "kernel": name,
                    "n": n,
                    "d": args.d,
                    "dtype": dt_name,
                    "layers": layers,
                    "nvk_s": t_nvk,
                    "eager_s": t_eager,
                    "gpytorch_s": t_gp,
                    "jax_s": t_jax,
                    "nvk_ns_per_entry_layer": per,
                    "eager_over_nvk": t_eager / t_nvk,
                }
                rows.append(row)
                fmt = lambda v: f"{v:.3f}" if v is not None else "-"  # noqa: E731
                print(
                    f"{name:<10} {n:>6} {dt_name:>8} {layers:>6} {t_nvk:>8.3f} {t_eager:>8.3f} "
                    f"{fmt(t_gp):>10} {fmt(t_jax):>8} {per:>10.2f} {t_eager / t_nvk:>9.2f}",
                    flush=True,
                )
    atomic_write_json(
        args.out,
        {
            "benchmark": "kernel_gram",
            "config": vars(args),
            "threads": torch.get_num_threads(),
            "machine": platform.platform(),
            "packages": package_versions(("torch", "gpytorch")),
            "rows": rows,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
