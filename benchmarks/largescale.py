"""FALKON on synthetic HIGGS-shaped data: time, peak memory, cost per CG iteration, test AUC
against the Bayes AUC of the known rule that generated the labels.

    nice -n 10 .venv/bin/python benchmarks/largescale.py                 # n = 1 000 000, M = 10 000
    .venv/bin/python benchmarks/largescale.py --n 100000 --centers 2000  # minutes

Data: x ~ N(0, I_d) (the real HIGGS/SUSY features are standardized, so this is their shape),
P(y = 1 | x) = sigmoid(f(x)) with f a fixed smooth rule (`rule` below) of a few directions.
The Bayes classifier ranks by f(x): its AUC on the same test rows is the reference
("Bayes AUC"); its expected AUC over label draws is reported too.
The kernel's c and the ridge are chosen on a validation split drawn from the training rows
(FALKON with fewer centres on a subsample, the procedure of `experiment=table2`), then FALKON
runs on all n rows with M centres in `--dtype` (float32: what FALKON uses on GPUs).
Writes benchmarks/results/largescale_n<n>_M<M>.json.
"""

from __future__ import annotations

import argparse
import functools
import logging
import math
import platform
import resource
import sys
import time
from pathlib import Path

import torch
from torchmetrics.functional.classification import binary_auroc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from nvk.kernels import h_laplace  # noqa: E402
from nvk.solvers import FalkonOptions, falkon_fit, falkon_predict  # noqa: E402
from nvk.utils.io import atomic_write_json  # noqa: E402


def rule(x: torch.Tensor) -> torch.Tensor:
    """The log-odds f(x), x: (n, d >= 4) -> (n,): a smooth function of four coordinates plus
    a weak linear trend over all of them (every feature carries a little signal)."""
    d = x.shape[1]
    trend = x.sum(1) / math.sqrt(d)
    return 1.5 * torch.sin(x[:, 0]) + x[:, 1] * x[:, 2] + 0.5 * (x[:, 3] ** 2 - 1) + 0.5 * trend


