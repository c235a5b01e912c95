"""Solver benchmark: KRR vs SciPy Cholesky, FALKON on a SUSY-shaped problem, GPyTorch KeOps GP.

Each part runs in its own process so its peak memory (ru_maxrss) is its own. Prints a table,
writes JSON:

    .venv/bin/python benchmarks/solvers.py [--quick] [--parts krr falkon gp]

Parts:
- krr:    nvk `krr_fit` (torch Cholesky, float64) vs `scipy.linalg.cho_factor/cho_solve` on the
          same n x n Gram matrix (n = 10 000; target ratio <= 1.2).
- falkon: nvk FALKON, n = 200 000, d = 18, M = 5 000, Gaussian kernel, float32, 2 threads:
          wall time, peak RSS, test error vs exact KRR on a 10 000-point subsample.
- gp:     GPyTorch's ExactGP with its KeOps Matern-1/2 kernel at n = 20 000, fixed
          hyperparameters, CG-based predictive mean capped at NVK_BENCH_GP_CG iterations
          (default 100), for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results" / "solvers.json"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def susy_like(n: int, seed: int, d: int = 18) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary labels (+-1) from a smooth nonlinear score of standard normal features, 20% flips."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    w = torch.linspace(-1, 1, d)
    score = torch.tanh(X @ w / 2) + 0.5 * torch.sin(X[:, 0] * X[:, 1]) + 0.3 * X[:, 2] ** 2 - 0.3
    flip = torch.rand(n, generator=g) < 0.2
    y = torch.where(score > 0, 1.0, -1.0)
    return X, torch.where(flip, -y, y)[:, None]


def part_krr(quick: bool) -> dict:
    import scipy.linalg as sl

    from nvk.kernels import laplace
    from nvk.solvers import krr_fit

    n = 3000 if quick else 10_000
    X = torch.randn(n, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    Y = torch.randn(n, 10, dtype=torch.float64)
    K = laplace(X, c=0.2)
    lam = 1e-3
    t0 = time.perf_counter()
    fit = krr_fit(K, Y, ridge=lam)
    t_nvk = time.perf_counter() - t0
    Kn, Yn = K.numpy(), Y.numpy()
    t0 = time.perf_counter()
    A = Kn + lam * torch.eye(n, dtype=torch.float64).numpy()
    ref = sl.cho_solve(sl.cho_factor(A, lower=True, overwrite_a=True, check_finite=False), Yn)
    t_ref = time.perf_counter() - t0
    diff = float(abs(fit.alpha.numpy() - ref).max() / abs(ref).max())
    return {"n": n, "nvk_s": t_nvk, "scipy_s": t_ref, "ratio": t_nvk / t_ref, "max_rel_diff": diff}


def part_falkon(quick: bool) -> dict:
    from nvk.kernels import gaussian
    from nvk.solvers import FalkonOptions, falkon_fit, falkon_predict, krr_fit, krr_predict

    n, M, n_sub = (20_000, 1000, 3000) if quick else (200_000, 5000, 10_000)
    X, y = susy_like(n, 0)
    Xt, yt = susy_like(20_000, 1)
    c = 1.0 / 18  # exp(-|x-z|^2 / d)

    def k(a, b):
        return gaussian(a, b, c=c)

    lam_f = 1e-5
    t0 = time.perf_counter()
    fit = falkon_fit(k, X, y, FalkonOptions(centers=M, ridge=lam_f, dtype="float32", tol=1e-4,
                                            maxiter=30, block=2048))  # fmt: skip
    t_fit = time.perf_counter() - t0
    err_f = float((falkon_predict(k, Xt, fit).sign() != yt).float().mean())
    out = {"n": n, "M": M, "d": 18, "dtype": "float32", "fit_s": t_fit,
           "cg_iterations": fit.iterations, "cg_residual": fit.residual,
           "test_error": err_f, "peak_rss_mb_after_falkon": peak_mb()}  # fmt: skip
    Xs, ys = X[:n_sub].double(), y[:n_sub].double()
    t0 = time.perf_counter()
    Ks, Kts = gaussian(Xs, c=c), gaussian(Xt.double(), Xs, c=c)
    errs = {}
    for lam in (1e-6, 1e-5, 1e-4, 1e-3):  # KRR's best λ on the test set: a generous reference
        pred = krr_predict(Kts, krr_fit(Ks, ys, ridge=n_sub * lam))
        errs[lam] = float((pred.sign() != yt.double()).float().mean())
    out.update(
        krr_subsample_n=n_sub,
        krr_subsample_s_4_lambdas=time.perf_counter() - t0,
        krr_subsample_best_test_error=min(errs.values()),
        krr_subsample_best_lambda_f=min(errs, key=errs.get),
    )
    return out


GP_CG_CAP = int(os.environ.get("NVK_BENCH_GP_CG", "100"))  # CG iterations for the GP part


def part_gp(quick: bool) -> dict:
    import gpytorch

    n = 5000 if quick else 20_000
    X, y = susy_like(n, 0, d=8)
    Xt, yt = susy_like(2000, 1, d=8)
    y = y.squeeze(-1)

    class GP(gpytorch.models.ExactGP):
        def __init__(self, x, t, lik):
            super().__init__(x, t, lik)
            self.mean = gpytorch.means.ZeroMean()
            base = gpytorch.kernels.keops.MaternKernel(nu=0.5)
            base.lengthscale = 3.0
            self.cov = gpytorch.kernels.ScaleKernel(base)

        def forward(self, x):
            return gpytorch.distributions.MultivariateNormal(self.mean(x), self.cov(x))

    lik = gpytorch.likelihoods.GaussianLikelihood()
    lik.noise = 0.5
    model = GP(X, y, lik).eval()
    t0 = time.perf_counter()
    s = gpytorch.settings  # CG, no Cholesky; no preconditioner (GPyTorch's KeOps diag bug)
    with (
        torch.no_grad(),
        s.max_cg_iterations(GP_CG_CAP),
        s.max_preconditioner_size(0),
        s.max_cholesky_size(0),
    ):
        mean = lik(model(Xt)).mean
    t = time.perf_counter() - t0
    return {"n": n, "cg_cap": GP_CG_CAP, "predict_s_incl_keops_compile": t,
            "test_error": float((mean.sign() != yt.squeeze(-1)).float().mean()),
            "peak_rss_mb": peak_mb()}  # fmt: skip


PARTS = {"krr": part_krr, "falkon": part_falkon, "gp": part_gp}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", nargs="+", default=list(PARTS), choices=list(PARTS))
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    p.add_argument("--part", help=argparse.SUPPRESS)  # child process
    p.add_argument("--out", default=str(RESULTS))
    args = p.parse_args()
    torch.set_num_threads(2)
    if args.part:
        res = PARTS[args.part](args.quick)
        res["peak_rss_mb"] = peak_mb()
        print("RESULT " + json.dumps(res))
        return
    results = {}
    for name in args.parts:
        cmd = [sys.executable, __file__, "--part", name] + (["--quick"] if args.quick else [])
        r = subprocess.run(cmd, capture_output=True, text=True)
        line = [x for x in r.stdout.splitlines() if x.startswith("RESULT ")]
        if r.returncode != 0 or not line:
            print(f"part {name} failed:\n{r.stderr[-3000:]}")
            results[name] = {"error": r.stderr[-3000:]}
            continue
        results[name] = json.loads(line[0][7:])
        print(f"== {name}")
        for k, v in results[name].items():
            print(f"  {k:32s} {v:.4g}" if isinstance(v, float) else f"  {k:32s} {v}")
    from nvk.utils import atomic_write_json, package_versions

    atomic_write_json(args.out, {"benchmark": "solvers", "quick": args.quick,
                                 "machine": platform.platform(), "threads": 2,
                                 "packages": package_versions(), "results": results})  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
