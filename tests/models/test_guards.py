"""NaN/inf fails the run (nvk.models.guards): a diverged network or a kernel solve that predicts
NaN raises a `NonFiniteError` saying where and what to try, and writes no metrics.json."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import nvk.kernels
from nvk.models import FiniteLossGuard, NonFiniteLossError, NonFinitePredictionError
from nvk.models.guards import with_finite_loss_guard
from nvk.run import train
from tests.conftest import compose_cfg

DIVERGE = ["model.optimizer.lr=1e9", "model.width=64"]  # digits: NaN loss within 3 SGD steps
QUIET = [
    "trainer=cpu",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "logger=csv",
]


def _no_result(cfg) -> None:
    out = Path(cfg.paths.output_dir)
    assert not (out / "metrics.json").exists()
    assert not list(out.glob("checkpoints/*.ckpt"))  # no checkpoint of NaN weights either


@pytest.mark.parametrize("callbacks", ["default", "none"])
def test_diverged_network_stops_at_the_first_nan_batch_saying_what_to_try(tmp_path, callbacks):
    """Also with `callbacks=none`: `nvk.run.train` adds the guard whatever is configured."""
    extra = ["callbacks.rich_progress_bar=null"] if callbacks == "default" else []
    cfg = compose_cfg("train", [*QUIET, f"callbacks={callbacks}", *extra, *DIVERGE], tmp_path)
    with pytest.raises(NonFiniteLossError, match=r"train/loss is nan at epoch 0, batch \d+") as e:
        train(cfg)
    msg = str(e.value)
    for remedy in ("model.optimizer.lr, now 1e+09", "trainer.gradient_clip_val", "64-true"):
        assert remedy in msg
    assert f"run_dir: {cfg.paths.output_dir}" in e.value.__notes__
    _no_result(cfg)


def test_divergence_in_an_epochs_last_steps_is_caught_by_val_loss(cfg_train):
    """Two steps: both batch losses are finite, the weights they leave give NaN outputs."""
    cfg = cfg_train(*DIVERGE, "+trainer.limit_train_batches=2")
    match = r"val/loss is nan after epoch 0 \(global step 2\)"
    with pytest.raises(NonFiniteLossError, match=match):
        train(cfg)
    _no_result(cfg)


def test_the_guard_is_added_once():
    guard = FiniteLossGuard()
    assert with_finite_loss_guard([guard]) == [guard]
    assert [type(c) for c in with_finite_loss_guard(["other"])][1:] == [FiniteLossGuard]


def nan_off_train(x1, x2=None, *, c=1.0):
    """Laplace on the training Gram (square), NaN against new points: the fit succeeds and
    every validation prediction is NaN."""
    k = nvk.kernels.exponential.laplace(x1, x2, c=c)
    return k if x2 is None or len(x1) == len(x2) else torch.full_like(k, float("nan"))


def test_kernel_model_predicting_nan_fails_naming_solver_kernel_and_remedy(cfg_train, monkeypatch):
    monkeypatch.setattr(nvk.kernels, "laplace", nan_off_train)  # conf/kernel/laplace.yaml's target
    cfg = cfg_train("model=laplace")
    with pytest.raises(NonFinitePredictionError) as e:
        train(cfg)
    msg = str(e.value)
    assert msg.startswith("KRRSolver with kernel tests.models.test_guards.nan_off_train")
    assert "predicts nan" in msg and "a larger solver.ridge" in msg and "kernel.*" in msg
    _no_result(cfg)
