"""Kernel models: exact kernel regression end to end (train.py model=ntk, evaluate reload)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from nvk.data.base import DataInfo
from nvk.kernels import fc_ntk, gram, laplace
from nvk.models import KernelModule
from nvk.models.kernel import solve_krr
from nvk.run import evaluate_checkpoint, train
from tests.conftest import compose_cfg

MODELS = [
    "ntk",
    "nngp",
    "laplace",
    "gaussian",
    "gamma_exp",
    "h_laplace",
    "h_gaussian",
    "h_gamma_exp",
]


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_fit_interpolates_and_predicts_like_the_closed_form() -> None:
    x, xt = _randn(30, 4, seed=1), _randn(7, 4, seed=2)
    y = _randn(30, 2, seed=3)
    kern = functools.partial(fc_ntk, depth=3, bias=0.2)
    m = KernelModule(DataInfo("toy", (4,), 2, "regression"), kern, tile=8)
    m.fit_data(x, y)
    torch.testing.assert_close(m(x), y)  # ridge 0: interpolation
    ref = fc_ntk(xt, x, depth=3, bias=0.2) @ torch.linalg.solve(fc_ntk(x, depth=3, bias=0.2), y)
    torch.testing.assert_close(m(xt), ref)


def test_classification_uses_one_hot_targets_and_ridge() -> None:
    x, y = _randn(20, 3, seed=4), torch.arange(20) % 3
    m = KernelModule(DataInfo("toy", (3,), 3, "classification"), laplace, ridge=0.5)
    m.fit_data(x, y)
    K = laplace(x)
    alpha = torch.linalg.solve(K + 0.5 * torch.eye(20, dtype=K.dtype), torch.eye(3)[y].double())
    torch.testing.assert_close(m.alpha, alpha)


def test_solver_jitter_for_singular_gram() -> None:
    x = _randn(5, 2, seed=5)
    x = torch.cat([x, x])  # duplicate rows: K singular
    K = gram(laplace, x)
    y = torch.cat([_randn(5, 1, seed=6)] * 2)
    alpha, eps = solve_krr(K, y)
    assert eps > 0 and torch.isfinite(alpha).all()
    with pytest.raises(ValueError, match="ridge"):
        solve_krr(K, y, ridge=-1.0)


@pytest.mark.parametrize("name", MODELS)
def test_every_kernel_model_config_composes_and_builds(name: str, tmp_path: Path) -> None:
    from nvk.run import build

    cfg = compose_cfg("train", [f"model={name}"], tmp_path, hydra_cfg=False)
    model = build(cfg.model, info=DataInfo("toy", (4,), 2, "classification"))
    assert isinstance(model, KernelModule)
    x = _randn(6, 4, seed=7)
    assert model.kernel(x, x).shape == (6, 6)


def test_kernel_overrides_from_the_command_line(tmp_path: Path) -> None:
    cfg = compose_cfg("train", ["model=ntk", "model.kernel.depth=6"], tmp_path, hydra_cfg=False)
    assert cfg.model.kernel.depth == 6 and cfg.model.kernel._target_.endswith("fc_ntk")
    cfg = compose_cfg(
        "train",
        ["model=ntk", "kernel@model.kernel=h_laplace", "model.kernel.c=2"],
        tmp_path,
        hydra_cfg=False,
    )
    assert cfg.model.kernel._target_.endswith("h_laplace") and cfg.model.kernel.c == 2


def test_train_model_ntk_end_to_end_and_evaluate_reload(cfg_train, tmp_path: Path) -> None:
    cfg = cfg_train("model=ntk", "model.kernel.depth=2", "trainer.max_epochs=5")
    trained = train(cfg)
    assert {"val/loss", "val/acc", "test/acc", "test/auc", "test/loss"} <= set(trained)
    assert trained["test/acc"] > 0.9  # NTK regression on digits
    ckpt = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())["checkpoint"]
    assert ckpt and Path(ckpt).is_file()
    hydra_dir = Path(cfg.paths.output_dir) / ".hydra"
    hydra_dir.mkdir(exist_ok=True)
    OmegaConf.save({k: v for k, v in cfg.items() if k != "hydra"}, hydra_dir / "config.yaml")
    eval_cfg = compose_cfg(
        "eval",
        [f"ckpt_path={ckpt}", "trainer=cpu", "trainer.enable_progress_bar=false"],
        tmp_path / "eval",
    )
    evaluated = evaluate_checkpoint(eval_cfg)
    for k in ("test/acc", "test/auc", "test/loss"):
        assert evaluated[k] == pytest.approx(trained[k], abs=1e-6)
