"""Elementwise activations with closed-form Gaussian moments.

For a channel with (u, v) ~ N(0, [[q1, c], [c, q2]]) (u at x1, v at x2, or two positions of
one input), ρ = c/√(q1 q2), θ = arccos ρ, an activation φ maps the state by

    Σ' = E[φ(u) φ(v)],     Θ' = E[φ'(u) φ'(v)] ⊙ Θ       (Jacot et al. 2018; Lee et al. 2018)

and the self covariances by the same first map. (u, v) must be Gaussian: the state of a
Dense/Conv output, or linear maps and sums of such (`KernelState.gaussian`); an activation on
raw inputs or on another activation's output raises ValueError. Closed forms (J₀(ρ) = π − θ and
J₁(ρ) = √(1 − ρ²) + (π − θ) ρ are the arc-cosine kernels of degree 0 and 1, Cho & Saul 2009,
`nvk.kernels._checks.arccos0/arccos1`):

    ReLU            E[φφ] = √(q1 q2) J₁(ρ)/2π                       E[φ'φ'] = J₀(ρ)/2π
    LeakyReLU(α)    E[φφ] = √(q1 q2) [(1+α²) J₁(ρ) − 2α J₁(−ρ)]/2π
                    E[φ'φ'] = [(1+α²) J₀(ρ) + 2α J₀(−ρ)]/2π
                    (φ = relu(u) − α relu(−u); J₁(−ρ), J₀(−ρ) = θ are the cross moments)
    Abs             LeakyReLU with α = −1: E[φφ] = √(q1q2)(2/π)(√(1−ρ²) + ρ arcsin ρ),
                    E[φ'φ'] = E[sign u sign v] = (2/π) arcsin ρ
    Erf(a)          φ = erf(a u) (Williams 1997):
                    E[φφ] = (2/π) arcsin(2a²c / √((1 + 2a²q1)(1 + 2a²q2)))
                    E[φ'φ'] = (4a²/π) / √((1 + 2a²q1)(1 + 2a²q2) − 4a⁴c²)
    Sign            E[φφ] = (2/π) arcsin ρ = 2J₀(ρ)/π − 1          E[φ'φ'] = 0
    Step            φ = 1[u > 0]: E[φφ] = J₀(ρ)/2π                   E[φ'φ'] = 0

Sign and Step have derivative 0 almost everywhere: the finite twin's gradients do not pass
them (autograd gives 0), so the layers before them do not train and Θ' = 0 (their Dirac
derivative kernel is not used). Degenerate channels (q = 0: u = 0 exactly, e.g. a zero input
row or a zero-padded patch) take the finite network's values at 0: φ(0) = 0 for all of these
activations, and φ'(0) is the slope autograd uses (ReLU 0, LeakyReLU α, Abs 0), so
E[φ'(u)φ'(v)] = φ'(0) E[φ'(v)] when q1 = 0 (`nvk.kernels.fc`'s zero-row convention for ReLU).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from nvk.kernels._checks import TWO_PI, arccos0, arccos1
from nvk.layers.base import (
    FnModule,
    Layer,
    Shapes,
    State,
    check_float,
    single_state,
)
from nvk.layers.state import correlation


class Activation(Layer):
    """Base class: subclasses give the finite function `fn` and the closed forms `moments`."""

    name = "activation"

    def fn(self, x: Tensor) -> Tensor:
        """The elementwise function φ of the finite network."""
        raise NotImplementedError

    def moments(
        self, c: Tensor, q1: Tensor, q2: Tensor, deriv: bool
    ) -> tuple[Tensor, Tensor | None]:
        """(E[φ(u)φ(v)], E[φ'(u)φ'(v)] or None) for covariances c and variances q1, q2
        (broadcastable; module docstring)."""
        raise NotImplementedError

    def out_shape(self, in_shape: Shapes) -> Shapes:
        return in_shape

    def build(self, in_shape: Shapes):
        """A `FnModule` applying φ."""
        return FnModule(self.fn, repr(self)), in_shape

    def kernel(self, state: State) -> State:
        """Σ' = E[φφ], Θ' = E[φ'φ'] ⊙ Θ on the cross pairs; E[φφ] on the self covariances."""
        s = single_state(state, self)
        if not s.gaussian:
            raise ValueError(
                f"{self!r} needs Gaussian pre-activations (the output of a Dense or Conv, or of "
                "pooling and sums of such) but got raw inputs, the output of a nonlinearity or "
                "of Flatten (features with position-dependent variances); put a Dense/Conv "
                "before it (in a residual block, keep the skip "
                "branch on pre-activations: serial(FanOut(2), parallel(serial(ReLU(), Conv, "
                "ReLU(), Conv), Identity()), FanInSum()))"
            )
        k, kdot = self.moments(s.nngp, *s.cross_vars(), deriv=s.ntk is not None)
        cov1 = self.moments(s.cov1, *s.self_vars(s.cov1), deriv=False)[0]
        cov2 = cov1 if s.same else self.moments(s.cov2, *s.self_vars(s.cov2), deriv=False)[0]
        ntk = None if s.ntk is None else kdot * s.ntk
        return s.replace(nngp=k, ntk=ntk, cov1=cov1, cov2=cov2, fresh=False, gaussian=False)


class _PiecewiseLinear(Activation):
    """φ(u) = relu(u) − α relu(−u) (slope 1 for u > 0, α for u < 0), φ'(0) = `slope0`."""

    alpha: float = 0.0
    slope0: float = 0.0

    def moments(self, c, q1, q2, deriv):
        a = self.alpha
        rho = correlation(c, q1, q2)  # a fresh tensor of the broadcast shape
        own = not (torch.is_grad_enabled() and rho.requires_grad)
        if own:  # one arccos, in place on our own temporaries (as nvk.kernels.fc does)
            j0 = torch.arccos(-rho)  # J₀(ρ) = π − θ = arccos(−ρ)
            j1 = torch.sin(j0).addcmul_(j0, rho)  # J₁(ρ) = sin θ + (π − θ) ρ
        else:  # the helpers' custom gradients stay finite at |ρ| = 1
            j0, j1 = arccos0(rho), arccos1(rho)
        if a != 0.0:  # the cross moments J₁(−ρ) = J₁(ρ) − πρ, J₀(−ρ) = π − J₀(ρ)
            j1 = (1 + a * a) * j1 - 2 * a * (j1 - math.pi * rho)
            j0 = (1 + a * a) * j0 + 2 * a * (math.pi - j0)
        sq1, sq2 = q1.sqrt() / TWO_PI, q2.sqrt()
        k = j1.mul_(sq1).mul_(sq2) if own else j1 * sq1 * sq2
        if not deriv:
            return k, None
        kdot = j0.div_(TWO_PI) if own else j0 / TWO_PI
        pos1, pos2 = q1 > 0, q2 > 0
        # degenerate (a zero variance): independent slopes; compiled code takes the branch
        # always (the same values where no variance is 0, and no data-dependent graph break)
        if torch.compiler.is_compiling() or not (bool(pos1.all()) and bool(pos2.all())):
            mean = (1 + a) / 2  # E[φ'(u)] for q > 0
            m1 = torch.full_like(q1, self.slope0).masked_fill(pos1, mean)
            m2 = torch.full_like(q2, self.slope0).masked_fill(pos2, mean)
            kdot = torch.where(pos1 & pos2, kdot, m1 * m2)
        return k, kdot


