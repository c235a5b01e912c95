import math

import pytest

from nvk.arch import ArchSpec


def test_defaults_are_valid_and_describe_relu_he_scale():
    a = ArchSpec()
    assert a.depth >= 1 and a.width >= 1
    assert a.sigma_w == pytest.approx(math.sqrt(2.0))
    assert a.hidden_layers == a.depth - 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("depth", 0),
        ("depth", -3),
        ("depth", 2.5),
        ("width", 0),
        ("bias", -0.1),
        ("bias", float("nan")),
        ("bias_init", "uniform"),
        ("sigma_w", 0.0),
        ("parameterization", "mup"),
    ],
)
def test_invalid_values_raise_value_error_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        ArchSpec(**{field: value})


def test_gaussian_bias_seen_by_nngp_only_for_gaussian_init():
    assert ArchSpec(bias=0.5, bias_init="zero").gaussian_bias == 0.0
    assert ArchSpec(bias=0.5, bias_init="gaussian").gaussian_bias == 0.5
