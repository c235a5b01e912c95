"""Training-step throughput of nvk's NTK-parameterized MLP vs a plain `nn.Linear` stack.

Both networks have the same shapes (depth 3); nvk's layers apply σ/√fan_in and β in the forward
pass. The ratio shows what the NTK parameterization costs. Prints a table, writes JSON:

    .venv/bin/python benchmarks/mlp.py [--widths 256 1024 4096] [--batch 256] [--steps 30]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch
from torch import nn

from nvk.arch import ArchSpec
from nvk.nets import MLP
from nvk.utils import atomic_write_json, package_versions


def reference(d: int, width: int, depth: int, out: int) -> nn.Module:
    dims = [d] + [width] * (depth - 1) + [out]
    layers: list[nn.Module] = []
    for i in range(depth):
        layers.append(nn.Linear(dims[i], dims[i + 1], bias=False))
        if i < depth - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def time_steps(net: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(3):  # warm-up
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", type=int, nargs="+", default=[256, 1024, 4096])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "mlp.json"))
    args = p.parse_args()
    torch.manual_seed(0)
    d, classes = 64, 10
    x, y = torch.randn(args.batch, d), torch.randint(0, classes, (args.batch,))
    rows = []
    print(f"{'width':>6} {'nvk ms/step':>12} {'nn.Linear ms/step':>18} {'ratio':>6}")
    for w in args.widths:
        t_nvk = time_steps(MLP(ArchSpec(depth=args.depth, width=w), d, classes), x, y, args.steps)
        t_ref = time_steps(reference(d, w, args.depth, classes), x, y, args.steps)
        rows.append({"width": w, "nvk_s": t_nvk, "reference_s": t_ref, "ratio": t_nvk / t_ref})
        print(f"{w:>6} {1e3 * t_nvk:>12.2f} {1e3 * t_ref:>18.2f} {t_nvk / t_ref:>6.2f}")
    atomic_write_json(
        args.out,
        {
            "benchmark": "mlp_train_step",
            "config": vars(args),
            "threads": torch.get_num_threads(),
            "machine": platform.platform(),
            "packages": package_versions(("torch",)),
            "rows": rows,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
