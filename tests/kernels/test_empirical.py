"""Empirical NTK/NNGP: the fast MLP path, the generic torch.func contraction and brute force."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nvk.arch import ArchSpec
from nvk.kernels import empirical_nngp, empirical_ntk, monte_carlo_kernel
from nvk.nets import MLP
from tests.kernels.conftest import randn


def brute_force_ntk(net: nn.Module, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """(N, M, O, O) from explicit per-example gradients (one backward per output)."""
    params = [p for p in net.parameters() if p.requires_grad]

    def jac(inp: torch.Tensor) -> torch.Tensor:  # (B, O, P)
        rows = []
        for xi in inp:
            out = net(xi.unsqueeze(0)).squeeze(0)
            grads = [torch.autograd.grad(o, params, retain_graph=True) for o in out]
            rows.append(torch.stack([torch.cat([g.reshape(-1) for g in gs]) for gs in grads]))
        return torch.stack(rows)

    jx, jz = jac(x), jac(z)
    return torch.einsum("iop,jqp->ijoq", jx, jz)


class Conv(nn.Module):
    """A non-MLP network (exercises the generic path)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 3, 2)
        self.fc = nn.Linear(3 * 4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.tanh(self.conv(x.unsqueeze(1))).flatten(1))


@pytest.mark.parametrize(
    "arch",
    [
        ArchSpec(depth=3, width=8, bias=0.5, bias_init="gaussian"),
        ArchSpec(depth=2, width=8, bias=0.0),
        ArchSpec(depth=3, width=8, bias=0.3, parameterization="standard"),
    ],
)
@pytest.mark.parametrize("n_out", [1, 3])
def test_fast_and_generic_paths_equal_brute_force(arch: ArchSpec, n_out: int) -> None:
    torch.manual_seed(0)
    net = MLP(arch, 5, n_out).double()
    x, z = randn(4, 5, seed=1), randn(3, 5, seed=2)
    ref = brute_force_ntk(net, x, z)
    for fast_off in (False, True):
        full = empirical_ntk(net, x, z, reduce="full", fast_path_off=fast_off)
        torch.testing.assert_close(full, ref)
        trace = empirical_ntk(net, x, z, fast_path_off=fast_off)
        torch.testing.assert_close(trace, ref.diagonal(dim1=2, dim2=3).mean(-1))


def test_generic_path_memory_bound_and_non_mlp() -> None:
    torch.manual_seed(0)
    net = Conv().double()
    x, z = randn(5, 5, seed=3), randn(4, 5, seed=4)
    ref = brute_force_ntk(net, x, z)
    for max_memory in (1.0, 2**30):  # one row at a time / everything at once
        got = empirical_ntk(net, x, z, reduce="full", max_memory=max_memory)
        torch.testing.assert_close(got, ref)


def test_frozen_parameters_and_symmetry() -> None:
    torch.manual_seed(0)
    net = MLP(ArchSpec(depth=3, width=6, bias=0.2), 4, 1).double()
    x = randn(5, 4, seed=5)
    readout = ["layers.2.weight", "layers.2.bias"]
    k = empirical_ntk(net, x, trainable=readout)
    torch.testing.assert_close(k, k.T)
    for name, p in net.named_parameters():
        p.requires_grad_(name in readout)
    torch.testing.assert_close(k, brute_force_ntk(net, x, x)[..., 0, 0])


def test_empirical_nngp_is_output_covariance() -> None:
    """Rao-Blackwellized NNGP = E over the readout of f(x) f(z) (Monte Carlo over readouts)."""
    arch = ArchSpec(depth=3, width=32, bias=0.5, bias_init="gaussian")
    torch.manual_seed(0)
    net = MLP(arch, 4, 1).double()
    x = randn(6, 4, seed=6)
    k = empirical_nngp(net, x)
    wide = MLP(arch, 4, 20000).double()  # same hidden layers, many independent readouts
    with torch.no_grad():
        for a, b in zip(wide.layers[:-1], net.layers[:-1]):
            a.weight.copy_(b.weight)
            a.bias.copy_(b.bias)
    generic = empirical_nngp(nn.Sequential(wide), x)  # not an MLP: sample covariance
    assert float((generic - k).norm() / k.norm()) < 12 / 20000**0.5  # a few standard errors


def test_monte_carlo_restores_rng_and_validates() -> None:
    x = randn(3, 2)
    state = torch.random.get_rng_state()
    monte_carlo_kernel(ArchSpec(depth=2, width=4), x, seeds=[0, 1])
    assert torch.equal(state, torch.random.get_rng_state())
    with pytest.raises(ValueError, match="kind"):
        monte_carlo_kernel(ArchSpec(depth=2, width=4), x, kind="cntk")
    with pytest.raises(ValueError, match="non-finite"):
        empirical_ntk(MLP(ArchSpec(depth=2, width=4), 2, 1), torch.full((2, 2), float("nan")))
