"""`data=table`: CSV/Parquet with label column, categorical one-hot, seeded or given splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from nvk.data import TableDataModule


def _frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.standard_normal(n),
            "b": rng.integers(0, 5, n),
            "color": rng.choice(["red", "green", "blue"], n),
            "species": np.array(["cat", "dog", "emu"])[np.arange(n) % 3],
            "price": rng.standard_normal(n) * 10 + 3,
            "weight": rng.standard_normal(n),
        }
    )


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    p = tmp_path / "animals.csv"
    _frame().to_csv(p, index=False)
    return p


def test_classification_with_categorical_one_hot_and_stratified_split(csv: Path) -> None:
    dm = TableDataModule(
        path=str(csv),
        label="species",
        categorical=["color"],
        features=["a", "b", "color"],
        normalize="none",
        seed=1,
    )
    d = dm.full_batch()
    info = dm.info
    assert info.task == "classification" and info.num_outputs == 3 and info.in_shape == (5,)
    assert dm.classes == ["cat", "dog", "emu"]
    df = _frame()
    n = len(d.y_train) + len(d.y_val) + len(d.y_test)
    assert n == len(df) and len(d.y_test) == pytest.approx(0.25 * n, abs=1)
    for y in (d.y_train, d.y_val, d.y_test):  # stratified: equal class counts up to rounding
        counts = torch.bincount(y, minlength=3)
        assert counts.max() - counts.min() <= 1
    # one-hot columns hold exactly one 1 per row, and rows map back to the file
    onehot = torch.cat([d.x_train, d.x_val, d.x_test])[:, 2:]
    assert torch.equal(onehot.sum(1), torch.ones(n))
    labels = {v: i for i, v in enumerate(["cat", "dog", "emu"])}
    row = int(np.argmin(np.abs(df["a"].to_numpy() - d.x_test[0, 0].item())))
    assert d.y_test[0].item() == labels[df["species"][row]]
    assert d.x_test[0, 1].item() == df["b"][row]


def test_seeded_split_reproducible(csv: Path) -> None:
    a, b, c = (
        TableDataModule(path=str(csv), label="species", categorical=["color"], seed=s)
        for s in (0, 0, 1)
    )
    assert torch.equal(a.full_batch().x_test, b.full_batch().x_test)
    assert not torch.equal(a.full_batch().y_train, c.full_batch().y_train)


def test_regression_auto_multioutput_and_standardize(csv: Path) -> None:
    dm = TableDataModule(path=str(csv), label="price", categorical=["color", "species"])
    d = dm.full_batch()
    assert dm.info.task == "regression" and dm.info.num_outputs == 1
    assert d.y_train.dtype == torch.float32 and d.y_train.ndim == 1
    torch.testing.assert_close(
        d.x_train.mean(0), torch.zeros(d.x_train.shape[1]), atol=1e-5, rtol=0
    )
    multi = TableDataModule(
        path=str(csv), label=["price", "weight"], categorical=["color", "species"]
    )
    assert multi.full_batch().y_val.shape[1] == 2 and multi.info.num_outputs == 2


def test_split_column(tmp_path: Path) -> None:
    df = _frame(30)
    df["part"] = ["train"] * 20 + ["val"] * 4 + ["test"] * 6
    p = tmp_path / "t.csv"
    df.to_csv(p, index=False)
    dm = TableDataModule(
        path=str(p), label="species", categorical=["color"], split_column="part", normalize="none"
    )
    d = dm.full_batch()
    assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (20, 4, 6)
    np.testing.assert_allclose(d.x_test[:, 0].numpy(), df["a"][24:].to_numpy(), rtol=1e-6)
    df.loc[7, "part"] = "holdout"
    df.to_csv(p, index=False)
    bad = TableDataModule(path=str(p), label="species", categorical=["color"], split_column="part")
    with pytest.raises(ValueError, match=r"value 'holdout' in data row 7; expected one of"):
        bad.setup()


def test_parquet_without_engine_says_what_to_install(tmp_path: Path) -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        p = tmp_path / "t.parquet"
        p.write_bytes(b"PAR1")
        with pytest.raises(ImportError, match="pip install pyarrow"):
            TableDataModule(path=str(p), label="species").setup()
    else:
        pytest.skip("pyarrow installed: test_parquet covers reading")


def test_parquet(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    p = tmp_path / "t.parquet"
    _frame().to_parquet(p)
    dm = TableDataModule(path=str(p), label="species", categorical=["color"])
    assert dm.full_batch().x_train.shape[1] == 6


def test_bad_input(csv: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        TableDataModule(path=str(tmp_path / "nope.csv"), label="y").setup()
    with pytest.raises(ValueError, match=r"column\(s\) \['kind'\] not found; columns are"):
        TableDataModule(path=str(csv), label="kind").setup()
    with pytest.raises(ValueError, match=r"non-numeric feature column\(s\) \['color'\]"):
        TableDataModule(path=str(csv), label="species").setup()
    with pytest.raises(ValueError, match="unsupported file type"):
        (tmp_path / "x.xlsx").write_text("")
        TableDataModule(path=str(tmp_path / "x.xlsx"), label="y").setup()
    df = _frame()
    df.loc[9, "a"] = np.nan
    p = tmp_path / "nan.csv"
    df.to_csv(p, index=False)
    with pytest.raises(ValueError, match="non-finite"):
        TableDataModule(path=str(p), label="species", categorical=["color"]).setup()


def test_class_too_rare_to_stratify_falls_back_to_a_plain_split(tmp_path: Path) -> None:
    p = tmp_path / "rare.csv"
    pd.DataFrame({"a": np.arange(20.0), "y": ["a"] * 19 + ["b"]}).to_csv(p, index=False)
    d = TableDataModule(path=str(p), label="y").full_batch()
    assert len(d.y_train) + len(d.y_val) + len(d.y_test) == 20
    assert int((torch.cat([d.y_train, d.y_val, d.y_test]) == 1).sum()) == 1
