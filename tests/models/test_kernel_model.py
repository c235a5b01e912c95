"""Kernel models: kernel + solver end to end (train.py model=ntk solver=..., evaluate reload)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from nvk.data.base import DataInfo
from nvk.kernels import fc_ntk, laplace
from nvk.models import KernelModule
from nvk.run import build, evaluate_checkpoint, train
from nvk.solvers import KRRSolver
from tests.conftest import compose_cfg

MODELS = ["ntk", "nngp", "laplace", "gaussian", "gamma_exp", "h_laplace", "h_gaussian",
          "h_gamma_exp"]  # fmt: skip
SOLVERS = ["krr", "svc", "falkon", "gp"]


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_fit_interpolates_and_predicts_like_the_closed_form() -> None:
    x, xt = _randn(30, 4, seed=1), _randn(7, 4, seed=2)
    y = _randn(30, 2, seed=3)
    kern = functools.partial(fc_ntk, depth=3, bias=0.2)
    m = KernelModule(DataInfo("toy", (4,), 2, "regression"), kern, KRRSolver(), tile=8)
    m.fit_data(x, y)
    torch.testing.assert_close(m(x), y)  # ridge 0: interpolation
    ref = fc_ntk(xt, x, depth=3, bias=0.2) @ torch.linalg.solve(fc_ntk(x, depth=3, bias=0.2), y)
    torch.testing.assert_close(m(xt), ref)


def test_images_are_flattened_for_fully_connected_kernels() -> None:
    x, y = _randn(12, 1, 2, 3, seed=4), torch.arange(12) % 3
    m = KernelModule(DataInfo("img", (1, 2, 3), 3, "classification"), laplace,
                     KRRSolver(ridge=0.5))  # fmt: skip
    m.fit_data(x, y)
    K = laplace(x.reshape(12, 6))
    alpha = torch.linalg.solve(K + 0.5 * torch.eye(12, dtype=K.dtype), torch.eye(3)[y].double())
    torch.testing.assert_close(m.solver.alpha, alpha)


def test_solver_must_be_a_solver() -> None:
    with pytest.raises(TypeError, match="Solver"):
        KernelModule(DataInfo("t", (2,), 2, "classification"), laplace, solver="krr")


@pytest.mark.parametrize("name", MODELS)
def test_every_kernel_model_config_composes_and_builds(name: str, tmp_path: Path) -> None:
    cfg = compose_cfg("train", [f"model={name}"], tmp_path, hydra_cfg=False)
    model = build(cfg.model, info=DataInfo("toy", (4,), 2, "classification"))
    assert isinstance(model, KernelModule) and isinstance(model.solver, KRRSolver)
    x = _randn(6, 4, seed=7)
    assert model.kernel(x, x).shape == (6, 6)


def test_kernel_and_solver_from_the_command_line(tmp_path: Path) -> None:
    info = DataInfo("toy", (4,), 2, "classification")
    cfg = compose_cfg("train", ["model=ntk", "arch.depth=6", "solver=svc"], tmp_path,
                      hydra_cfg=False)  # fmt: skip
    m = build(cfg.model, info=info)  # the arch's NTK: the fused fc_ntk
    assert m.kernel.keywords["depth"] == 6 and type(m.solver).__name__ == "SVCSolver"
    cfg = compose_cfg("train", ["model=kernel", "kernel.frozen_layers=1"], tmp_path,
                      hydra_cfg=False)  # fmt: skip
    assert build(cfg.model, info=info).kernel.keywords["frozen_layers"] == 1
    cfg = compose_cfg("train", ["model=kernel", "kernel=h_laplace", "kernel.c=2"], tmp_path,
                      hydra_cfg=False)  # fmt: skip
    assert cfg.kernel._target_.endswith("h_laplace") and cfg.kernel.c == 2


@pytest.mark.parametrize("solver", SOLVERS)
def test_train_and_evaluate_reload_with_every_solver(solver, cfg_train, tmp_path: Path) -> None:
    extra = {"falkon": ["solver.centers=200", "solver.ridge=1e-6"],
             "gp": ["solver.iterations=3", "data=sphere", "data.task=classification",
                    "data.n=150", "data.n_val=50", "data.n_test=100", "data.frequencies=[1]"],
             "krr": ["solver.select=val"]}  # fmt: skip
    cfg = cfg_train("model=laplace", "kernel.c=0.3", f"solver={solver}", *extra.get(solver, []))
    trained = train(cfg)
    assert {"val/loss", "val/acc", "test/acc", "test/auc", "test/loss"} <= set(trained)
    assert trained["test/acc"] > 0.9  # digits
    ckpt = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())["checkpoint"]
    hydra_dir = Path(cfg.paths.output_dir) / ".hydra"
    hydra_dir.mkdir(exist_ok=True)
    OmegaConf.save(cfg, hydra_dir / "config.yaml")
    eval_cfg = compose_cfg(
        "eval", [f"ckpt_path={ckpt}", "trainer=cpu", "trainer.enable_progress_bar=false"],
        tmp_path / "eval",
    )  # fmt: skip
    evaluated = evaluate_checkpoint(eval_cfg)
    for k in ("test/acc", "test/auc", "test/loss"):
        assert evaluated[k] == pytest.approx(trained[k], abs=1e-6)


def test_svc_on_regression_data_is_refused(cfg_train) -> None:
    cfg = cfg_train("model=laplace", "solver=svc", "data=sphere", "data.n=32", "data.n_test=16")
    with pytest.raises(ValueError, match="classification"):
        train(cfg)


def test_regression_model_on_the_sphere(cfg_train) -> None:
    cfg = cfg_train("model=h_laplace", "data=sphere", "data.n=128", "data.n_test=64",
                    "data.frequencies=[1]", "solver.ridge=1e-3")  # fmt: skip
    m = train(cfg)
    assert m["test/mse"] < 0.2 and "test/acc" not in m  # degree-1 harmonic, unit norm
