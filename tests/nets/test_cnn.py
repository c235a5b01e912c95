"""The CNN twin (nvk.nets.cnn) and its spec (nvk.arch.ConvSpec)."""

from __future__ import annotations

import math

import pytest
import torch

from nvk.arch import ConvSpec
from nvk.nets import CNN


def _net(seed: int = 0, **kw) -> CNN:
    torch.manual_seed(seed)
    return CNN(ConvSpec(**{"depth": 2, "channels": 16, **kw}), (3, 5, 6), 4).double()


@pytest.mark.parametrize("readout", ["flatten", "gap"])
def test_forward_shapes_and_flattened_rows(readout):
    net = _net(readout=readout)
    x = torch.randn(7, 3, 5, 6, dtype=torch.float64)
    out = net(x)
    assert out.shape == (7, 4)
    torch.testing.assert_close(net(x.flatten(1)), out)
    feats = 16 * (30 if readout == "flatten" else 1)
    assert net.readout.in_features == feats


def test_standard_parameterization_is_the_same_function_at_init():
    x = torch.randn(5, 3, 5, 6, dtype=torch.float64)
    ntk, std = _net(seed=3), _net(seed=3, parameterization="standard")
    torch.testing.assert_close(std(x), ntk(x), rtol=1e-6, atol=1e-6)  # float32 init


def test_ntk_scaling_preserves_second_moment_through_relu_layers():
    """σ_w² = 2 with fan-in 9·C: E[g(p)²] at interior positions = mean patch norm² / (9C)·2."""
    torch.manual_seed(0)
    spec = ConvSpec(depth=1, channels=4096)
    net = CNN(spec, (2, 5, 5), 1).double()
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64)
    g = net.convs[0](x)[0, :, 2, 2]  # (channels,) at the centre position
    expected = 2.0 * float((x[0, :, 1:4, 1:4] ** 2).sum()) / (9 * 2)
    assert float(g.pow(2).mean()) == pytest.approx(expected, rel=4 / math.sqrt(4096))


def test_non_image_input_shape_raises_naming_the_fix():
    with pytest.raises(ValueError, match=r"data\.flatten=false"):
        CNN(ConvSpec(), (64,), 10)


@pytest.mark.parametrize(
    ("field", "value"),
    [("depth", 0), ("channels", 0), ("sigma_w", -1.0), ("readout", "max"),
     ("parameterization", "mup")],
)  # fmt: skip
def test_conv_spec_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        ConvSpec(**{field: value})