def make_data(n: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x (n, d) float32, labels y (n,) int64, log-odds f (n,) float32, in chunks (bounded RAM)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.empty(n, d)
    y = torch.empty(n, dtype=torch.int64)
    f = torch.empty(n)
    for s in range(0, n, 1 << 18):
        e = min(n, s + (1 << 18))
        x[s:e] = torch.randn(e - s, d, generator=g)
        f[s:e] = rule(x[s:e])
        y[s:e] = (torch.rand(e - s, generator=g) < torch.sigmoid(f[s:e])).long()
    return x, y, f


def expected_auc(p: torch.Tensor) -> float:
    """E[AUC] of scoring by p when y ~ Bernoulli(p) independently: Σ_{i≠j} p_i (1−p_j)
    1[p_i > p_j] / Σ_{i≠j} p_i (1−p_j) (ties count ½), by sorting. p: (n,)."""
    p = p.double().sort().values
    q = 1 - p
    below = torch.cumsum(q, 0) - q  # Σ_{j before i} (1 − p_j): negatives ranked below i
    num = float((p * below).sum())
    den = float(p.sum() * q.sum() - (p * q).sum())
    return num / den


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def select(x, y, xv, yv, grid_c, grid_ridge, centers, dtype) -> tuple[dict, list[dict]]:
    """(c, ridge) with the best validation AUC; FALKON with `centers` on (x, y)."""
    rows = []
    Y = torch.nn.functional.one_hot(y, 2).to(getattr(torch, dtype))
    for c in grid_c:
        k = functools.partial(h_laplace, c=c)
        for lam in grid_ridge:
            opts = FalkonOptions(centers=centers, ridge=lam, maxiter=20, tol=1e-6, dtype=dtype)
            fit = falkon_fit(k, x, Y, opts)
            s = falkon_predict(k, xv, fit)
            auc = float(binary_auroc(s[:, 1] - s[:, 0], yv))
            rows.append({"c": c, "ridge": lam, "val_auc": auc})
            print(f"  select c={c:<5g} ridge={lam:<7.0e} val AUC {auc:.4f}", flush=True)
    best = max(rows, key=lambda r: r["val_auc"])
    return best, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="training rows")
    ap.add_argument("--d", type=int, default=28)
    ap.add_argument("--centers", type=int, default=10_000)
    ap.add_argument("--n-test", type=int, default=100_000)
    ap.add_argument("--n-val", type=int, default=20_000, help="validation rows (from training)")
    ap.add_argument("--n-select", type=int, default=50_000, help="subsample for the selection")
    ap.add_argument("--select-centers", type=int, default=1000)
    ap.add_argument("--grid-c", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    ap.add_argument("--grid-ridge", type=float, nargs="+", default=[1e-5, 1e-6, 1e-7])
    ap.add_argument("--maxiter", type=int, default=20)
    ap.add_argument("--block", type=int, default=4096)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--c", type=float, default=None, help="skip the selection: use this c")
    ap.add_argument("--ridge", type=float, default=None, help="... and this ridge")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    logging.basicConfig(format="%(asctime)s %(message)s", level=logging.WARNING)
    logging.getLogger("nvk.solvers").setLevel(logging.DEBUG)  # one line per CG iteration

    t0 = time.perf_counter()
    x, y, f = make_data(a.n + a.n_val + a.n_test, a.d, a.seed)
    xtr, ytr = x[: a.n], y[: a.n]
    xv, yv = x[a.n : a.n + a.n_val], y[a.n : a.n + a.n_val]
    xte, yte, fte = x[a.n + a.n_val :], y[a.n + a.n_val :], f[a.n + a.n_val :]
    t_data = time.perf_counter() - t0
    print(f"data: {a.n} train / {a.n_val} val / {a.n_test} test rows, d={a.d} ({t_data:.1f} s)")

    t0 = time.perf_counter()
    sub = slice(0, min(a.n_select, a.n))
    if a.c is not None and a.ridge is not None:
        best, grid = {"c": a.c, "ridge": a.ridge, "val_auc": None}, []  # given, not selected
    else:
        best, grid = select(xtr[sub], ytr[sub], xv, yv, a.grid_c, a.grid_ridge,
                            a.select_centers, a.dtype)  # fmt: skip
    t_select = time.perf_counter() - t0
    print(f"selected c={best['c']:g} ridge={best['ridge']:.0e} ({t_select:.1f} s)")

    kernel = functools.partial(h_laplace, c=best["c"])
    opts = FalkonOptions(centers=a.centers, ridge=best["ridge"], maxiter=a.maxiter, tol=1e-6,
                         block=a.block, dtype=a.dtype, seed=a.seed)  # fmt: skip
    Y = torch.nn.functional.one_hot(ytr, 2).to(getattr(torch, a.dtype))
    t0 = time.perf_counter()
    fit = falkon_fit(kernel, xtr, Y, opts)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    s = falkon_predict(kernel, xte, fit, block=a.block)
    t_pred = time.perf_counter() - t0
    auc = float(binary_auroc(s[:, 1] - s[:, 0], yte))
    bayes = float(binary_auroc(fte, yte))
    bayes_expected = expected_auc(torch.sigmoid(fte))
    per_it = fit.cg_s / max(fit.iterations, 1)
    rec = {
        "n": a.n, "d": a.d, "centers": a.centers, "n_test": a.n_test, "dtype": a.dtype,
        "kernel": "h_laplace", "c": best["c"], "ridge": best["ridge"], "selection": grid,
        "selected_here": bool(grid),
        "block": a.block, "maxiter": a.maxiter, "iterations": fit.iterations,
        "cg_residual": fit.residual, "data_s": t_data, "select_s": t_select, "fit_s": t_fit,
        "setup_s": fit.setup_s, "cg_s": fit.cg_s, "cg_iteration_s": per_it,
        "kernel_entries_per_s": a.n * a.centers / per_it, "predict_s": t_pred,
        "test_auc": auc, "bayes_auc": bayes, "bayes_auc_expected": bayes_expected,
        "auc_gap": bayes - auc, "peak_rss_mib": peak_rss_mib(),
        "threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }  # fmt: skip
    print()
    print(
        "| n | d | M | dtype | CG its | setup s | CG s | s / CG it | test AUC | Bayes AUC "
        "| gap | peak RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {a.n} | {a.d} | {a.centers} | {a.dtype} | {fit.iterations} | {fit.setup_s:.1f} "
          f"| {fit.cg_s:.1f} | {per_it:.2f} | {auc:.4f} | {bayes:.4f} | {bayes - auc:.4f} "
          f"| {rec['peak_rss_mib']:.0f} |")  # fmt: skip
    out = Path(a.out or ROOT / "benchmarks" / "results" / f"largescale_n{a.n}_M{a.centers}.json")
    atomic_write_json(out, rec)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
