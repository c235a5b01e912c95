"""Exact Gaussian processes with any nvk kernel (GPyTorch `ExactGP`), hyperparameters learned by
the exact marginal likelihood.

Model: y_t = f_t(x) + ε, f_t ~ GP(0, s_t·k_θ), ε ~ N(0, σ_t²), one independent GP per output
column t (one-hot columns for classification) as a GPyTorch batch; k_θ is the nvk kernel's
GPyTorch wrapper (`nvk.kernels.gpytorch.from_pure`: learnable c and γ, KeOps above
`max_cholesky_size` points), s_t a `ScaleKernel` output scale. Adam maximizes the exact
marginal log-likelihood for `iterations` steps; prediction gives the posterior mean (scores)
and `predict_var` the posterior variance.
"""

from __future__ import annotations

from dataclasses import dataclass

import gpytorch
import torch
from torch import Tensor

from nvk.data.base import DataInfo
from nvk.solvers.base import Kernel, Solver, flat64, kernel_formula
from nvk.solvers.targets import encode_targets, squared_loss


@dataclass(frozen=True)
class GPOptions:
    """iterations: Adam steps on the marginal likelihood (0 keeps the initial values);
    lr: Adam step size; noise: initial σ²; outputscale: initial s; learn_kernel: also learn
    the kernel's own c, γ; targets: label encoding for classification; max_cholesky_size:
    up to this many training points GPyTorch factorizes exactly (dense, float64), above it
    uses CG with the KeOps kernels (GPyTorch's own default is 800)."""

    iterations: int = 50
    lr: float = 0.1
    noise: float = 0.1
    outputscale: float = 1.0
    learn_kernel: bool = True
    targets: str = "onehot"
    max_cholesky_size: int = 4000

    def __post_init__(self) -> None:
        if self.iterations < 0 or self.lr <= 0 or self.noise <= 0 or self.outputscale <= 0:
            raise ValueError(
                f"GP options need iterations >= 0 and lr, noise, outputscale > 0, got {self}"
            )


class _ExactGP(gpytorch.models.ExactGP):
    def __init__(self, x: Tensor, y: Tensor, lik, covar) -> None:
        super().__init__(x, y, lik)
        self.mean_module = gpytorch.means.ZeroMean(batch_shape=y.shape[:-1])
        self.covar_module = covar

    def forward(self, x: Tensor):
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))


class GPSolver(Solver):
    """`solver=gp`: exact GP regression on the kernel model's kernel (see module docstring).

    The kernel must be one nvk wraps for GPyTorch (every `conf/kernel/` option is).
    """

    state_keys = ("x_train", "y_train")
    stability_hint = "a larger solver.noise, a smaller solver.lr or solver.learn_kernel=false"

    def __init__(self, **options) -> None:
        self.options = GPOptions(**options)
        self.x_train: Tensor | None = None
        self.y_train: Tensor | None = None  # (T, N)
        self.hyper: dict[str, Tensor] = {}
        self._model: _ExactGP | None = None
        self.history: list[float] = []

    def _build(self, kernel) -> _ExactGP:
        from nvk.kernels.gpytorch import from_pure

        assert self.x_train is not None and self.y_train is not None
        T = self.y_train.shape[0]
        batch = torch.Size([T])
        base = from_pure(kernel_formula(kernel), batch_shape=batch)
        covar = gpytorch.kernels.ScaleKernel(base, batch_shape=batch)
        lik = gpytorch.likelihoods.GaussianLikelihood(batch_shape=batch)
        X = self.x_train.expand(T, *self.x_train.shape)
        model = _ExactGP(X, self.y_train, lik, covar).to(self.x_train)
        if self.hyper:
            model.load_state_dict(self.hyper, strict=False)
        else:
            covar.outputscale = self.options.outputscale
            lik.noise = self.options.noise
        return model

    def fit(self, kernel, x, y, info: DataInfo, val=None) -> None:
        o = self.options
        self.x_train = flat64(x)
        Y = encode_targets(y, task=info.task, num_classes=info.num_outputs, encoding=o.targets)
        self.y_train = Y.T.contiguous().to(self.x_train)  # (T, N)
        self.hyper = {}
        model = self._build(kernel)
        params = [p for n, p in model.named_parameters() if o.learn_kernel or "base" not in n]
        if o.iterations:
            model.train()
            cholesky = gpytorch.settings.max_cholesky_size(o.max_cholesky_size)
            mll = gpytorch.mlls.ExactMarginalLogLikelihood(model.likelihood, model)
            opt = torch.optim.Adam(params, lr=o.lr)
            for _ in range(o.iterations):
                opt.zero_grad()
                with cholesky:
                    loss = -mll(model(*model.train_inputs), self.y_train).sum()
                    loss.backward()
                opt.step()
                self.history.append(float(loss))
        self.hyper = {k: v.detach().clone() for k, v in model.state_dict().items()
                      if not k.startswith("train_")}  # fmt: skip
        self._model = model.eval()

    def state_dict(self) -> dict[str, Tensor]:
        out = super().state_dict()
        out.update({f"gp.{k}": v for k, v in self.hyper.items()})
        return out

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        super().load_state_dict(state)
        self.hyper = {k[3:]: v for k, v in state.items() if k.startswith("gp.")}
        self._model = None  # rebuilt on the next predict (it needs the kernel)

    def _posterior(self, kernel, x: Tensor):
        self._require_fitted()
        if self._model is None:
            self._model = self._build(kernel).eval()
        X = flat64(x).to(self.x_train)
        with (
            torch.no_grad(),
            gpytorch.settings.fast_pred_var(False),
            gpytorch.settings.max_cholesky_size(self.options.max_cholesky_size),
        ):
            return self._model.likelihood(self._model(X.expand(self.y_train.shape[0], *X.shape)))

    def predict(self, kernel: Kernel, x: Tensor) -> Tensor:
        return self._posterior(kernel, x).mean.T  # (M, T)

    def predict_var(self, kernel: Kernel, x: Tensor) -> Tensor:
        """Posterior predictive variance (M, T), noise included."""
        return self._posterior(kernel, x).variance.T

    def loss(self, scores, y, info) -> float:
        return squared_loss(scores, y, task=info.task, num_classes=info.num_outputs,
                            encoding=self.options.targets)  # fmt: skip
