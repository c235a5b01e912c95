"""UCI classifiers: a list of hyperparameter settings and an accuracy on given rows.

A classifier for the protocol (`nvk.studies.uci.protocol`) has

* `name` and `spec()` (a JSON-able description; its hash guards the records),
* `settings()`: every hyperparameter setting, in tie-break order (first best wins),
* `accuracy(data, setting, train, test)`: fit on rows `train`, accuracy on rows `test`.

Three kinds, all built from config files (conf/uci_classifier/*.yaml, docs/uci.md):

* `KernelSVC`: a kernel from `nvk.kernels` + `SVC(kernel="precomputed")` (Arora et al. 2020).
  Settings = kernel grid × C with C innermost, so the loop order is Arora et al.'s (depth, then
  frozen layers, then C). One Gram matrix over all rows per kernel setting (`nvk.kernels.gram`,
  disk-cached when `cache_dir` is set), sliced for the tuning split and the folds.
* `FeatureClassifier`: any scikit-learn-style estimator (fit / predict) on the features,
  e.g. `RandomForestClassifier`, over a parameter grid.
* `MLPEstimator`: the nvk MLP (`nvk.nets.MLP`) trained full-batch, as such an estimator.
"""

from __future__ import annotations

import functools
import itertools
import json
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nvk.arch import ArchSpec
from nvk.data.uci import UCIDataset
from nvk.kernels.gram import gram, kernel_key
from nvk.nets import MLP
from nvk.solvers.svc import SVCOptions, svc_fit

Setting = dict[str, Any]
Grid = Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]] | None


def expand_grid(grid: Grid) -> list[Setting]:
    """All settings of a grid, in order.

    `grid` is one block {key: [values]} or a list of blocks; each block is the Cartesian product
    of its value lists with the first key outermost (YAML order), blocks one after the other.
    None or {} is the single empty setting. E.g. [{depth: [1], f: [0]}, {depth: [2], f: [0, 1]}]
    → [{depth 1, f 0}, {depth 2, f 0}, {depth 2, f 1}].
    """
    if grid is None:
        return [{}]
    blocks = [grid] if isinstance(grid, Mapping) else list(grid)
    out: list[Setting] = []
    for b, block in enumerate(blocks):
        if not isinstance(block, Mapping):
            raise ValueError(f"grid block {b} must be a mapping key: [values], got {block!r}")
        for key, values in block.items():
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
                raise ValueError(
                    f"grid block {b}: {key} must be a non-empty list of values, got {values!r}"
                )
        keys = list(block)
        out.extend(dict(zip(keys, combo)) for combo in itertools.product(*block.values()))
    return out or [{}]


def _plain(v: Any) -> Any:
    """Config containers (OmegaConf ListConfig/DictConfig) to plain lists/dicts."""
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, Sequence) and not isinstance(v, (str, bytes)):
        return [_plain(x) for x in v]
    return v


def _accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.asarray(pred) == np.asarray(y)))


def bound_kernel(kernel: Callable[..., Tensor], settings: Sequence[Setting]) -> Callable:
    """`kernel` without the bound keywords that do not reach a call: None values (Hydra cannot
    delete a key that conf/kernel/<name>.yaml brings; null leaves it to the function's default)
    and keywords that every setting passes again (e.g. conf/kernel's `c: 1.0` under a c grid).

    The kernel computed for every setting is unchanged; the spec and the Gram cache keys
    (`kernel_key`) then name only what the calls use, as when the partial bound just those.
    """
    if not isinstance(kernel, functools.partial):
        return kernel
    always = set.intersection(*(set(s) for s in settings)) if settings else set()
    keywords = {k: v for k, v in kernel.keywords.items() if v is not None and k not in always}
    if keywords == kernel.keywords:
        return kernel
    return functools.partial(kernel.func, *kernel.args, **keywords)


class Classifier:
    """Base: `name`, `settings()`, `accuracy()`, `spec()`; `cache_dir` is set by the protocol.

    `fit_info` (optional): what the last `accuracy` call measured besides the accuracy (e.g.
    seconds, solver iterations); the protocol stores it in the cell's sidecar.
    """

    name: str
    cache_dir: str | None = None
    fit_info: dict[str, Any] | None = None

    def settings(self) -> list[Setting]:
        raise NotImplementedError

    def accuracy(self, data: UCIDataset, setting: Setting, train: Tensor, test: Tensor) -> float:
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:
        raise NotImplementedError


