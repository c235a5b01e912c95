"""Float32 vs float64 Gram tiles on real CIFAR-10 images: kernel error and what it does to KRR.

The CIFAR-10 study (docs/conv.md) builds its Gram tiles in float32 and solves in float64. This
measures, on the first `--n` training and test images of the data set: the largest difference
between the float32 and float64 kernels relative to the largest entry, and for each ridge of
the study's grid the test accuracy with either and how many predictions differ.

    .venv/bin/python benchmarks/cifar_f32.py [--n 400] [--kernel cntk] [--depth 11] [--c 1.0]
        [--threads 1] [--out benchmarks/results/cifar_f32.json]
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import torch

from nvk.data import CIFAR10DataModule
from nvk.kernels import cexp, cntk
from nvk.kernels.gram import gram
from nvk.solvers.krr import krr_fit
from nvk.solvers.targets import encode_targets

ROOT = Path(__file__).resolve().parents[1]
RIDGES = (1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--kernel", choices=("cntk", "cexp"), default="cntk")
    ap.add_argument("--depth", type=int, default=11)
    ap.add_argument("--c", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cifar_f32.json"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dm = CIFAR10DataModule(subset=2000, checksum="skip",
                           search=[str(ROOT / ".." / "shared" / "data" / "cifar10"),
                                   str(ROOT / "data" / "cifar10")])  # fmt: skip
    d = dm.full_batch()
    x, y, xt, yt = d.x_train[: a.n], d.y_train[: a.n], d.x_test[: a.n], d.y_test[: a.n]
    kw = {"depth": a.depth} if a.kernel == "cntk" else {"depth": a.depth, "c": a.c}
    k = functools.partial(cntk if a.kernel == "cntk" else cexp, **kw)
    Y = encode_targets(y, task="classification", num_classes=10, encoding="centered")
    grams, secs = {}, {}
    for dt in (torch.float32, torch.float64):
        t0 = time.perf_counter()
        grams[dt] = [gram(k, x, dtype=dt, tile=a.n).double(),
                     gram(k, xt, x, dtype=dt, tile=a.n).double()]  # fmt: skip
        secs[str(dt)] = time.perf_counter() - t0
    (K32, T32), (K64, T64) = grams[torch.float32], grams[torch.float64]
    res = {"kernel": a.kernel, **kw, "n": a.n, "seconds": secs,
           "rel_err_train": float((K32 - K64).abs().max() / K64.abs().max()),
           "rel_err_test": float((T32 - T64).abs().max() / T64.abs().max()),
           "ridges": []}  # fmt: skip
    print(f"{a.kernel} {kw}, {a.n} train / {a.n} test images: max |K32 - K64| / max |K64| = "
          f"{res['rel_err_train']:.2e} (train), {res['rel_err_test']:.2e} (test)")  # fmt: skip
    print("| ridge r | acc float32 | acc float64 | predictions that differ |\n|---|---|---|---|")
    for r in RIDGES:
        p = [(T @ krr_fit(K, Y, ridge=r * float(K.diagonal().mean())).alpha).argmax(1)
             for K, T in ((K32, T32), (K64, T64))]  # fmt: skip
        row = {"r": r, "acc32": float((p[0] == yt).double().mean()),
               "acc64": float((p[1] == yt).double().mean()),
               "differ": int((p[0] != p[1]).sum())}  # fmt: skip
        res["ridges"].append(row)
        print(f"| {r:g} | {row['acc32']:.4f} | {row['acc64']:.4f} | {row['differ']} of {a.n} |")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