class ReLU(_PiecewiseLinear):
    """φ(u) = max(u, 0); the arc-cosine kernels of degree 1 and 0 (Cho & Saul 2009):
    E[φφ] = √(q1q2) J₁(ρ)/2π, E[φ'φ'] = J₀(ρ)/2π (the recursion of `nvk.kernels.fc`)."""

    def fn(self, x: Tensor) -> Tensor:
        return torch.relu(x)

    def __repr__(self) -> str:
        return "ReLU()"


class LeakyReLU(_PiecewiseLinear):
    """φ(u) = u for u > 0, α u otherwise (any real α; α = 0 is ReLU, α = −1 is Abs).

    E[φφ] = √(q1q2)[(1+α²)J₁(ρ) − 2αJ₁(−ρ)]/2π, E[φ'φ'] = [(1+α²)J₀(ρ) + 2αJ₀(−ρ)]/2π
    (module docstring; Cho & Saul 2009 arc-cosine kernels on the two half-lines)."""

    def __init__(self, alpha: float = 0.01) -> None:
        try:
            alpha = float(alpha)
        except (TypeError, ValueError):
            alpha = math.nan
        if not math.isfinite(alpha):
            raise ValueError(f"LeakyReLU: alpha must be a finite number, got {alpha!r}")
        self.alpha = alpha
        self.slope0 = alpha  # torch's leaky_relu takes the negative slope at 0

    def fn(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.alpha)

    def __repr__(self) -> str:
        return f"LeakyReLU(alpha={self.alpha!r})"