class KernelSVC(Classifier):
    """A kernel + `SVC(kernel="precomputed", C)`.

    Args:
        name: the row name in the table (e.g. "ntk", "h_laplace").
        kernel: k(x1 (N, D), x2 (M, D), **params) → (N, M), e.g. `functools.partial(fc_ntk,
            sigma_w=1.0)`; the grid's keys are passed as extra keyword arguments. Of a partial's
            bound keywords, those set to None and those every grid setting sets are dropped
            (`bound_kernel`), so a kernel config from conf/kernel/ can be used as it is.
        grid: kernel settings (see `expand_grid`), outer loops of the tie-break order.
        C: SVC box constraints, the innermost loop.
        scale: multiply every Gram matrix by this number, or by the input dimension D for
            "dim" (Arora et al.'s NTK: input covariance xᵀz instead of nvk's xᵀz / D).
        tile: Gram tile edge (`nvk.kernels.gram`).
        tol: libsvm's stopping tolerance.
        max_iter: libsvm iteration cap per binary subproblem (-1: none). LIBSVM can take
            minutes at large C on nearly linear kernels; a fit that reaches the cap is
            reported in `fit_info["capped"]` and listed in the cell's record (docs/uci.md).
            Not part of the spec: a record whose fits never reached the cap is exactly what an
            uncapped run gives.
        device: where Gram blocks are computed (None: the CPU; e.g. "cuda"); the SVC always
            runs on the CPU. Not part of the spec: records from either device are comparable.
    """

    def __init__(
        self,
        *,
        name: str,
        kernel: Callable[..., Tensor],
        grid: Grid,
        C: Sequence[float],
        scale: float | str | None = None,
        tile: int = 2048,
        tol: float = 1e-3,
        max_iter: int = -1,
        device: str | None = None,
    ) -> None:
        if isinstance(scale, str) and scale != "dim":
            raise ValueError(f"{name}: scale must be a number, 'dim' or null, got {scale!r}")
        if not C or any(not float(c) > 0 for c in C):
            raise ValueError(f"{name}: C must be a non-empty list of numbers > 0, got {C!r}")
        self.name, self.scale, self.tile, self.tol = name, scale, tile, tol
        if int(max_iter) != max_iter or not (max_iter == -1 or max_iter >= 1):
            raise ValueError(f"{name}: max_iter must be -1 (no cap) or >= 1, got {max_iter!r}")
        self.device, self.max_iter = device, int(max_iter)
        self.grid = _plain(grid)
        self.C = [float(c) for c in C]
        self.kernel_settings = expand_grid(self.grid)
        self.kernel = bound_kernel(kernel, self.kernel_settings)
        self._memo: tuple[str, Tensor] | None = None  # the last Gram (settings come C-innermost)

    def settings(self) -> list[Setting]:
        return [{**k, "C": c} for k in self.kernel_settings for c in self.C]

    def spec(self) -> dict[str, Any]:
        return {
            "type": "KernelSVC",
            "kernel": kernel_key(self.kernel),
            "grid": self.grid,
            "C": self.C,
            "scale": self.scale,
            "tol": self.tol,
        }

    def gram_matrix(self, data: UCIDataset, params: Setting) -> Tensor:
        """K over all rows of `data` (n, n), float64, for one kernel setting (memoized)."""
        key = json.dumps([data.meta.name, data.x.shape[0], params], sort_keys=True, default=str)
        if self._memo is not None and self._memo[0] == key:
            return self._memo[1]
        self._memo = None  # free the previous Gram before building the next
        t0 = time.perf_counter()
        k = functools.partial(self.kernel, **params)
        G = gram(k, data.x.double(), tile=self.tile, cache_dir=self.cache_dir, device=self.device)
        if self.scale is not None:
            G.mul_(data.x.shape[1] if self.scale == "dim" else float(self.scale))
        self._memo = (key, G)
        self._gram_seconds = time.perf_counter() - t0
        return G

    def accuracy(self, data: UCIDataset, setting: Setting, train: Tensor, test: Tensor) -> float:
        params = {k: v for k, v in setting.items() if k != "C"}
        self._gram_seconds = 0.0  # stays 0 when the memoized Gram is reused
        G = self.gram_matrix(data, params)
        options = SVCOptions(C=setting["C"], tol=self.tol, max_iter=self.max_iter)
        t0 = time.perf_counter()
        with warnings.catch_warnings():  # a reached cap is recorded below, not warned about
            warnings.filterwarnings("ignore", message="Solver terminated early")
            clf = svc_fit(G[train][:, train], data.y[train], options)
        pred = clf.predict(G[test][:, train].numpy())
        n_iter = int(np.max(clf.n_iter_))
        self.fit_info = {
            "gram_s": round(self._gram_seconds, 4),
            "svc_s": round(time.perf_counter() - t0, 4),
            "n_train": len(train),
            "n_iter": n_iter,  # the largest over libsvm's one-vs-one subproblems
            "capped": self.max_iter > 0 and n_iter >= self.max_iter,
        }
        return _accuracy(pred, data.y[test].numpy())


