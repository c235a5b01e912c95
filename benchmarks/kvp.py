"""Kernel-vector products at n = 100 000, d = 32 with KeOps: nvk's NTK (L = 2, 6) and Laplace
vs GPyTorch's KeOps Matérn-½.

Times K(X, X) v for n standard normal points (float32 by default, GPyTorch's default dtype), v
of shape (n, 1), through each GPyTorch kernel (`kernel(X) @ v`, a `KernelLinearOperator` on a
KeOps formula; nothing n × n is stored). A first product on 1000 points compiles the formula
(KeOps' one-time cost, "compile s"); then the best of `--repeats` products at full n. nvk's
Laplace exp(−c‖x − z‖) and GPyTorch's Matérn-½ with lengthscale 1/c are the same kernel: their
products are compared.

    .venv/bin/python benchmarks/kvp.py [--n 100000] [--d 32] [--repeats 1] [--dtype float32]

Since each layer's ρ, θ and covariance are computed once per entry (keopscore `Factorize`, see
`nvk.kernels.keops`), the NTK costs a fixed amount per layer. On 2 CPU cores one product at
n = 100 000 takes tens of minutes to hours; `--rows m` times the first m rows of the same
product, K(X[:m], X) v (all n columns), and reports the full product's time as (n / m) × that:
KeOps' cost is exactly proportional to the number of entries, so ns/entry is the figure to read.

Prints a table, writes JSON to benchmarks/results/kvp.json (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
C = 1.0 / math.sqrt(32)  # exp(−‖x − z‖/√d): distances of standard normal points are ≈ √(2d)


def kernels() -> dict[str, tuple[Callable[[], object], int]]:
    """name -> (factory of the GPyTorch kernel, layers)."""
    import gpytorch

    from nvk.kernels.gpytorch import LaplaceKernel, NTKKernel

    def matern():
        k = gpytorch.kernels.keops.MaternKernel(nu=0.5)
        k.lengthscale = 1 / C
        return k

    return {
        "nvk_ntk_L2": (lambda: NTKKernel(depth=2), 2),
        "nvk_ntk_L6": (lambda: NTKKernel(depth=6), 6),
        "nvk_laplace": (lambda: LaplaceKernel(c=C), 1),
        "gpytorch_matern12": (matern, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--d", type=int, default=32)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--only", nargs="+", default=None, help="subset of kernel names")
    p.add_argument("--rows", type=int, default=None, help="time K(X[:rows], X) v, extrapolate")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "kvp.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from nvk.kernels.keops import set_keops_cache
    from nvk.utils import atomic_write_json, package_versions

    set_keops_cache(ROOT / ".cache" / "nvk" / "keops")
    dtype = getattr(torch, args.dtype)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.n, args.d, generator=g).to(dtype)
    v = torch.randn(args.n, 1, generator=g).to(dtype)
    rows, products = [], {}
    print(f"{'kernel':<18} {'layers':>6} {'compile s':>9} {'best s':>8} {'full s':>9} "
          f"{'ns/entry':>9} {'ns/e/layer':>10}")  # fmt: skip
    for name, (make, layers) in kernels().items():
        if args.only and name not in args.only:
            continue
        k = make().to(dtype)
        with torch.no_grad():
            t0 = time.perf_counter()
            k(x[:1000]) @ v[:1000]  # compiles the formula (once per machine), same as at full n
            first = time.perf_counter() - t0
            best = math.inf
            m = args.rows or args.n
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                out = k(x[:m], x) @ v
                best = min(best, time.perf_counter() - t0)
        products[name] = out
        per = 1e9 * best / (m * args.n)
        full = best * args.n / m  # = best when the whole product was timed
        rows.append({"kernel": name, "layers": layers, "compile_s": first, "rows_timed": m,
                     "best_s": best, "full_product_s": full, "ns_per_entry": per,
                     "ns_per_entry_layer": per / layers})  # fmt: skip
        print(f"{name:<18} {layers:>6} {first:>9.2f} {best:>8.2f} {full:>9.1f} {per:>9.3f} "
              f"{per / layers:>10.3f}", flush=True)  # fmt: skip
    check = {}
    if "nvk_laplace" in products and "gpytorch_matern12" in products:
        a, b = products["nvk_laplace"].double(), products["gpytorch_matern12"].double()
        check["laplace_vs_matern12_max_rel_diff"] = float((a - b).abs().max() / b.abs().max())
        print(f"nvk Laplace vs GPyTorch Matérn-½: max rel. difference "
              f"{check['laplace_vs_matern12_max_rel_diff']:.2e}")  # fmt: skip
    atomic_write_json(args.out, {"benchmark": "kvp", "config": vars(args), "threads": args.threads,
                                 "machine": platform.platform(),
                                 "packages": package_versions(("torch", "gpytorch", "pykeops")),
                                 "rows": rows, **check})  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
