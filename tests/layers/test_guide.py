"""The layers guide (docs/layers.md) runs as written: all its Python blocks, in order, in one
namespace, including "## Add your own activation", which defines a Sin activation as one
subclass of `nvk.layers.Activation` and checks it the way tests/layers checks the built-in ones
(closed forms vs Monte Carlo moments, analytic vs wide-twin NTK and NNGP).

The guide asserts its own checks; the tests here assert them again (so loosening the guide's
asserts cannot silence them), compare the class with an independent transcription of the
formulas, and show that the guide's checks fail for wrong formulas.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

import nvk.layers
from nvk.layers import Activation

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "layers.md"
SECTION = "## Add your own activation"


def _blocks(section_only: bool = False) -> list[str]:
    """The guide's Python blocks, each prefixed by blank lines so that tracebacks give the
    line numbers of docs/layers.md."""
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index(SECTION) if section_only else 0
    return [
        "\n" * text.count("\n", 0, m.start(1)) + m.group(1)
        for m in re.finditer(r"```python\n(.*?)```", text, flags=re.S)
        if m.start() >= start
    ]


@pytest.fixture(scope="module")
def guide() -> dict:
    """The namespace after running every Python block of the guide (its asserts included)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # the module fixture runs before the per-test one-thread fixture
    try:
        ns: dict = {"__name__": "docs_layers_guide"}
        for code in _blocks():
            exec(compile(code, str(GUIDE), "exec"), ns)  # the guide's own code
        return ns
    finally:
        torch.set_num_threads(n)


def _class_block() -> str:
    (block,) = [b for b in _blocks(section_only=True) if re.search(r"^class ", b, flags=re.M)]
    return block


def test_the_activation_is_one_subclass_in_one_block(guide):
    blocks = _blocks()
    assert sum(len(re.findall(r"^class ", b, flags=re.M)) for b in blocks) == 1
    assert len(re.findall(r"^class (\w+)\(Activation\):", _class_block(), flags=re.M)) == 1
    Sin = guide["Sin"]
    assert issubclass(Sin, Activation) and Sin.__module__ == "docs_layers_guide"
    assert not hasattr(nvk.layers, "Sin")  # nvk does not ship it: the guide defines it all


def test_moments_equal_an_independent_transcription(guide):
    """E[φφ] = e^{−a²(q1+q2)/2} sinh(a²c), E[φ'φ'] = a² e^{−a²(q1+q2)/2} cosh(a²c)."""
    g = torch.Generator().manual_seed(0)
    q1 = 3 * torch.rand(200, generator=g, dtype=torch.float64)
    q2 = 3 * torch.rand(200, generator=g, dtype=torch.float64)
    rho = 2 * torch.rand(200, generator=g, dtype=torch.float64) - 1
    rho[:3] = torch.tensor([1.0, -1.0, 0.0], dtype=torch.float64)
    c = rho * (q1 * q2).sqrt()
    for a in (1.0, 0.7, 2.5):
        k, kdot = guide["Sin"](a).moments(c, q1, q2, deriv=True)
        damp = torch.exp(-(a**2) * (q1 + q2) / 2)
        torch.testing.assert_close(k, damp * torch.sinh(a**2 * c), rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(kdot, a**2 * damp * torch.cosh(a**2 * c), rtol=1e-12, atol=0)
        assert guide["Sin"](a).moments(c, q1, q2, deriv=False)[1] is None


def test_degenerate_channel_takes_the_finite_values_at_zero(guide):
    """q1 = 0 (u = 0 exactly): E[sin(0) φ(v)] = 0, E[φ'(0)φ'(v)] = a · a e^{−a² q2/2}."""
    t = lambda v: torch.tensor([v], dtype=torch.float64)  # noqa: E731
    for a, q2 in ((1.0, 1.3), (0.7, 0.0)):
        k, kdot = guide["Sin"](a).moments(t(0.0), t(0.0), t(q2), deriv=True)
        assert float(k) == 0.0
        assert float(kdot) == pytest.approx(a * a * math.exp(-a * a * q2 / 2), rel=1e-14)


def test_the_guide_checks_pass(guide):
    assert len(guide["moment_errors"]) == 10
    assert max(max(e) for e in guide["moment_errors"].values()) < 2e-2
    assert guide["ntk_error"] < 0.1 and guide["nngp_error"] < 0.1


@pytest.mark.parametrize(
    ("right", "wrong"),
    [
        ("(minus - plus) / 2,", "(minus + plus) / 2,"),  # cos's E[φφ]
        ("a2 / 2 * (minus + plus)", "a2 / 2 * (minus - plus)"),  # sinh in E[φ'φ']
        ("-a2 / 2 * (q1 + q2 - 2 * c)", "-a2 / 2 * (q1 + q2 - c)"),  # a wrong variance
    ],
    ids=["sum_for_difference", "sinh_for_cosh", "variance"],
)
def test_the_guide_checks_catch_a_wrong_formula(guide, right, wrong):
    """The guide's class block with one formula broken fails the guide's moment check."""
    block = _class_block()
    assert block.count(right) == 1
    ns = {"__name__": "broken_guide", "torch": torch}
    exec(compile(block.replace(right, wrong), str(GUIDE), "exec"), ns)
    act = ns["Sin"]()
    mc, closed = guide["mc_moments"], guide["closed_moments"]
    worst = 0.0
    for q1, q2, rho in guide["CASES"]:
        k, kdot = closed(act, q1, q2, rho)
        mk, mkdot = mc(act, q1, q2, rho)
        (s1, d1), (s2, d2) = mc(act, q1, q1, 1.0), mc(act, q2, q2, 1.0)
        err = max(abs(k - mk) / math.sqrt(s1 * s2), abs(kdot - mkdot) / math.sqrt(d1 * d2))
        worst = max(worst, err)
    assert worst > 0.1  # far above the 2e-2 tolerance
