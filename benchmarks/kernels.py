"""Gram-matrix throughput of nvk's kernels vs eager PyTorch, GPyTorch and (optionally) JAX.

For n points in d = 32 dimensions (standard normal), times the full symmetric n × n Gram matrix
K(X, X) and reports seconds and nanoseconds per matrix entry per layer (layers = L for the NTK,
1 for the exponential kernels):

- nvk:      `nvk.kernels.gram(kernel, X, tile=...)`: tiled, upper block triangle mirrored;
            the NTK tiles run the compiled recursion (`nvk.kernels.fused`, one loop over all
            layers; compile time excluded: one untimed call first).
- nvk eager: the same call with `NVK_COMPILE=0`: the in-place eager recursion (one arccos
            per layer), the reference the fused values are compared with (max |difference|).
- eager:    a straightforward full-matrix PyTorch transcription of the same formula (the NTK
            recursion with arccos/sin/cos per layer; exp(−c·cdist) for Laplace; normalized
            cdist for H-Laplace).
- gpytorch: `gpytorch.kernels.MaternKernel(nu=0.5)` (lengthscale 1/c), dense (`to_dense()`),
            for Laplace only.
- jax:      neural-tangents' `stax` NTK, `jit`-compiled by XLA on the same CPU (only with
            `--jax-python` pointing at an interpreter that has jax + neural-tangents; run in a
            separate process, compile time excluded); its values are compared with nvk's.

Against the machine (`_common.machine_limits`, measured in the same run): effective GB/s
counts the least traffic any Gram pass has, one read of the n × n product matrix and one
write of K (2 · itemsize · n² bytes), as a fraction of a STREAM-like copy; GFLOP/s counts the
formula's arithmetic (NTK: 20 flops per entry per hidden layer, arccos and sqrt counted as one
each, + 2d for x·z; Laplace 2d + 6; H-Laplace 2d + 8) as a fraction of a dense matrix product.

Prints a table, writes JSON (see benchmarks/README.md):

    .venv/bin/python benchmarks/kernels.py [--sizes 1000 4000 10000] [--repeats 3]
        [--large-repeats 1] [--dtypes float32 float64] [--jax-python /tmp/ntvenv/bin/python]
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import platform
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import torch
from _common import XLA_ENV, eager_only, machine_limits, peer, timed, versus_limits

from nvk.kernels import fc_ntk, gram, h_laplace, laplace
from nvk.utils import atomic_write_json, package_versions

FLOPS = {"ntk": 20, "laplace": 6, "h_laplace": 8}  # per entry (per hidden layer for the NTK)

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
    x = np.load(sys.argv[7]).astype(dtype)  # the inputs nvk was timed on
    f(x).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        k = f(x).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    np.save(sys.argv[6], np.asarray(k))
    print(json.dumps({"seconds": best}))
    """
)


def time_jax(python: str, x: torch.Tensor, depth: int, dtype: str, repeats: int) -> tuple:
    """(seconds, values) of neural-tangents' jitted stax NTK on x, or (None, None)."""
    with tempfile.TemporaryDirectory() as tmp:
        path, xpath = os.path.join(tmp, "k.npy"), os.path.join(tmp, "x.npy")
        np.save(xpath, x.double().numpy())
        n, d = x.shape
        res = peer(python, JAX_SCRIPT, n, d, depth, dtype, repeats, path, xpath, env=XLA_ENV)
        if res is None:
            return None, None
        return float(res["seconds"]), torch.from_numpy(np.load(path))


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
        f"{'kernel':<10} {'n':>6} {'dtype':>8} {'L':>2} {'nvk s':>7} {'eager s':>7} "
        f"{'naive s':>7} {'gpyt s':>7} {'jax s':>7} {'nvk/jax':>7} {'|f-e|':>8} {'|f-jax|':>8} "
        f"{'GB/s':>6} {'%copy':>5} {'GFLOP/s':>7} {'%mm':>4}"
    )
    limits: dict[str, dict[str, float]] = {}
    for dt_name in args.dtypes:
        limits[dt_name] = machine_limits(getattr(torch, dt_name))
        lim = limits[dt_name]
        print(
            f"machine limits ({dt_name}, {torch.get_num_threads()} threads): copy "
            f"{lim['copy_GBps']:.1f} GB/s, matmul {lim['matmul_GFLOPs']:.1f} GFLOP/s"
        )
    print(hdr)
    fmt = lambda v, f=".3f": format(v, f) if v is not None else "-"  # noqa: E731
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
                call = P(gram, kern, x, tile=args.tile, dtype=dtype)
                with torch.no_grad():
                    warm = reps > 1  # one untimed call first (n < 10000)
                    t_nvk, k_nvk = timed(call, reps)  # always warm: the first call compiles
                    with eager_only():
                        t_ref, k_ref = timed(call, reps, warm=warm)
                    t_eager, _ = timed(eager, reps, warm=warm)
                    t_gp = None
                    if name == "laplace":
                        t_gp = timed(P(gpytorch_matern, x), reps, warm=warm)[0]
                diff = (k_nvk - k_ref).abs().max().item()
                t_jax = k_jax = None
                if args.jax_python and name.startswith("ntk"):
                    t_jax, k_jax = time_jax(args.jax_python, x, layers, dt_name, reps)
                d_jax = None  # off the diagonal: there ρ = 1 exactly in nvk (snap), 1 − ulp
                if k_jax is not None:  # in stax, and arccos turns an ulp into ~1e-8
                    off = ~torch.eye(n, dtype=torch.bool)
                    d_jax = (k_nvk - k_jax.to(dtype))[off].abs().max().item()
                ops = FLOPS[name.split("_L")[0]] * (layers - 1 if name.startswith("ntk") else 1)
                lim = versus_limits(
                    t_nvk, 2 * dtype.itemsize * n * n, (ops + 2 * args.d) * n * n, limits[dt_name]
                )
                row = {
                    "kernel": name,
                    "n": n,
                    "d": args.d,
                    "dtype": dt_name,
                    "layers": layers,
                    "nvk_s": t_nvk,
                    "nvk_eager_s": t_ref,
                    "eager_s": t_eager,
                    "gpytorch_s": t_gp,
                    "jax_s": t_jax,
                    "nvk_over_jax": t_nvk / t_jax if t_jax else None,
                    "max_abs_fused_minus_eager": diff,
                    "max_abs_nvk_minus_jax": d_jax,
                    "nvk_ns_per_entry_layer": 1e9 * t_nvk / (n * n * layers),
                    "eager_over_nvk": t_eager / t_nvk,
                    **lim,
                }
                rows.append(row)
                print(
                    f"{name:<10} {n:>6} {dt_name:>8} {layers:>2} {t_nvk:>7.3f} {t_ref:>7.3f} "
                    f"{t_eager:>7.3f} {fmt(t_gp):>7} {fmt(t_jax):>7} "
                    f"{fmt(row['nvk_over_jax'], '.2f'):>7} {diff:>8.1e} {fmt(d_jax, '.1e'):>8} "
                    f"{lim['GBps']:>6.1f} {100 * lim['of_copy']:>5.0f} {lim['GFLOPs']:>7.1f} "
                    f"{100 * lim['of_matmul']:>4.0f}",
                    flush=True,
                )
    atomic_write_json(
        args.out,
        {
            "benchmark": "kernel_gram",
            "config": vars(args),
            "threads": torch.get_num_threads(),
            "limits": limits,
            "machine": platform.platform(),
            "packages": package_versions(("torch", "gpytorch")),
            "rows": rows,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
