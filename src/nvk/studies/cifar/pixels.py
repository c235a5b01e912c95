"""The pixel question: how much do JPEG-decoded pixels move a kernel's CIFAR-10 accuracy?

`python evaluate.py task=cifar_pixels` takes the first `n` training and the first `n` test
images (in the shared copy, images 0-760 of `data_batch_1` and of `test_batch` are the official
bytes; its README says so), makes a JPEG-decoded twin of each (Pillow, the `quality` whose mean
absolute error per value is closest to `target_mae`, the error the copy's README measured for
its decoded images), and for each kernel fits exact KRR (centred targets, ridge r·mean diag)
on the train images and tests on the test images, once with the exact pixels and once with the
decoded ones. Reported: both accuracies and their difference, the fraction of test images whose
predicted class changes, the kernel values' relative change, and the JPEG error. The loader is
not told which images are exact: `n` and the batch order are the only inputs.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from nvk.data.cifar10 import locate_cifar10, read_cifar10, standardize_channels
from nvk.kernels.gram import gram
from nvk.solvers.krr import krr_fit
from nvk.solvers.targets import encode_targets
from nvk.utils.io import atomic_write_json, atomic_write_text

log = logging.getLogger("nvk.studies")


def jpeg_roundtrip(images: np.ndarray, quality: int) -> np.ndarray:
    """(N, 3, 32, 32) uint8 → the same images JPEG-encoded at `quality` and decoded (Pillow)."""
    from PIL import Image

    out = np.empty_like(images)
    for i, im in enumerate(images):
        buf = io.BytesIO()
        Image.fromarray(im.transpose(1, 2, 0)).save(buf, format="JPEG", quality=int(quality))
        out[i] = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")).transpose(
            2, 0, 1
        )
    return out


def mae(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference per value, in 0-255 units."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def match_quality(images: np.ndarray, target: float, qualities=range(30, 100, 5)) -> int:
    """The JPEG quality whose mean absolute error on `images` is closest to `target`."""
    errs = {q: mae(images, jpeg_roundtrip(images, q)) for q in qualities}
    return min(errs, key=lambda q: abs(errs[q] - target))


def _standardize(train: np.ndarray, *others: np.ndarray) -> list[torch.Tensor]:
    """Scale to [0, 1], then per-channel mean/std of `train`, as data=cifar10 does."""
    t = [torch.from_numpy(a.astype(np.float32) / 255.0) for a in (train, *others)]
    return standardize_channels(*t)[0]


def accuracy_pair(
    kernel: Any,
    x: np.ndarray,
    y: np.ndarray,
    xt: np.ndarray,
    yt: np.ndarray,
    *,
    ridge: float,
    dtype: torch.dtype = torch.float32,
) -> dict[str, Any]:
    """Test predictions and accuracy of exact KRR (centred one-hot targets) with `kernel`."""
    a, b = _standardize(x, xt)
    K = gram(kernel, a, dtype=dtype, tile=1024).double()
    Kt = gram(kernel, b, a, dtype=dtype, tile=1024).double()
    Y = encode_targets(torch.from_numpy(y), task="classification", num_classes=10,
                       encoding="centered")  # fmt: skip
    alpha = krr_fit(K, Y, ridge=ridge * float(K.diagonal().mean())).alpha
    pred = (Kt @ alpha).argmax(1).numpy()
    return {"pred": pred, "acc": float((pred == yt).mean()), "K": K, "Kt": Kt}


def pixels_task(
    cfg: DictConfig,
    *,
    root: str | None,
    search: list[str],
    n: int,
    target_mae: float,
    kernels: Any,
    ridge: float,
    out_dir: str,
) -> dict[str, float]:
    """`task=cifar_pixels`: exact vs JPEG-decoded pixels of the same images, per kernel."""
    folder = locate_cifar10(root, search)
    x, y = read_cifar10(folder, train=True, checksum="skip")
    xt, yt = read_cifar10(folder, train=False, checksum="skip")
    x, y, xt, yt = x[:n], y[:n], xt[:n], yt[:n]
    quality = match_quality(np.concatenate([x, xt]), target_mae)
    jx, jxt = jpeg_roundtrip(x, quality), jpeg_roundtrip(xt, quality)
    result: dict[str, Any] = {"n_train": len(x), "n_test": len(xt), "quality": quality,
                              "jpeg_mae": mae(np.concatenate([x, xt]), np.concatenate([jx, jxt])),
                              "target_mae": target_mae, "ridge": ridge, "kernels": {}}  # fmt: skip
    kernels = (
        OmegaConf.to_container(kernels, resolve=True) if OmegaConf.is_config(kernels) else kernels
    )
    for name, kcfg in kernels.items():
        kernel = instantiate(kcfg)
        exact = accuracy_pair(kernel, x, y, xt, yt, ridge=ridge)
        jpeg = accuracy_pair(kernel, jx, y, jxt, yt, ridge=ridge)
        rel = float((exact["Kt"] - jpeg["Kt"]).abs().max() / exact["Kt"].abs().max())
        result["kernels"][name] = {
            "params": {k: v for k, v in kcfg.items() if not k.startswith("_")},
            "exact_acc": exact["acc"], "jpeg_acc": jpeg["acc"],
            "diff_points": 100 * (jpeg["acc"] - exact["acc"]),
            "changed_predictions": float((exact["pred"] != jpeg["pred"]).mean()),
            "kernel_rel_change": rel}  # fmt: skip
        log.info("cifar pixels: %s %s", name, result["kernels"][name])
    out = Path(out_dir)
    atomic_write_json(out / "pixels.json", result)
    lines = [f"{n} train / {n} test images; JPEG quality {quality} (mean abs error "
             f"{result['jpeg_mae']:.2f} of 255, target {target_mae})", "",
             "| kernel | exact pixels % | JPEG pixels % | Δ points | predictions changed % |"
             " max rel. kernel change |", "|---|---|---|---|---|---|"]  # fmt: skip
    for name, r in result["kernels"].items():
        lines.append(f"| {name} | {100 * r['exact_acc']:.2f} | {100 * r['jpeg_acc']:.2f} | "
                     f"{r['diff_points']:+.2f} | {100 * r['changed_predictions']:.1f} | "
                     f"{r['kernel_rel_change']:.3g} |")  # fmt: skip
    md = "\n".join(lines) + "\n"
    atomic_write_text(out / "pixels.md", md)
    print(md, flush=True)
    return {f"pixels/{k}/{v}": r[v] for k, r in result["kernels"].items()
            for v in ("exact_acc", "jpeg_acc")}  # fmt: skip
