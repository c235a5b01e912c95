"""The "Add your own kernel" guide (docs/kernels.md) runs as written: its Python blocks define
a Cauchy kernel, its twin and wrapper, and contract tests collected here."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import torch
import yaml

from nvk.kernels import gpytorch as G

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "kernels.md"


def _blocks(lang: str) -> list[str]:
    text = GUIDE.read_text(encoding="utf-8")
    section = text[text.index("## Add your own kernel") :]
    return re.findall(rf"```{lang}\n(.*?)```", section, flags=re.S)


_ns: dict = {"__name__": "docs_kernels_guide"}
for _code in _blocks("python"):
    exec(compile(_code, str(GUIDE), "exec"), _ns)  # the guide's own code

TestCauchy = _ns["TestCauchy"]  # the guide's contract tests, collected by pytest
TestCauchyKeOps = _ns["TestCauchyKeOps"]


def test_guide_kernel_is_registered_and_correct() -> None:
    cauchy = _ns["cauchy"]
    k = G.from_pure(functools.partial(cauchy, c=0.5))
    assert isinstance(k, _ns["CauchyKernel"])
    k = k.double()
    c = float(k.c)  # 0.5 up to the float32 rounding of its raw parameter
    assert abs(c - 0.5) <= 0.5 * torch.finfo(torch.float32).eps * 4
    x = TestCauchy().create_data(5, 3)
    ref = 1 / (1 + c * ((x[:, None] - x[None]) ** 2).sum(-1))  # independent transcription
    out = k(x).to_dense().detach()
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)


def test_guide_config_binds_the_function_parameters() -> None:
    (block,) = _blocks("yaml")
    cfg = yaml.safe_load(block)
    assert cfg["_partial_"] is True and cfg["_target_"] == "nvk.kernels.cauchy"
    params = {k: v for k, v in cfg.items() if not k.startswith("_")}
    functools.partial(_ns["cauchy"], **params)(TestCauchy().create_data(2, 3))  # binds
