"""GPyTorch kernels for every nvk kernel: a few lines around the pure functions.

Each class calls its pure function (`nvk.kernels`) on dense tensors and, above a size threshold,
its KeOps twin (`nvk.kernels.keops`) through a `KernelLinearOperator`, exactly as GPyTorch's
own `gpytorch.kernels.keops.*` do: KeOps is used when `keops=True`, or with `keops=None`
(default) when both inputs have at least `gpytorch.settings.max_cholesky_size` rows (800 by
default) and `gpytorch.settings.use_keops` is on. Output scale comes from `ScaleKernel`.

| class | pure function | learnable |
|---|---|---|
| `NTKKernel`, `NNGPKernel` | `fc_ntk`, `fc_nngp` | — (depth, bias, … are settings) |
| `LaplaceKernel`, `GaussianKernel` | `laplace`, `gaussian` | c > 0 (`Positive`) |
| `GammaExponentialKernel` | `gamma_exponential` | c > 0, γ ∈ (0, 2) (`Interval`) |
| `HLaplaceKernel`, `HGaussianKernel`, `HGammaExponentialKernel` | `h_*` | as above |

`from_pure(partial)` turns a configured pure function (what `conf/kernel/*.yaml` builds) into
its GPyTorch class, so every solver and study can use any nvk kernel in an `ExactGP`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar

import gpytorch
import torch
from gpytorch.constraints import Interval, Positive
from linear_operator.operators import KernelLinearOperator
from torch import Tensor

from nvk.kernels import exponential as _exp
from nvk.kernels import fc as _fc
from nvk.kernels import keops as _keops


def _keops_available() -> bool:
    try:
        import pykeops  # noqa: F401
    except ImportError:  # pragma: no cover - pykeops is a dependency
        return False
    return True


def _covar(
    x1: Tensor,
    x2: Tensor,
    *,
    twin: Callable,
    pure: Callable,
    fixed: dict,
    batch_anchor: Tensor,
    **tensor_params: Tensor,
):
    # Hyperparameters arrive as (*batch, 1, 1); `batch_anchor` only made KernelLinearOperator
    # expand x1, x2 to the kernel's batch shape. KernelLinearOperator evaluates its diagonal and
    # single entries (pivoted-Cholesky preconditioner) as batches of 1 x 1 kernels, which must be
    # dense tensors: those go to the pure function, as GPyTorch's own KeOps kernels do.
    if x1.size(-2) == 1 or x2.size(-2) == 1:
        same = x2 is x1 or (x1.shape == x2.shape and torch.equal(x1, x2))
        return pure(x1, x1 if same else x2, **fixed, **tensor_params)
    return twin(x1, x2, **fixed, **tensor_params)


class NVKKernel(gpytorch.kernels.Kernel):
    """Base class: `pure` on dense tensors, `twin` (KeOps) for large inputs.

    Subclasses set `pure`, `twin`, `learnable` (subset of ("c", "gamma")) and `settings`
    (fixed keyword arguments with defaults). Hyperparameters have shape (*batch_shape, 1, 1).

    Batches: outputs have the batch shape of `batch_shape` broadcast with the inputs' batch
    dimensions, as GPyTorch kernels do. A kernel without hyperparameters (NTK, NNGP) would have
    nothing to carry its batch shape, dtype and device, so every kernel holds a zero buffer
    `batch_anchor` of shape (*batch_shape, 1, 1): GPyTorch's `kernel[i]` and `expand_batch`
    index and expand it like a hyperparameter, `.to()` moves it, and `dtype`/`device` read it
    with the parameters. It is not saved (`persistent=False`: state dicts are unchanged).
    """

    pure: ClassVar[Callable[..., Tensor]]
    twin: ClassVar[Callable[..., Any]]
    learnable: ClassVar[tuple[str, ...]] = ()
    settings: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        *,
        c: float = 1.0,
        gamma: float = 1.0,
        keops: bool | None = None,
        c_constraint: Interval | None = None,
        gamma_constraint: Interval | None = None,
        **kwargs: Any,
    ) -> None:
        fixed = {k: kwargs.pop(k, v) for k, v in self.settings.items()}
        super().__init__(**kwargs)
        self.fixed = fixed
        self.keops = keops
        shape = (*self.batch_shape, 1, 1)
        self.register_buffer("batch_anchor", torch.zeros(shape), persistent=False)
        if "c" in self.learnable:
            self.register_parameter("raw_c", torch.nn.Parameter(torch.zeros(shape)))
            self.register_constraint("raw_c", c_constraint or Positive())
            self.c = c
        if "gamma" in self.learnable:
            self.register_parameter("raw_gamma", torch.nn.Parameter(torch.zeros(shape)))
            self.register_constraint("raw_gamma", gamma_constraint or Interval(0.0, 2.0))
            self.gamma = gamma
        self.pure(torch.zeros(1, 2), torch.zeros(1, 2), **self._pure_params())  # validate now

    # -- hyperparameters ---------------------------------------------------------------------
    @property
    def c(self) -> Tensor:
        return self.raw_c_constraint.transform(self.raw_c)

    @c.setter
    def c(self, value: float | Tensor) -> None:
        v = torch.as_tensor(value, dtype=self.raw_c.dtype, device=self.raw_c.device)
        self.initialize(raw_c=self.raw_c_constraint.inverse_transform(v.expand_as(self.raw_c)))

    @property
    def gamma(self) -> Tensor:
        return self.raw_gamma_constraint.transform(self.raw_gamma)

    @gamma.setter
    def gamma(self, value: float | Tensor) -> None:
        v = torch.as_tensor(value, dtype=self.raw_gamma.dtype, device=self.raw_gamma.device)
        raw = self.raw_gamma_constraint.inverse_transform(v.expand_as(self.raw_gamma))
        self.initialize(raw_gamma=raw)

    def _tensor_params(self) -> dict[str, Tensor]:
        return {name: getattr(self, name) for name in self.learnable}

    def _pure_params(self, like: Tensor | None = None) -> dict[str, Any]:
        p: dict[str, Any] = dict(self.fixed)
        for k, v in self._tensor_params().items():
            p[k] = v if like is None else v.to(like.dtype)
        return p

    # -- dtype and device (GPyTorch's read the parameters only: none for NTK, NNGP) ---------
    def _one(self, attr: str, problem: str) -> Any:
        """The one `attr` (dtype, device) of the parameters and `batch_anchor`."""
        values = {getattr(t, attr) for t in (*self.parameters(), self.batch_anchor)}
        if len(values) > 1:
            raise RuntimeError(f"The kernel's parameters {problem}: {values}.")
        return values.pop()

    @property
    def dtype(self) -> torch.dtype:
        return self._one("dtype", "have multiple dtypes")

    @property
    def device(self) -> torch.device:
        return self._one("device", "are on multiple devices")

    # -- evaluation --------------------------------------------------------------------------
    def _batched(self, out: Tensor, nonbatch: int) -> Tensor:
        """`out` broadcast to the kernel's batch shape (a copy, so in-place updates stay safe;
        the values are computed once, whatever the batch)."""
        inner = out.shape[out.dim() - nonbatch :]
        shape = torch.broadcast_shapes(self.batch_shape, out.shape[: out.dim() - nonbatch])
        if shape == out.shape[: out.dim() - nonbatch]:
            return out
        return out.expand(*shape, *inner).contiguous()

    def use_keops(self, x1: Tensor, x2: Tensor) -> bool:
        if self.keops is not None:
            return bool(self.keops) and _keops_available()
        n = gpytorch.settings.max_cholesky_size.value()
        return (
            _keops_available()
            and gpytorch.settings.use_keops.on()
            and x1.size(-2) >= n
            and x2.size(-2) >= n
        )

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, **params: Any):
        if params.get("last_dim_is_batch", False):
            raise NotImplementedError(f"{type(self).__name__} does not support last_dim_is_batch")
        kw = self._pure_params(like=x1)
        if diag:  # k(x1_i, x2_i): N batched 1×1 kernels
            kw = {k: v[..., None] if isinstance(v, Tensor) else v for k, v in kw.items()}
            a = x1.unsqueeze(-2)
            b = a if (x2 is x1 or torch.equal(x1, x2)) else x2.unsqueeze(-2)  # exact k(x, x)
            return self._batched(type(self).pure(a, b, **kw)[..., 0, 0], 1)
        if self.use_keops(x1, x2):
            tp = {k: v.to(x1.dtype) for k, v in self._tensor_params().items()}
            tp["batch_anchor"] = self.batch_anchor.to(x1.dtype)
            return KernelLinearOperator(
                x1,
                x2,
                covar_func=_covar,
                twin=type(self).twin,
                pure=type(self).pure,
                fixed=dict(self.fixed),
                **tp,
            )
        if x2 is not x1 and x1.shape == x2.shape and torch.equal(x1, x2):
            x2 = x1  # GPyTorch passes copies: `x2 is x1` gives exact distances 0 on the diagonal
        return self._batched(type(self).pure(x1, x2, **kw), 2)


def _fc_settings() -> dict[str, Any]:
    return {"depth": 3, "bias": 0.0, "bias_init": "zero", "sigma_w": 2.0**0.5, "frozen_layers": 0}


class NTKKernel(NVKKernel):
    """Infinite-width NTK of the Core MLP (`fc_ntk`); settings depth, bias, bias_init, sigma_w,
    frozen_layers."""

    pure = staticmethod(_fc.fc_ntk)
    twin = staticmethod(_keops.keops_fc_ntk)
    settings = _fc_settings()


class NNGPKernel(NVKKernel):
    """Infinite-width NNGP of the Core MLP (`fc_nngp`)."""

    pure = staticmethod(_fc.fc_nngp)
    twin = staticmethod(_keops.keops_fc_nngp)
    settings = _fc_settings()


class LaplaceKernel(NVKKernel):
    """exp(−c‖x − z‖) (= GPyTorch Matérn-½ with lengthscale 1/c)."""

    pure = staticmethod(_exp.laplace)
    twin = staticmethod(_keops.keops_laplace)
    learnable = ("c",)


class GaussianKernel(NVKKernel):
    """exp(−c‖x − z‖²) (= GPyTorch RBF with lengthscale 1/√(2c))."""

    pure = staticmethod(_exp.gaussian)
    twin = staticmethod(_keops.keops_gaussian)
    learnable = ("c",)


class GammaExponentialKernel(NVKKernel):
    """exp(−c‖x − z‖^γ), c > 0 and γ ∈ (0, 2) learnable."""

    pure = staticmethod(_exp.gamma_exponential)
    twin = staticmethod(_keops.keops_gamma_exponential)
    learnable = ("c", "gamma")


class HLaplaceKernel(NVKKernel):
    """‖x‖‖z‖ exp(−c‖x̂ − ẑ‖) (the paper's H-Laplace)."""

    pure = staticmethod(_exp.h_laplace)
    twin = staticmethod(_keops.keops_h_laplace)
    learnable = ("c",)


class HGaussianKernel(NVKKernel):
    """‖x‖‖z‖ exp(−c‖x̂ − ẑ‖²)."""

    pure = staticmethod(_exp.h_gaussian)
    twin = staticmethod(_keops.keops_h_gaussian)
    learnable = ("c",)


class HGammaExponentialKernel(NVKKernel):
    """‖x‖‖z‖ exp(−c‖x̂ − ẑ‖^γ)."""

    pure = staticmethod(_exp.h_gamma_exponential)
    twin = staticmethod(_keops.keops_h_gamma_exponential)
    learnable = ("c", "gamma")


GPYTORCH_KERNELS: dict[Callable[..., Tensor], type[NVKKernel]] = {
    cls.pure: cls
    for cls in (
        NTKKernel,
        NNGPKernel,
        LaplaceKernel,
        GaussianKernel,
        GammaExponentialKernel,
        HLaplaceKernel,
        HGaussianKernel,
        HGammaExponentialKernel,
    )
}


def from_pure(kernel: Callable[..., Tensor], **kwargs: Any) -> NVKKernel:
    """The GPyTorch kernel of a configured pure function, e.g. `partial(laplace, c=0.5)`.

    Bound parameters become initial values (c, γ) or settings (depth, bias, …); `kwargs` go to
    the class (`keops=`, `batch_shape=`, constraints).
    """
    func, bound = kernel, {}
    if isinstance(kernel, functools.partial):
        func, bound = kernel.func, dict(kernel.keywords)
    cls = GPYTORCH_KERNELS.get(func)
    if cls is None:
        names = sorted(f.__name__ for f in GPYTORCH_KERNELS)
        raise ValueError(f"no GPyTorch wrapper for {func!r}; nvk wraps {names}")
    return cls(**bound, **kwargs)
