"""`python train.py -m experiment=random_labels model=mlp,ntk,laplace,gaussian`: label noise.

Belkin et al. (2018) saw networks and the Laplace kernel fit noisy labels equally fast and the
Gaussian kernel far slower; Geifman et al. (2020) explain it by the spectra. One run = one model:
for each noise fraction p, a seeded fraction p of the `n_train` training labels of `cfg.data`
(digits by default) is replaced by uniformly random classes; inputs are projected on the unit
sphere (the paper's setting); the model is fitted by full-batch GD on ½‖f − Y‖² (one-hot Y) from
f = 0 with η = lr/λ_max (kernel Gram or the network's empirical NTK at init), and we count the
epochs (full-batch steps) until the training error is zero. Kernels iterate exactly up to
`max_steps`, then the closed form f_t = Y − U diag((1 − ηs)^t) UᵀY is searched (doubling +
bisection; zero error treated as monotone) and the count marked extrapolated; networks stop at
`max_steps` (count None). Writes `random_labels.json`, `random_labels.png`, W&B/CSV keys
`labels/noise<p>/epochs`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import Tensor, nn

from nvk.kernels.empirical import empirical_ntk
from nvk.run import build, write_run_records
from nvk.solvers.kernel_gd import gd_decay
from nvk.studies.common import config_kernel, task_options
from nvk.studies.frequency.dynamics import ZeroStart, first_step
from nvk.studies.frequency.study import device_of
from nvk.studies.loggers import log_study
from nvk.utils.io import atomic_write_json


@dataclass(frozen=True)
class RandomLabelOptions:
    """name: label in records/plots; noise: fractions of random labels in [0, 1]; n_train:
    training rows used; lr: η·λ_max; max_steps: GD steps run; seed: which labels are replaced."""

    name: str = "model"
    noise: Sequence[float] = field(default=(0.0, 0.5, 1.0))
    n_train: int = 256
    lr: float = 1.0
    max_steps: int = 3000
    seed: int = 0

    def __post_init__(self) -> None:
        if any(not 0 <= p <= 1 for p in self.noise):
            raise ValueError(f"task.noise fractions must lie in [0, 1], got {list(self.noise)}")
        if self.n_train < 2:
            raise ValueError(f"task.n_train must be >= 2, got {self.n_train}")
        if not 0 < self.lr < 2:
            raise ValueError(f"task.lr (η·λ_max) must lie in (0, 2), got {self.lr}")


def noisy_labels(y: Tensor, p: float, num_classes: int, seed: int) -> Tensor:
    """y (n,) with round(p·n) seeded positions replaced by uniform random classes."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(y), generator=g)[: round(p * len(y))]
    out = y.clone()
    out[idx] = torch.randint(0, num_classes, (len(idx),), generator=g)
    return out


def _errors(f: Tensor, y: Tensor) -> int:
    return int((f.argmax(1) != y).sum())


def kernel_epochs(K: Tensor, y: Tensor, num_classes: int, *, lr: float, max_steps: int):
    """(epochs to zero training error, extrapolated) for kernel GD on K (n, n), labels y (n,)."""
    Y = F.one_hot(y, num_classes).to(K)
    eta = lr / float(torch.linalg.eigvalsh(K)[-1])
    f = torch.zeros_like(Y)
    for t in range(max_steps + 1):
        if _errors(f, y) == 0:
            return float(t), False
        f = f - eta * (K @ (f - Y))
    s, U = torch.linalg.eigh(K)
    UY = U.T @ Y

    def zero_at(t: float) -> bool:
        return _errors(Y - U @ (gd_decay(s.clamp_min(0), eta, t)[:, None] * UY), y) == 0

    return first_step(zero_at, max_steps), True


def network_epochs(net: nn.Module, x: Tensor, y: Tensor, *, lr: float, max_steps: int):
    """(epochs to zero training error or None, False) for full-batch GD on ½‖f − Y‖² from f = 0."""
    f = ZeroStart(net)
    Y = F.one_hot(y, net(x[:1]).shape[1]).to(x)
    eta = lr / float(torch.linalg.eigvalsh(empirical_ntk(net, x).double())[-1])
    opt = torch.optim.SGD(f.net.parameters(), lr=eta)
    for t in range(max_steps + 1):
        out = f(x)
        if _errors(out.detach(), y) == 0:
            return float(t), False
        opt.zero_grad(set_to_none=True)
        (0.5 * (out - Y).pow(2).sum()).backward()
        opt.step()
    return None, False


def random_label_record(cfg: DictConfig) -> dict[str, Any]:
    """Epochs to zero training error per noise level for cfg's model on cfg's data."""
    o = task_options(cfg, RandomLabelOptions)
    dm = instantiate(cfg.data)
    dm.setup()
    if dm.info.task != "classification":
        raise ValueError(f"experiment=random_labels needs classification data, got {dm.info.name}")
    fb = dm.full_batch()
    C = dm.info.num_outputs
    x = fb.x_train.reshape(len(fb.x_train), -1)[: o.n_train].double()
    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)  # on the unit sphere
    y0 = fb.y_train[: o.n_train].long()
    dev = device_of(cfg)
    rec: dict[str, Any] = {"name": o.name, "options": asdict(o), "n": len(x), "classes": C}
    epochs, ext = [], []
    kern = config_kernel(cfg, dm.info)  # None: a network
    for p in o.noise:
        y = noisy_labels(y0, p, C, o.seed)
        if kern is not None:
            K = kern(x.to(dev), x.to(dev))
            e, x_ = kernel_epochs(K, y.to(dev), C, lr=o.lr, max_steps=o.max_steps)
        else:
            L.seed_everything(cfg.get("seed") or 0, verbose=False)
            net = build(cfg.model, info=dm.info).net.to(dev)
            e, x_ = network_epochs(
                net, x.float().to(dev), y.to(dev), lr=o.lr, max_steps=o.max_steps
            )
        epochs.append(None if e is None or not math.isfinite(e) else e)
        ext.append(x_)
    rec.update(noise=list(o.noise), epochs=epochs, extrapolated=ext)
    rec["kind"] = "kernel" if kern is not None else "network"
    return rec


def run_random_labels(cfg: DictConfig, **_options: Any) -> dict[str, float]:
    """The `task` of experiment=random_labels: record, plot, log; returns the summary metrics.
    Its options (`task.noise`, `task.n_train`, …: `RandomLabelOptions`) are read from
    `cfg.task`."""
    from nvk.studies.frequency.plots import plot_random_labels

    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_run_records(cfg, out)
    rec = random_label_record(cfg)
    atomic_write_json(out / "random_labels.json", rec)
    png = plot_random_labels([rec], out / "random_labels.png")
    metrics = {
        f"labels/noise{p:g}/epochs": float(e)
        for p, e in zip(rec["noise"], rec["epochs"])
        if e is not None
    }
    log_study(cfg, metrics, step=0, figures={"freq/figure": png})
    print(f"[nvk] random_labels {rec['name']}: {metrics}  run_dir={out}", flush=True)
    return metrics