class FeatureClassifier(Classifier):
    """A scikit-learn-style estimator (fit(x, y) / predict(x)) on the features.

    Args:
        name: the row name in the table.
        estimator: a factory taking the grid's keys as keyword arguments, e.g.
            `functools.partial(RandomForestClassifier, n_estimators=500, random_state=0)`.
        grid: estimator settings (see `expand_grid`).
    """

    def __init__(self, *, name: str, estimator: Callable[..., Any], grid: Grid = None) -> None:
        self.name, self.estimator = name, estimator
        self.grid = _plain(grid)
        self._settings = expand_grid(self.grid)

    def settings(self) -> list[Setting]:
        return [dict(s) for s in self._settings]

    def spec(self) -> dict[str, Any]:
        return {"type": "FeatureClassifier", "estimator": kernel_key(self.estimator),
                "grid": self.grid}  # fmt: skip

    def accuracy(self, data: UCIDataset, setting: Setting, train: Tensor, test: Tensor) -> float:
        x, y = data.x.numpy(), data.y.numpy()
        est = self.estimator(**setting)
        est.fit(x[train.numpy()], y[train.numpy()])
        return _accuracy(est.predict(x[test.numpy()]), y[test.numpy()])


class MLPEstimator:
    """The nvk MLP (`nvk.nets.MLP`, NTK parameterization) as a fit / predict estimator.

    Full-batch SGD with momentum on the cross-entropy for `epochs` steps, float32, seeded (the
    global torch RNG is left as it was). Shapes: fit(x (N, D), y (N,)), predict(x (M, D)) → (M,).
    """

    def __init__(
        self,
        *,
        depth: int = 3,
        width: int = 512,
        bias: float = 0.0,
        lr: float = 0.5,
        momentum: float = 0.9,
        epochs: int = 200,
        seed: int = 0,
    ) -> None:
        if epochs < 1 or lr <= 0:
            raise ValueError(f"MLPEstimator needs epochs >= 1 and lr > 0, got {epochs}, {lr}")
        self.arch = ArchSpec(depth=int(depth), width=int(width), bias=float(bias))
        self.lr, self.momentum, self.epochs, self.seed = lr, momentum, int(epochs), seed
        self.net: MLP | None = None

    def fit(self, x: np.ndarray, y: np.ndarray) -> MLPEstimator:
        X = torch.as_tensor(x, dtype=torch.float32)
        Y = torch.as_tensor(y, dtype=torch.int64)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.net = MLP(self.arch, X.shape[1], int(Y.max()) + 1)
        opt = torch.optim.SGD(self.net.parameters(), lr=self.lr, momentum=self.momentum)
        for _ in range(self.epochs):
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(self.net(X), Y).backward()
            opt.step()
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.net is None:
            raise RuntimeError("MLPEstimator.predict called before fit")
        with torch.no_grad():
            return self.net(torch.as_tensor(x, dtype=torch.float32)).argmax(1).numpy()
