"""Convolutional kernels (CNTK, C-Exp Laplace) on 32×32×3 images: time per 1000 × 1000 block.

- fast: `nvk.kernels.cntk` / `cexp` with the trace readout (same-position recursion,
        O(P·9·D) per image pair), depths 5 and 11, float32 and float64, on the CPU (and CUDA
        when present). A block of `--pairs` rows × columns is timed and scaled linearly in the
        number of image pairs to 1000 × 1000 (the recursion is elementwise per pair, so its
        cost is linear in pairs once chunks are cache-sized; `--pairs 1000` times the real
        block).
- full: the full-covariance reference (`method="full"`, O(P²·9·D) per pair) timed on a
        `--full-block` square block (10 × 10 by default) and extrapolated the same way.
- cifar: the full CIFAR-10 Gram matrix (60 000², symmetric: 60 000·60 001/2 pairs) from the
        measured per-pair time of each row, assuming the same per-pair cost at scale and no
        parallelism beyond what was measured (divide by the number of such devices/cores).

Prints a table, writes JSON (see benchmarks/README.md):

    .venv/bin/python benchmarks/conv.py [--pairs 64] [--full-block 10] [--depths 5 11]
        [--dtypes float32 float64] [--threads N] [--out benchmarks/results/conv.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

from nvk.kernels import cexp, cntk

BLOCK = 1000 * 1000  # image pairs in a 1000 × 1000 block
CIFAR_PAIRS = 60_000 * 60_001 // 2  # upper triangle of the symmetric 60 000² Gram matrix
KERNELS: dict[str, Callable[..., torch.Tensor]] = {"cntk": cntk, "cexp_laplace": cexp}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_block(kernel: Callable, n: int, m: int, *, depth: int, dtype: torch.dtype,
               device: str, method: str, repeats: int = 1) -> float:  # fmt: skip
    """Best wall time (s) of kernel(x (n, 3, 32, 32), z (m, 3, 32, 32)) over `repeats`."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, 32, 32, generator=g, dtype=dtype).to(device)
    z = torch.randn(m, 3, 32, 32, generator=g, dtype=dtype).to(device)
    kernel(x[:1], z[:1], depth=depth, method=method)  # warm-up (allocator, first-call costs)
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        kernel(x, z, depth=depth, method=method)
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pairs", type=int, default=64, help="fast path: time a pairs × pairs block")
    ap.add_argument("--full-block", type=int, default=10, help="full reference: block edge")
    ap.add_argument("--depths", type=int, nargs="+", default=[5, 11])
    ap.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    ap.add_argument("--kernels", nargs="+", default=list(KERNELS), choices=list(KERNELS))
    ap.add_argument("--no-full", action="store_true", help="skip the full-covariance reference")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "conv.json"))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        for name in args.kernels:
            for depth in args.depths:
                for dt in args.dtypes:
                    dtype = getattr(torch, dt)
                    edge = args.pairs if device == "cpu" else 1000
                    fast = time_block(
                        KERNELS[name],
                        edge,
                        edge,
                        depth=depth,
                        dtype=dtype,
                        device=device,
                        method="fast",
                        repeats=args.repeats,
                    )
                    per_pair = fast / edge**2
                    rows.append({"kernel": name, "device": device, "method": "fast",
                                 "depth": depth, "dtype": dt, "block": [edge, edge],
                                 "seconds": fast, "s_per_1000x1000": per_pair * BLOCK,
                                 "cifar_60k_hours": per_pair * CIFAR_PAIRS / 3600})  # fmt: skip
                    print(_line(rows[-1]), flush=True)
            if args.no_full or device != "cpu":
                continue
            for depth in args.depths:
                e = args.full_block
                full = time_block(KERNELS[name], e, e, depth=depth, dtype=torch.float64,
                                  device=device, method="full", repeats=1)  # fmt: skip
                per_pair = full / e**2
                rows.append({"kernel": name, "device": device, "method": "full", "depth": depth,
                             "dtype": "float64", "block": [e, e], "seconds": full,
                             "s_per_1000x1000": per_pair * BLOCK,
                             "cifar_60k_hours": per_pair * CIFAR_PAIRS / 3600})  # fmt: skip
                print(_line(rows[-1]), flush=True)
    record = {
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None},
        "image": [3, 32, 32], "rows": rows,
        "note": "s_per_1000x1000 and cifar_60k_hours scale the timed block linearly in pairs",
    }  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(out)
    print(f"wrote {out}")


def _line(r: dict) -> str:
    return (
        f"{r['kernel']:13s} {r['device']:5s} {r['method']:5s} D={r['depth']:<3d} {r['dtype']:8s} "
        f"block {r['block'][0]}x{r['block'][1]}: {r['seconds']:9.3f} s  -> 1000x1000 "
        f"{r['s_per_1000x1000']:12.1f} s   CIFAR 60k^2 {r['cifar_60k_hours']:12.1f} h"
    )


if __name__ == "__main__":
    main()
