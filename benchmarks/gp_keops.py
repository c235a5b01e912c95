"""ExactGP with the KeOps NTK: marginal-likelihood training at n = 20 000 in bounded memory.

GPyTorch `ExactGP`, `ScaleKernel(NTKKernel(depth=6, bias=0.5))` (nvk's KeOps formula, used
automatically above `max_cholesky_size` = 800 points), Gaussian likelihood, float64. Adam on the
output scale and the noise for a few steps of the exact marginal log-likelihood (CG + Lanczos,
GPyTorch's defaults, pivoted-Cholesky preconditioner). The run happens in a child process so that
its peak RSS is its own; a dense n × n float64 kernel matrix is listed for comparison.

    .venv/bin/python benchmarks/gp_keops.py [--n 20000] [--d 8] [--depth 6] [--steps 3]

Cost: each CG iteration is one KeOps product with 11 columns over n² entries; the L = 6 NTK
formula costs a few hundred ns per entry on this 2-core CPU (benchmarks/kvp.py), so one step at
the default n = 20 000 takes tens of minutes here (seconds on a GPU); `--max-cg` caps the CG
iterations per step and `--depth 2` or a smaller `--n` show the same pipeline.

Prints a table, writes JSON to benchmarks/results/gp_keops.json (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results" / "gp_keops.json"
ROOT = Path(__file__).resolve().parents[1]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic(n: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Standard normal inputs, a smooth target plus N(0, 0.1²) noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    w = torch.linspace(-1, 1, d, dtype=torch.float64)
    y = torch.sin(x @ w) + 0.5 * torch.relu(x[:, 0]) + 0.1 * torch.randn(n, generator=g)
    return x, y


def run(args: argparse.Namespace) -> dict:
    import gpytorch

    from nvk.kernels.gpytorch import NTKKernel
    from nvk.kernels.keops import set_keops_cache

    set_keops_cache(ROOT / ".cache" / "nvk" / "keops")
    x, y = synthetic(args.n, args.d, 0)

    class GP(gpytorch.models.ExactGP):
        def __init__(self, x, y, lik):
            super().__init__(x, y, lik)
            self.mean = gpytorch.means.ZeroMean()
            self.cov = gpytorch.kernels.ScaleKernel(NTKKernel(depth=args.depth, bias=args.bias))

        def forward(self, x):
            return gpytorch.distributions.MultivariateNormal(self.mean(x), self.cov(x))

    lik = gpytorch.likelihoods.GaussianLikelihood()
    model = GP(x, y, lik).double().train()
    lik.noise = 0.1
    mll = gpytorch.mlls.ExactMarginalLogLikelihood(lik, model)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    op = model.cov(x).evaluate_kernel()
    uses_keops = type(getattr(op, "base_linear_op", op)).__name__  # KernelLinearOperator: KeOps
    history, times = [], []
    rss_before = peak_mb()
    t_all = time.perf_counter()
    for _ in range(args.steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        lanczos = gpytorch.settings.max_lanczos_quadrature_iterations.value()
        with gpytorch.settings.max_cg_iterations(max(args.max_cg, lanczos)):  # CG >= Lanczos
            loss = -mll(model(x), y)
            loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
        history.append(float(loss.detach()))
    return {
        "n": args.n,
        "d": args.d,
        "depth": args.depth,
        "bias": args.bias,
        "steps": args.steps,
        "kernel_operator": uses_keops,
        "total_s_incl_keops_compile": time.perf_counter() - t_all,
        "first_step_s_incl_compile": times[0],
        "later_step_s_mean": sum(times[1:]) / max(1, len(times) - 1),
        "loss_per_point_first": history[0],
        "loss_per_point_last": history[-1],
        "noise_final": float(lik.noise),
        "outputscale_final": float(model.cov.outputscale),
        "peak_rss_mb_before_training": rss_before,
        "peak_rss_mb": peak_mb(),
        "dense_kernel_matrix_mb_float64": args.n**2 * 8 / 2**20,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20_000)
    p.add_argument("--d", type=int, default=8)
    p.add_argument("--depth", type=int, default=6)
    p.add_argument("--bias", type=float, default=0.5)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--max-cg", type=int, default=100, help="gpytorch max_cg_iterations")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", default=str(RESULTS))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        print("RESULT " + json.dumps(run(args)), flush=True)
        return
    opts = {"--n": args.n, "--d": args.d, "--depth": args.depth, "--bias": args.bias,
            "--steps": args.steps, "--lr": args.lr, "--max-cg": args.max_cg,
            "--threads": args.threads}  # fmt: skip
    cmd = [sys.executable, __file__, "--child"] + [str(a) for kv in opts.items() for a in kv]
    r = subprocess.run(cmd, capture_output=True, text=True)
    line = [s for s in r.stdout.splitlines() if s.startswith("RESULT ")]
    if r.returncode != 0 or not line:
        sys.exit(f"benchmark failed:\n{r.stderr[-3000:]}")
    res = json.loads(line[0][7:])
    for k, v in res.items():
        print(f"  {k:32s} {v:.4g}" if isinstance(v, float) else f"  {k:32s} {v}")
    from nvk.utils import atomic_write_json, package_versions

    atomic_write_json(args.out, {"benchmark": "gp_keops", "config": vars(args),
                                 "machine": platform.platform(), "threads": args.threads,
                                 "packages": package_versions(), "results": res})  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
