"""Convolutional kernels (CNTK, C-Exp Laplace) on 32×32×3 images: time per 1000 × 1000 block.

- fast: `nvk.kernels.cntk` / `cexp` with the trace readout (same-position recursion,
        O(P·9·D) per image pair), depths 5 and 11, float32 and float64, on the CPU (and CUDA
        when present). A block of `--pairs` rows × columns is timed and scaled linearly in the
        number of image pairs to 1000 × 1000 (the recursion is elementwise per pair, so its
        cost is linear in pairs once chunks are cache-sized; `--pairs 1000` times the real
        block).
- full: the full-covariance reference (`method="full"`, O(P²·9·D) per pair) timed on a
        `--full-block` square block (10 × 10 by default) and extrapolated the same way.
- fused / eager: large calls of `cntk`/`cexp` run the compiled per-layer loops
        (`nvk.kernels.fused`; first call compiles, untimed); the eager rows (`NVK_COMPILE=0`)
        are the reference, with the largest |difference| of the values.
- neural-tangents (`--jax-python`, a Python with jax + neural-tangents 0.6.5): the same
        CNTK as `stax.serial(Conv(·, (3, 3), padding="SAME"), Relu) × D, Flatten, Dense(1)`
        (NTK parameterization, x64, jit) on `--nt-images` images (default 64 × 64 pairs),
        depths `--nt-depths` (3 7), with nvk on the same images: ratio and |difference|.
- limits: effective GB/s and GFLOP/s of each fast row against a STREAM-like copy and a dense
        matrix product measured in the same run (`_common.machine_limits`). Traffic counted
        is the fused loop's own: per pair, position and layer it reads the previous layer's
        arrays and writes its own (CNTK: Σ and Θ, 4 · itemsize bytes; C-Exp: K, 2 · itemsize);
        flops: CNTK 36 (two 3×3 sums, the arc-cosine map with arccos and sqrt as one each),
        C-Exp 16.
- cifar: the full CIFAR-10 Gram matrix (60 000², symmetric: 60 000·60 001/2 pairs) from the
        measured per-pair time of each row, assuming the same per-pair cost at scale and no
        parallelism beyond what was measured (divide by the number of such devices/cores).

Prints a table, writes JSON (see benchmarks/README.md):

    .venv/bin/python benchmarks/conv.py [--pairs 64] [--full-block 10] [--depths 5 11]
        [--dtypes float32 float64] [--threads N] [--out benchmarks/results/conv.json]
        [--jax-python /tmp/ntvenv/bin/python --nt-images 64 --nt-depths 3 7] [--no-eager]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from _common import XLA_ENV, eager_only, machine_limits, peer, timed, versus_limits

from nvk.kernels import cexp, cntk

BLOCK = 1000 * 1000  # image pairs in a 1000 × 1000 block
CIFAR_PAIRS = 60_000 * 60_001 // 2  # upper triangle of the symmetric 60 000² Gram matrix
KERNELS: dict[str, Callable[..., torch.Tensor]] = {"cntk": cntk, "cexp_laplace": cexp}
MOVES = {"cntk": 4, "cexp_laplace": 2}  # arrays read + written per pair·position·layer (fused)
FLOPS = {"cntk": 36, "cexp_laplace": 16}  # per pair·position·layer

NT_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    import jax
    jax.config.update("jax_enable_x64", True)
    from neural_tangents import stax
    depth, repeats, dtype = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    layers = []
    for _ in range(depth):
        layers += [stax.Conv(256, (3, 3), padding="SAME", W_std=2 ** 0.5,
                             parameterization="ntk"), stax.Relu()]
    layers += [stax.Flatten(), stax.Dense(1, W_std=1.0, parameterization="ntk")]
    _, _, kernel_fn = stax.serial(*layers)
    f = jax.jit(lambda a, b: kernel_fn(a, b, "ntk"))
    x = np.load(sys.argv[4]).astype(dtype).transpose(0, 2, 3, 1)  # NHWC
    z = np.load(sys.argv[5]).astype(dtype).transpose(0, 2, 3, 1)
    f(x, z).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        k = f(x, z).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    np.save(sys.argv[6], np.asarray(k))
    print(json.dumps({"seconds": best}))
    """
)


