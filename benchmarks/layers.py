"""Composed layer-list kernels (`nvk.layers`) vs today's fused kernels on the same inputs.

Each case times the full symmetric Gram matrix K(X, X) in float64 (the layer lists compute in
float64) both ways and reports the ratio composed / fused and the max abs difference:

- fc_ntk_L6:  `nvk.kernels.fc_ntk(x, depth=6)` vs `kernel_fn(mlp(6))(x, get="ntk")`,
              n points in d = 32 dimensions (standard normal).
- cntk_D3/D7: `nvk.kernels.cntk(x, depth=D, readout="trace")` vs
              `kernel_fn(cnn(D, readout="flatten"))(x, get="ntk")` (D convolutions), images
              (C, H, W) = (3, 32, 32) (standard normal).
- cexp_D3:    `nvk.kernels.cexp(x, depth=3, c=1, gamma=1, readout="trace")` vs
              `kernel_fn(cexp(3, in_shape=...))(x, get="nngp")` on the same images.

"dispatched" times what kernel models run for the list: `nvk.layers.analytic_kernel(list)`,
which picks the fused function wherever one computes the list (all three cases), so its ratio
to the fused kernel is 1 up to timing noise: composing today's models costs nothing.

A fourth timing, "blocked", is the composed kernel computed in square blocks of pairs
(`kernel_fn(...)(x, block=b)`) with b chosen as the fused conv kernels chunk the CPU work
(`nvk.kernels.conv._pairs`: each (b, b, H, W) temporary about 4 MiB): whether cache-sized
chunks close the gap to the fused kernels (b ≥ n is one block, i.e. no chunking).

Times are the best of `--repeats` calls after one untimed warm-up call (as kernels.py), on
`--threads` torch threads (default: torch's). Prints a table, writes JSON (benchmarks/README.md):

    .venv/bin/python benchmarks/layers.py [--quick] [--n 4000] [--images 64]
        [--image-shape 3 32 32] [--conv-depths 3 7] [--repeats 3] [--threads N]
        [--out benchmarks/results/layers.json]

`--quick` uses tiny sizes (n = 500; 8 images 3×8×8) on one thread (tiny tensors; less exposed
to a busy neighbour): a smoke test of the script and a rough ratio, not a timing to quote (at
8×8 the conv cases time Python dispatch more than arithmetic). Quote full runs, made on a
quiet machine, only.
"""

from __future__ import annotations

import argparse
import functools
import math
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

from nvk import layers as L
from nvk.kernels import cexp, cntk, fc_ntk
from nvk.utils import atomic_write_json, package_versions


def timeit(fn: Callable[[], torch.Tensor], repeats: int) -> tuple[float, torch.Tensor]:
    """(best wall time of `repeats` calls after one untimed warm-up call, the last result)."""
    out = fn()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


CHUNK_BYTES = 2**22  # the fused conv kernels' CPU chunk (one temporary per chunk of pairs)