class Abs(_PiecewiseLinear):
    """φ(u) = |u| (LeakyReLU with α = −1, φ'(0) = 0):
    E[φφ] = √(q1q2)(2/π)(√(1−ρ²) + ρ arcsin ρ), E[φ'φ'] = (2/π) arcsin ρ."""

    alpha = -1.0

    def fn(self, x: Tensor) -> Tensor:
        return torch.abs(x)

    def __repr__(self) -> str:
        return "Abs()"


class Erf(Activation):
    """φ(u) = erf(a u), a > 0 (Williams 1997):
    E[φφ] = (2/π) arcsin(2a²c/√((1+2a²q1)(1+2a²q2))),
    E[φ'φ'] = (4a²/π)/√((1+2a²q1)(1+2a²q2) − 4a⁴c²)."""

    def __init__(self, a: float = 1.0) -> None:
        self.a = check_float(a, "a", "Erf", positive=True)

    def fn(self, x: Tensor) -> Tensor:
        return torch.erf(self.a * x)

    def moments(self, c, q1, q2, deriv):
        t = 2 * self.a**2
        d1, d2 = 1 + t * q1, 1 + t * q2
        k = (2 / math.pi) * torch.asin((t * c / (d1 * d2).sqrt()).clamp(-1.0, 1.0))
        if not deriv:
            return k, None
        det = (d1 * d2 - (t * c) ** 2).clamp_min(1.0)  # ≥ 1 + t(q1 + q2) ≥ 1 exactly
        return k, (2 * t / math.pi) / det.sqrt()

    def __repr__(self) -> str:
        return f"Erf(a={self.a!r})"


class Sign(Activation):
    """φ(u) = sign(u): E[φφ] = (2/π) arcsin ρ = 2J₀(ρ)/π − 1 (0 where a variance is 0);
    E[φ'φ'] = 0 (derivative 0 almost everywhere, as autograd has it)."""

    def fn(self, x: Tensor) -> Tensor:
        return torch.sign(x)

    def moments(self, c, q1, q2, deriv):
        k = (2 / math.pi * arccos0(correlation(c, q1, q2)) - 1) * ((q1 > 0) & (q2 > 0))
        return k, (torch.zeros_like(k) if deriv else None)

    def __repr__(self) -> str:
        return "Sign()"


class Step(Activation):
    """φ(u) = 1[u > 0] (the degree-0 arc-cosine kernel, Cho & Saul 2009): E[φφ] = J₀(ρ)/2π
    (0 where a variance is 0); E[φ'φ'] = 0 (derivative 0 almost everywhere)."""

    def fn(self, x: Tensor) -> Tensor:
        return torch.sign(x).clamp_min(0)  # 1[x > 0], differentiable with gradient 0

    def moments(self, c, q1, q2, deriv):
        k = arccos0(correlation(c, q1, q2)) / TWO_PI * ((q1 > 0) & (q2 > 0))
        return k, (torch.zeros_like(k) if deriv else None)

    def __repr__(self) -> str:
        return "Step()"


ACTIVATIONS: dict[str, type[Activation]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "abs": Abs,
    "erf": Erf,
    "sign": Sign,
    "step": Step,
}
"""The shipped activations by the names configs use (`arch.activation=erf`), with their
default parameters (LeakyReLU α = 0.01, Erf a = 1); pass an instance for other values."""


def as_activation(activation: str | Activation) -> Activation:
    """An `Activation` from a name of `ACTIVATIONS` (case-insensitive) or an instance (returned
    as is, e.g. `LeakyReLU(0.2)`); anything else raises ValueError listing the names."""
    if isinstance(activation, Activation):
        return activation
    cls = ACTIVATIONS.get(activation.lower()) if isinstance(activation, str) else None
    if cls is None:
        raise ValueError(
            f"unknown activation {activation!r}; valid names: {', '.join(ACTIVATIONS)} "
            "(or an nvk.layers.Activation instance)"
        )
    return cls()
