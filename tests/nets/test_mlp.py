"""The MLP implements exactly the forward pass documented in nvk.arch."""

import math

import pytest
import torch

from nvk.arch import ArchSpec
from nvk.nets import MLP


def _manual_forward(net: MLP, x: torch.Tensor, arch: ArchSpec) -> torch.Tensor:
    """g¹ = σ W¹x/√d + βb¹, gʰ = σ Wʰφ(gʰ⁻¹)/√n + βbʰ, f = wφ(g^{L−1})/√n + βb^L."""
    h = x.flatten(1)
    for i, layer in enumerate(net.layers):
        sigma = 1.0 if i == arch.depth - 1 else arch.sigma_w
        z = sigma * h @ layer.weight.T / math.sqrt(h.shape[1])
        if layer.bias is not None:
            z = z + arch.bias * layer.bias
        h = z if i == arch.depth - 1 else torch.relu(z)
    return h


@pytest.mark.parametrize("depth", [1, 2, 4])
@pytest.mark.parametrize(("bias", "bias_init"), [(0.0, "zero"), (0.5, "zero"), (0.5, "gaussian")])
def test_forward_matches_the_documented_formula(depth, bias, bias_init):
    torch.manual_seed(0)
    arch = ArchSpec(depth=depth, width=32, bias=bias, bias_init=bias_init)
    net = MLP(arch, in_features=12, out_features=3)
    if bias_init == "zero" and bias > 0:  # make biases non-zero so they are exercised
        with torch.no_grad():
            for layer in net.layers:
                layer.bias.normal_()
    x = torch.randn(5, 3, 4)  # non-flat input is flattened
    torch.testing.assert_close(net(x), _manual_forward(net, x, arch))


def test_weights_are_standard_normal_and_zero_init_biases_are_zero():
    torch.manual_seed(0)
    net = MLP(ArchSpec(depth=3, width=512, bias=1.0), in_features=256, out_features=512)
    w = net.layers[1].weight
    assert abs(w.mean().item()) < 0.01 and abs(w.std().item() - 1) < 0.01
    assert all(torch.all(layer.bias == 0) for layer in net.layers)


def test_hidden_preactivation_variance_is_preserved_by_sigma_w_sqrt2():
    """With σ_w² = 2 and ReLU, E[(gʰ)²] = 2‖x‖²/d at every layer (He scaling)."""
    torch.manual_seed(0)
    d, width = 16, 8192
    net = MLP(ArchSpec(depth=4, width=width), in_features=d, out_features=1)
    x = torch.randn(1, d)
    expected = 2 * x.pow(2).sum().item() / d
    h = x
    for layer in net.layers[:-1]:
        g = layer(h)
        assert g.pow(2).mean().item() == pytest.approx(expected, rel=0.06)
        h = torch.relu(g)


def test_standard_parameterization_is_the_same_function_at_init():
    x = torch.randn(7, 10)
    outs = []
    for p in ("ntk", "standard"):
        torch.manual_seed(3)
        arch = ArchSpec(depth=3, width=64, bias=0.3, bias_init="gaussian", parameterization=p)
        outs.append(MLP(arch, 10, 2)(x))
    torch.testing.assert_close(outs[0], outs[1])


def test_bad_sizes_raise():
    with pytest.raises(ValueError, match="in_features"):
        MLP(ArchSpec(), in_features=0, out_features=2)