def block_edge(x: torch.Tensor) -> int:
    """Square block of pairs whose float64 temporaries take about CHUNK_BYTES (as
    `nvk.kernels.conv._pairs`): per pair 1 entry (vectors) or H·W (same-position layout)."""
    per_pair = 1 if x.ndim == 2 else x.shape[-2] * x.shape[-1]
    return max(1, math.isqrt(CHUNK_BYTES // (per_pair * x.element_size())))


def cases(args) -> list[tuple[str, str, torch.Tensor, Callable, Callable, Callable]]:
    """(name, size, input, fused(x), composed(x, block=None), dispatched(x)) for every case."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.n, args.d, generator=g, dtype=torch.float64)
    shape = tuple(args.image_shape)
    imgs = torch.randn(args.images, *shape, generator=g, dtype=torch.float64)
    vec_size = f"n={args.n} d={args.d}"
    img_size = f"{args.images}x" + "x".join(map(str, shape))
    P = functools.partial
    out = [
        (
            "fc_ntk_L6",
            vec_size,
            x,
            P(fc_ntk, depth=6),
            P(L.kernel_fn(L.mlp(6), (args.d,)), get="ntk"),
            L.analytic_kernel(L.mlp(6), (args.d,), "ntk"),
        )
    ]
    for depth in args.conv_depths:
        out.append(
            (
                f"cntk_D{depth}",
                img_size,
                imgs,
                P(cntk, depth=depth, readout="trace"),
                P(L.kernel_fn(L.cnn(depth, readout="flatten"), shape), get="ntk"),
                L.analytic_kernel(L.cnn(depth, readout="flatten"), shape, "ntk"),
            )
        )
    cexp_layers = L.cexp(args.cexp_depth, c=1.0, gamma=1.0, readout="trace", in_shape=shape)
    out.append(
        (
            f"cexp_D{args.cexp_depth}",
            img_size,
            imgs,
            P(cexp, depth=args.cexp_depth, c=1.0, gamma=1.0, readout="trace"),
            P(L.kernel_fn(cexp_layers, shape), get="nngp"),
            L.analytic_kernel(cexp_layers, shape, "nngp"),
        )
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test)")
    ap.add_argument("--n", type=int, default=None, help="FC points (default 4000; quick 500)")
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--images", type=int, default=None, help="images (default 64; quick 8)")
    ap.add_argument("--image-shape", type=int, nargs=3, default=None, metavar=("C", "H", "W"),
                    help="default 3 32 32; quick 3 8 8")  # fmt: skip
    ap.add_argument("--conv-depths", type=int, nargs="+", default=[3, 7])
    ap.add_argument("--cexp-depth", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: torch's; quick 1)")  # fmt: skip
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "layers.json"))
    args = ap.parse_args()
    full = dict(n=4000, images=64, image_shape=[3, 32, 32])
    quick = dict(n=500, images=8, image_shape=[3, 8, 8], threads=1)
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.threads:
        torch.set_num_threads(args.threads)

    hdr = (
        f"{'case':<11} {'size':>16} {'fused s':>9} {'disp/fused':>10} {'composed s':>10} "
        f"{'comp/fused':>10} "
        f"{'block':>5} {'blocked s':>9} {'blk/fused':>9} {'max |diff|':>10} {'max |K|':>9}"
    )
    print(hdr)
    rows = []
    with torch.no_grad():
        for name, size, x, fused, composed, dispatched in cases(args):
            t_fused, k_fused = timeit(functools.partial(fused, x), args.repeats)
            flat = x.reshape(len(x), -1)  # kernel models pass flattened rows
            t_disp, k_disp = timeit(functools.partial(dispatched, flat), args.repeats)
            t_comp, k_comp = timeit(functools.partial(composed, x), args.repeats)
            block = block_edge(x)
            t_blk, k_blk = timeit(functools.partial(composed, x, block=block), args.repeats)
            diff = max(float((k - k_fused).abs().max()) for k in (k_comp, k_blk, k_disp))
            scale = float(k_fused.abs().max())
            row = {
                "case": name,
                "size": size,
                "fused_s": t_fused,
                "dispatched_s": t_disp,
                "dispatched_over_fused": t_disp / t_fused,
                "composed_s": t_comp,
                "composed_over_fused": t_comp / t_fused,
                "block": block,
                "blocked_s": t_blk,
                "blocked_over_fused": t_blk / t_fused,
                "max_abs_diff": diff,
                "max_abs_value": scale,
            }
            rows.append(row)
            print(
                f"{name:<11} {size:>16} {t_fused:>9.4f} {t_disp / t_fused:>10.2f} {t_comp:>10.4f} "
                f"{t_comp / t_fused:>10.2f} {block:>5} {t_blk:>9.4f} {t_blk / t_fused:>9.2f} "
                f"{diff:>10.2e} {scale:>9.3g}",
                flush=True,
            )
    atomic_write_json(
        args.out,
        {
            "benchmark": "layers_vs_fused",
            "config": vars(args),
            "dtype": "float64",
            "threads": torch.get_num_threads(),
            "machine": platform.platform(),
            "packages": package_versions(("torch",)),
            "rows": rows,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
