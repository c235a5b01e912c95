"""Empirical (finite-width) NTK and NNGP of any nvk network, and their Monte Carlo averages.

    Θ̂(x, z)_{o o'} = Σ_p ∂f_o(x)/∂p · ∂f_{o'}(z)/∂p      (Jacot et al. 2018)

computed without materializing the full Jacobian of x2 (the "NTK-vector product" of
`torch.func`): for a chunk of x1 rows the per-example Jacobian rows J₁ (k rows × P) come from
vmapped reverse mode (`jacrev`), and J₂ J₁ᵀ from vmapped forward mode (`jvp`) on x2, so memory
is bounded by `max_memory` bytes of Jacobian rows whatever N, M and P are.

Shapes: x1 (N, …), x2 (M, …) (any input shape the network takes) → (N, M) (mean of the
diagonal output blocks Θ̂_oo, `reduce="trace"`) or (N, M, O, O) (`reduce="full"`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn
from torch.func import functional_call, jacrev, jvp, vmap

from nvk.arch import ArchSpec


def _check_inputs(x1: Tensor, x2: Tensor | None, name: str) -> Tensor:
    x2 = x1 if x2 is None else x2
    for label, x in (("x1", x1), ("x2", x2)):
        if not torch.isfinite(x).all():
            raise ValueError(f"{name}: {label} holds non-finite value(s) (NaN/inf)")
    if x1.shape[1:] != x2.shape[1:]:
        raise ValueError(
            f"{name}: input shapes differ: x1 rows {tuple(x1.shape[1:])}, "
            f"x2 rows {tuple(x2.shape[1:])}"
        )
    return x2


def empirical_ntk(
    net: nn.Module,
    x1: Tensor,
    x2: Tensor | None = None,
    *,
    reduce: str = "trace",
    max_memory: float = 2**30,
    trainable: Iterable[str] | None = None,
    fast_path_off: bool = False,
) -> Tensor:
    """Empirical NTK of `net` at its current parameters.

    Args:
        net: any module mapping (B, …) → (B, O).
        x1, x2: inputs (N, …) and (M, …); x2=None means x1.
        reduce: "trace" → (N, M), the mean over outputs of Θ̂_oo; "full" → (N, M, O, O).
        max_memory: bytes of Jacobian rows held at once (sets the chunk of x1 rows).
        trainable: parameter names to differentiate (default: all with requires_grad);
            leaving out the first layers gives the "frozen layers" NTK.
        fast_path_off: always use the generic `torch.func` contraction. By default an nvk
            `MLP` with all parameters trained uses the exact layer-wise identity
            Θ̂ = Σ_ℓ (w_ℓ² aˡ⁻¹(x)·aˡ⁻¹(z) + b_ℓ²) δˡ(x)·δˡ(z) (activations a, backward
            signals δ = ∂f/∂gˡ, scales w_ℓ, b_ℓ of `NTKLinear`), which costs a forward and
            O backward passes instead of O(N·O) Jacobian-vector products.
    """
    if reduce not in ("trace", "full"):
        raise ValueError(f"empirical_ntk: reduce must be 'trace' or 'full', got {reduce!r}")
    x2 = _check_inputs(x1, x2, "empirical_ntk")
    names = (
        set(trainable)
        if trainable is not None
        else {k for k, v in net.named_parameters() if v.requires_grad}
    )
    params = {k: v.detach() for k, v in net.named_parameters() if k in names}
    frozen = {k: v.detach() for k, v in net.named_parameters() if k not in names}
    buffers = dict(net.named_buffers())
    if not params:
        raise ValueError("empirical_ntk: no trainable parameters")
    if _is_nvk_mlp(net) and len(frozen) == 0 and not fast_path_off:
        return _mlp_ntk(net, x1, x2, reduce)

    def f(p: dict[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(net, ({**p, **frozen}, buffers), (x,))

    def f_one(p: dict[str, Tensor], x: Tensor) -> Tensor:  # (…) -> (O,)
        return f(p, x.unsqueeze(0)).squeeze(0)

    with torch.no_grad():
        n_out = f(params, x1[:1]).shape[-1]
    n_params = sum(v.numel() for v in params.values())
    itemsize = next(iter(params.values())).element_size()
    # Jacobian rows of the chunk (b·O·P) + the tangents' forward activations, ~3× the rows
    rows = max(1, int(max_memory // (3 * n_params * itemsize)))
    chunk = max(1, rows // n_out)
    N, M = len(x1), len(x2)
    out = x1.new_zeros((N, M) if reduce == "trace" else (N, M, n_out, n_out))
    jac_fn = vmap(jacrev(f_one), in_dims=(None, 0))

    def push(t: dict[str, Tensor]) -> Tensor:  # J₂ t: (M, O)
        return jvp(lambda p: f(p, x2), (params,), (t,))[1]

    push_many = vmap(push)
    for i0 in range(0, N, chunk):
        xa = x1[i0 : i0 + chunk]
        b = len(xa)
        jac = jac_fn(params, xa)  # {name: (b, O, *shape)}
        tang = {k: v.reshape(b * n_out, *v.shape[2:]) for k, v in jac.items()}
        prod = push_many(tang).reshape(b, n_out, M, n_out)  # [i, o, m, o']
        if reduce == "trace":
            out[i0 : i0 + b] = prod.diagonal(dim1=1, dim2=3).mean(-1)
        else:
            out[i0 : i0 + b] = prod.permute(0, 2, 1, 3)
        del jac, tang, prod
    return out


def _is_nvk_mlp(net: nn.Module) -> bool:
    from nvk.nets.mlp import MLP

    return type(net) is MLP


def _mlp_ntk(net: nn.Module, x1: Tensor, x2: Tensor, reduce: str) -> Tensor:
    """Exact empirical NTK of an nvk `MLP` from activations and backward signals."""
    layers = list(net.layers)

    def signals(x: Tensor) -> tuple[list[Tensor], list[Tensor], Tensor]:
        acts, pre = [], []
        h = x.flatten(1).detach()
        with torch.enable_grad():
            for i, layer in enumerate(layers):
                acts.append(h)
                g = layer(h)
                g.retain_grad() if g.requires_grad else None
                pre.append(g)
                h = torch.relu(g) if i < len(layers) - 1 else g
        return acts, pre, h

    def deltas(pre: list[Tensor], out: Tensor, o: int) -> list[Tensor]:
        return list(torch.autograd.grad(out[:, o].sum(), pre, retain_graph=True))

    a1, g1, out1 = signals(x1)
    a2, g2, out2 = (a1, g1, out1) if x2 is x1 else signals(x2)
    n_out = out1.shape[-1]
    scales = [
        (layer.weight_scale**2, layer.bias_scale**2 if layer.bias is not None else 0.0)
        for layer in layers
    ]
    inner = [ws * (u @ v.T) + bs for (ws, bs), u, v in zip(scales, a1, a2)]  # (N, M) each
    d1 = [deltas(g1, out1, o) for o in range(n_out)]
    d2 = d1 if x2 is x1 else [deltas(g2, out2, o) for o in range(n_out)]
    with torch.no_grad():
        if reduce == "trace":
            tot = sum(
                ip * (d1[o][ell] @ d2[o][ell].T)
                for o in range(n_out)
                for ell, ip in enumerate(inner)
            )
            return tot / n_out
        full = x1.new_zeros(len(x1), len(x2), n_out, n_out)
        for o in range(n_out):
            for q in range(n_out):
                full[:, :, o, q] = sum(
                    ip * (d1[o][ell] @ d2[q][ell].T) for ell, ip in enumerate(inner)
                )
        return full


def empirical_nngp(net: nn.Module, x1: Tensor, x2: Tensor | None = None) -> Tensor:
    """Covariance of the outputs at initialization given the hidden features, (N, M).

    For an nvk `MLP` (NTK parameterization) the expectation over the readout weights and bias
    is exact: ‖·‖ = φ(x)·φ(z)/n + β_g² with φ the last hidden layer (Rao-Blackwellized). For
    any other network it is the sample mean over output units of f_o(x) f_o(z) (zero mean).
    """
    x2 = _check_inputs(x1, x2, "empirical_nngp")
    arch = getattr(net, "arch", None)
    layers = getattr(net, "layers", None)
    with torch.no_grad():
        if isinstance(arch, ArchSpec) and arch.parameterization == "ntk" and layers is not None:
            readout = layers[-1]

            def feats(x: Tensor) -> Tensor:
                h = x.flatten(1)
                for layer in layers[:-1]:
                    h = torch.relu(layer(h))
                return h

            h1, h2 = feats(x1), feats(x2)
            return readout.weight_scale**2 * (h1 @ h2.T) + arch.gaussian_bias**2
        o1, o2 = net(x1), net(x2)
        return (o1 @ o2.T) / o1.shape[-1]


def monte_carlo_kernel(
    net: ArchSpec | Callable[[int], nn.Module],
    x1: Tensor,
    x2: Tensor | None = None,
    *,
    seeds: Iterable[int] = range(4),
    kind: str = "ntk",
    dtype: torch.dtype = torch.float64,
    **kwargs,
) -> Tensor:
    """Mean of `empirical_ntk` (kind="ntk") or `empirical_nngp` (kind="nngp") over seeds.

    `net` is an `ArchSpec` (a scalar-output `nvk.nets.MLP` is built per seed) or a factory
    seed → module. The global RNG state is restored afterwards. Returns (N, M).
    """
    from nvk.nets.mlp import MLP

    if kind not in ("ntk", "nngp"):
        raise ValueError(f"monte_carlo_kernel: kind must be 'ntk' or 'nngp', got {kind!r}")
    x2 = x1 if x2 is None else x2
    seeds = list(seeds)
    if not seeds:
        raise ValueError("monte_carlo_kernel: seeds is empty")
    total = None
    for seed in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if isinstance(net, ArchSpec):
                model = MLP(net, x1[0].numel(), 1)
            else:
                model = net(seed)
        model = model.to(device=x1.device, dtype=dtype)
        a, b = x1.to(dtype), x2.to(dtype)
        k = empirical_ntk(model, a, b, **kwargs) if kind == "ntk" else empirical_nngp(model, a, b)
        total = k if total is None else total + k
        del model
    return total / len(seeds)
