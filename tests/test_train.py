"""Smoke and behaviour tests of the train/evaluate pipeline on the real configs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nvk.data import DigitsDataModule
from nvk.run import evaluate_checkpoint, metric_value, train
from tests.conftest import compose_cfg


def test_train_writes_records_and_test_metrics(cfg_train, tmp_path):
    cfg = cfg_train("trainer.max_epochs=2", "model.width=64")
    metrics = train(cfg)
    assert {"train/loss", "val/loss", "val/acc", "test/acc", "test/auc"} <= set(metrics)
    assert "test/mse" not in metrics  # keys a model cannot produce are absent
    out = Path(cfg.paths.output_dir)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["test/acc"] == pytest.approx(metrics["test/acc"])
    prov = json.loads((out / "provenance.json").read_text())
    assert len(prov["config_hash"]) == 64 and prov["packages"]["torch"]
    assert "commit" in prov["git"]
    assert (out / "config_resolved.yaml").is_file()
    csv = (out / "csv" / "metrics.csv").read_text().splitlines()
    assert "val/acc" in csv[0] and len(csv) > 2
    assert list((out / "checkpoints").glob("*.ckpt"))


def test_default_config_reaches_90_percent_on_digits(cfg_train):
    """The acceptance target of `make train` (default model and data, W&B swapped for CSV)."""
    metrics = train(cfg_train("trainer.max_epochs=20"))
    assert metrics["test/acc"] >= 0.9


def test_evaluate_reloads_the_checkpoint_and_reproduces_the_test_metric(cfg_train, tmp_path):
    cfg = cfg_train("trainer.max_epochs=2", "model.width=64")
    trained = train(cfg)
    ckpt = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())["checkpoint"]
    # train.py keeps .hydra/ in the run dir; the fixture's composed config stands in for it
    hydra_dir = Path(cfg.paths.output_dir) / ".hydra"
    hydra_dir.mkdir(exist_ok=True)
    from omegaconf import OmegaConf

    OmegaConf.save({k: v for k, v in cfg.items() if k != "hydra"}, hydra_dir / "config.yaml")
    eval_cfg = compose_cfg(
        "eval",
        [f"ckpt_path={ckpt}", "trainer=cpu", "trainer.enable_progress_bar=false"],
        tmp_path / "eval",
    )
    evaluated = evaluate_checkpoint(eval_cfg)
    for k in ("test/acc", "test/auc", "test/loss"):
        assert evaluated[k] == pytest.approx(trained[k], abs=1e-6)


def test_evaluate_with_missing_checkpoint_says_so(tmp_path):
    cfg = compose_cfg("eval", [f"ckpt_path={tmp_path}/nope.ckpt"], tmp_path)
    with pytest.raises(FileNotFoundError, match=r"nope\.ckpt"):
        evaluate_checkpoint(cfg)


def test_damaged_checkpoint_is_named_by_evaluate_and_set_aside_by_resume(cfg_train, tmp_path):
    """evaluate.py cannot recompute a checkpoint: it names it and leaves it; train.py resuming
    from it sets it aside (never deletes it) and trains from the beginning."""
    from nvk.utils.io import DamagedFileError

    cfg = cfg_train("model.width=32")
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    data = bytearray(ckpt.read_bytes())
    data[len(data) // 2] ^= 0x01
    ckpt.write_bytes(bytes(data))
    eval_cfg = compose_cfg("eval", [f"ckpt_path={ckpt}"], tmp_path / "eval")
    with pytest.raises(DamagedFileError, match=rf"checkpoint {ckpt} is damaged.*checksum"):
        evaluate_checkpoint(eval_cfg)
    assert ckpt.read_bytes() == bytes(data)  # left as it was
    resumed = train(cfg_train("model.width=32", f"ckpt_path={ckpt}"))
    assert "test/acc" in resumed and len(list(ckpt.parent.glob("last.ckpt.damaged-*"))) == 1


def test_nan_in_features_fails_before_training_naming_the_dataset(cfg_train, monkeypatch):
    orig = DigitsDataModule._raw

    def with_nan(self):
        x, y = orig(self)
        x[0, 0] = np.nan
        return x, y

    monkeypatch.setattr(DigitsDataModule, "_raw", with_nan)
    cfg = cfg_train()
    with pytest.raises(ValueError, match="'digits'"):
        train(cfg)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()


@pytest.mark.parametrize("override", ["arch.depth=0", "arch.width=0", "model.width=0"])
def test_invalid_architecture_is_a_value_error(cfg_train, override):
    with pytest.raises(ValueError, match=override.split(".")[1].split("=")[0]):
        train(cfg_train(override))


def test_optimized_metric_missing_lists_available_keys():
    with pytest.raises(KeyError, match="available"):
        metric_value({"val/acc": 1.0}, "val/mse")


def test_a_crashing_job_still_closes_wandb(cfg_train, monkeypatch):
    """W&B is finished in a `finally`, so the next job of a sweep starts clean."""
    import wandb

    from nvk.models import MLPModule

    def boom(self, batch, idx):
        raise RuntimeError("diverged")

    monkeypatch.setattr(MLPModule, "training_step", boom)
    cfg = cfg_train("logger=wandb")
    with pytest.raises(RuntimeError, match="diverged"):
        train(cfg)
    assert wandb.run is None
    assert list((Path(cfg.paths.output_dir) / "wandb").glob("offline-run-*"))