def time_block(kernel: Callable, n: int, m: int, *, depth: int, dtype: torch.dtype,
               device: str, method: str, repeats: int = 1) -> float:  # fmt: skip
    """Best wall time (s) of kernel(x (n, 3, 32, 32), z (m, 3, 32, 32)) over `repeats`."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, 32, 32, generator=g, dtype=dtype).to(device)
    z = torch.randn(m, 3, 32, 32, generator=g, dtype=dtype).to(device)
    return timed(lambda: kernel(x, z, depth=depth, method=method), repeats, device=device)[0]


def side_by_side(python: str, n: int, depths: list[int], repeats: int) -> list[dict]:
    """nvk's CNTK (fused and eager) and neural-tangents' on the same n × n image pairs."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, 32, 32, generator=g, dtype=torch.float64)
    z = torch.randn(n, 3, 32, 32, generator=g, dtype=torch.float64)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        xp, zp, kp = (os.path.join(tmp, f) for f in ("x.npy", "z.npy", "k.npy"))
        np.save(xp, x.numpy()), np.save(zp, z.numpy())
        for depth in depths:
            res = peer(
                python,
                NT_SCRIPT,
                depth,
                repeats,
                "float64",
                xp,
                zp,
                kp,
                env=XLA_ENV,
            )
            k_nt = torch.from_numpy(np.load(kp)) if res else None
            fused = timed(lambda d=depth: cntk(x, z, depth=d), repeats)
            with eager_only():
                eager = timed(lambda d=depth: cntk(x, z, depth=d), repeats)
            row = {
                "kernel": "cntk",
                "images": n,
                "depth": depth,
                "dtype": "float64",
                "nvk_s": fused[0],
                "nvk_eager_s": eager[0],
                "jax_s": res["seconds"] if res else None,
                "nvk_over_jax": fused[0] / res["seconds"] if res else None,
                "eager_over_jax": eager[0] / res["seconds"] if res else None,
                "max_abs_fused_minus_eager": (fused[1] - eager[1]).abs().max().item(),
                "max_abs_nvk_minus_jax": (fused[1] - k_nt).abs().max().item()
                if k_nt is not None
                else None,
            }
            rows.append(row)
            f = lambda v, s=".3f": format(v, s) if v is not None else "-"  # noqa: E731
            print(
                f"cntk vs neural-tangents, {n}x{n} pairs, D={depth}: nvk {row['nvk_s']:.3f} s "
                f"(eager {row['nvk_eager_s']:.3f}), jax {f(row['jax_s'])} s, nvk/jax "
                f"{f(row['nvk_over_jax'], '.2f')} (eager/jax {f(row['eager_over_jax'], '.2f')});"
                f" |fused-eager| {row['max_abs_fused_minus_eager']:.1e}, |nvk-jax| "
                f"{f(row['max_abs_nvk_minus_jax'], '.1e')}",
                flush=True,
            )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pairs", type=int, default=64, help="fast path: time a pairs × pairs block")
    ap.add_argument("--full-block", type=int, default=10, help="full reference: block edge")
    ap.add_argument("--depths", type=int, nargs="+", default=[5, 11])
    ap.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    ap.add_argument("--kernels", nargs="+", default=list(KERNELS), choices=list(KERNELS))
    ap.add_argument("--no-full", action="store_true", help="skip the full-covariance reference")
    ap.add_argument("--no-eager", action="store_true", help="skip the eager (NVK_COMPILE=0) rows")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--jax-python", default=None, help="python with jax + neural-tangents")
    ap.add_argument("--nt-images", type=int, default=64, help="side by side: n × n image pairs")
    ap.add_argument("--nt-depths", type=int, nargs="+", default=[3, 7])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "conv.json"))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    limits = {
        f"{dev}/{dt}": machine_limits(getattr(torch, dt), dev)
        for dev in devices
        for dt in args.dtypes
    }
    for key, lim in limits.items():
        print(
            f"machine limits {key} ({torch.get_num_threads()} threads): copy "
            f"{lim['copy_GBps']:.1f} GB/s, matmul {lim['matmul_GFLOPs']:.1f} GFLOP/s"
        )
    side = []
    if args.jax_python:
        side = side_by_side(args.jax_python, args.nt_images, args.nt_depths, max(args.repeats, 2))
    rows = []
    for device in devices:
        for name in args.kernels:
            for depth in args.depths:
                for dt in args.dtypes:
                    dtype = getattr(torch, dt)
                    edge = args.pairs if device == "cpu" else 1000
                    paths = [("fast", None)] + (
                        [] if args.no_eager else [("fast-eager", eager_only)]
                    )
                    for label, ctx in paths:
                        with ctx() if ctx else contextlib.nullcontext():
                            sec = time_block(
                                KERNELS[name],
                                edge,
                                edge,
                                depth=depth,
                                dtype=dtype,
                                device=device,
                                method="fast",
                                repeats=args.repeats,
                            )
                        entries = edge**2 * 1024 * depth  # pairs · positions · layers
                        lim = versus_limits(
                            sec,
                            MOVES[name] * dtype.itemsize * entries,
                            FLOPS[name] * entries,
                            limits[f"{device}/{dt}"],
                        )
                        per_pair = sec / edge**2
                        rows.append(
                            {
                                "kernel": name,
                                "device": device,
                                "method": label,
                                "depth": depth,
                                "dtype": dt,
                                "block": [edge, edge],
                                "seconds": sec,
                                "s_per_1000x1000": per_pair * BLOCK,
                                "cifar_60k_hours": per_pair * CIFAR_PAIRS / 3600,
                                **lim,
                            }
                        )
                        print(_line(rows[-1]), flush=True)
            if args.no_full or device != "cpu":
                continue
            for depth in args.depths:
                e = args.full_block
                full = time_block(
                    KERNELS[name],
                    e,
                    e,
                    depth=depth,
                    dtype=torch.float64,
                    device=device,
                    method="full",
                    repeats=1,
                )
                per_pair = full / e**2
                rows.append(
                    {
                        "kernel": name,
                        "device": device,
                        "method": "full",
                        "depth": depth,
                        "dtype": "float64",
                        "block": [e, e],
                        "seconds": full,
                        "s_per_1000x1000": per_pair * BLOCK,
                        "cifar_60k_hours": per_pair * CIFAR_PAIRS / 3600,
                    }
                )
                print(_line(rows[-1]), flush=True)
    record = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        },
        "limits": limits,
        "image": [3, 32, 32],
        "rows": rows,
        "neural_tangents": side,
        "note": "s_per_1000x1000 and cifar_60k_hours scale the timed block linearly in pairs",
    }
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
        f"{r['s_per_1000x1000']:10.1f} s  CIFAR 60k^2 {r['cifar_60k_hours']:9.1f} h"
        + (
            f"  {r['GBps']:6.1f} GB/s ({100 * r['of_copy']:3.0f}% copy) {r['GFLOPs']:6.1f} "
            f"GFLOP/s ({100 * r['of_matmul']:3.0f}% matmul)"
            if "GBps" in r
            else ""
        )
    )


if __name__ == "__main__":
    main()
