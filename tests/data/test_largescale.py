"""`data=msd|susy|higgs` on tiny files in the real formats: splits, statistics, cache, errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from nvk.data import HIGGSDataModule, MSDDataModule, SUSYDataModule
from nvk.data.largescale import SPECS
from tests.data.largescale_fixture import FILES, write

MODULES = {"msd": MSDDataModule, "susy": SUSYDataModule, "higgs": HIGGSDataModule}


@pytest.mark.parametrize("name", ["msd", "susy", "higgs"])
def test_splits_and_standardization_match_the_file(name, tmp_path):
    _, a = write(tmp_path, name, 300)
    dm = MODULES[name](root=str(tmp_path), n_test=60, val_size=40, seed=3, progress=False,
                       chunk_rows=70)  # fmt: skip  # chunks not dividing the rows
    d = dm.full_batch()
    D = FILES[name][1]
    assert dm.info.in_shape == (D,) and len(d.x_train) == 200
    assert len(d.x_val) == 40 and len(d.x_test) == 60
    # independent reference: the file's rows via numpy, split by the documented rule
    train_rows = np.setdiff1d(np.arange(240), np.random.default_rng(3).permutation(240)[:40])
    mean, std = a[train_rows, 1:].mean(0), a[train_rows, 1:].std(0)
    np.testing.assert_allclose(d.x_test.numpy(), (a[240:, 1:] - mean) / std, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(d.x_train.numpy(), (a[train_rows, 1:] - mean) / std, atol=1e-4)
    if name == "msd":
        offset = a[train_rows, 0].astype(np.float64).mean()
        assert dm.target_offset == pytest.approx(offset)
        np.testing.assert_allclose(d.y_test.numpy() + offset, a[240:, 0], atol=1e-3)
        assert dm.info.task == "regression"
    else:
        assert d.y_test.dtype == torch.int64
        np.testing.assert_array_equal(d.y_test.numpy(), a[240:, 0].astype(np.int64))
        np.testing.assert_array_equal(d.y_train.numpy(), a[train_rows, 0].astype(np.int64))
        assert dm.info.num_outputs == 2


def test_subsample_cache_and_default_test_size(tmp_path):
    write(tmp_path, "higgs", 200)
    cache = tmp_path / "cache"
    kw = dict(root=str(tmp_path), n_test=50, val_size=20, subsample=30, progress=False)
    first = HIGGSDataModule(cache_dir=str(cache), **kw).full_batch()
    assert len(list(cache.glob("higgs-*.npy"))) == 1
    again = HIGGSDataModule(cache_dir=str(cache), **kw).full_batch()  # memory-mapped .npy
    plain = HIGGSDataModule(**kw).full_batch()
    for split in ("x_train", "y_train", "x_val", "x_test", "y_test"):
        torch.testing.assert_close(getattr(first, split), getattr(again, split))
        torch.testing.assert_close(getattr(first, split), getattr(plain, split))
    assert len(first.x_train) == 30
    assert HIGGSDataModule(root=str(tmp_path)).n_test == 500_000 == SPECS["higgs"].n_test
    assert MSDDataModule(root=str(tmp_path)).n_test == 51_630  # the official split


def test_missing_file_names_folder_and_source(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"SUSY\.csv.*archive\.ics\.uci\.edu"):
        SUSYDataModule(root=str(tmp_path / "nowhere")).setup()


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("1," + ",".join(["0.5"] * 29), "Expected 29 fields"),  # one value too many
        ("1," + ",".join(["0.5"] * 27), "line 3 has fewer than 29"),
        ("1,abc" + ",0.5" * 27, "not a higgs file"),
        ("2" + ",0.5" * 28, "label 2 on line 3"),
    ],
)
def test_malformed_lines_are_reported(tmp_path, line, match):
    path, _ = write(tmp_path, "higgs", 5)
    lines = path.read_text().splitlines()
    lines.insert(2, line)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=match):
        HIGGSDataModule(root=str(tmp_path), n_test=2, val_size=1, progress=False).setup()


def test_bad_sizes_raise(tmp_path):
    write(tmp_path, "susy", 30)
    with pytest.raises(ValueError, match="n_test=0"):
        SUSYDataModule(root=str(tmp_path), n_test=0)
    with pytest.raises(ValueError, match="leave no training rows"):
        SUSYDataModule(root=str(tmp_path), n_test=25, val_size=10, progress=False).setup()
    with pytest.raises(ValueError, match="subsample=100 exceeds"):
        SUSYDataModule(root=str(tmp_path), n_test=5, val_size=5, subsample=100,
                       progress=False).setup()  # fmt: skip


def test_gzip_file_is_read_like_the_plain_one(tmp_path):
    path, a = write(tmp_path / "gz", "susy", 80)
    plain = tmp_path / "plain" / "SUSY.csv"
    plain.parent.mkdir()
    with gzip.open(path, "rt") as f:
        plain.write_text(f.read())
    kw = dict(n_test=20, val_size=10, progress=False)
    g = SUSYDataModule(root=str(path.parent), **kw).full_batch()
    p = SUSYDataModule(root=str(plain.parent), **kw).full_batch()
    torch.testing.assert_close(g.x_train, p.x_train)
    assert Path(path).suffix == ".gz" and a.shape == (80, 19)
