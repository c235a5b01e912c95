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


def test_header_only_csv_says_no_data_rows(tmp_path: Path) -> None:
    p = tmp_path / "header.csv"
    p.write_text("a,b,c,d,y\n")
    with pytest.raises(ValueError, match=r"header\.csv: no data rows, only the column names"):
        TableDataModule(path=str(p), label="y").setup()
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv: the file is empty \(no header line"):
        TableDataModule(path=str(tmp_path / "empty.csv"), label="y").setup()


def test_ragged_csv_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "ragged.csv"
    rows = ["a,b,c,y", *[f"{i},{i},{i},{i % 2}" for i in range(5)], "1,2,3,4,5,6", "7,8,9,0"]
    p.write_text("\n".join(rows) + "\n")
    with pytest.raises(ValueError, match=r"ragged\.csv: line 7 has 6 fields where 4") as e:
        TableDataModule(path=str(p), label="y").setup()
    assert isinstance(e.value.__cause__, pd.errors.ParserError)
    p.write_text('a,y\n1,0\n"2,1\n3,0\n')
    with pytest.raises(ValueError, match=r'ragged\.csv: the quote \("\) opened on line 3'):
        TableDataModule(path=str(p), label="y").setup()


def test_binary_or_non_utf8_file_is_not_a_text_csv(tmp_path: Path) -> None:
    png = tmp_path / "image.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(ValueError, match=r"image\.csv: not a text CSV: it holds NUL bytes"):
        TableDataModule(path=str(png), label="y").setup()
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("a,y\n1,café\n2,thé\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.csv: not a text CSV: it is not UTF-8") as e:
        TableDataModule(path=str(latin), label="y").setup()
    assert isinstance(e.value.__cause__, UnicodeDecodeError)


def test_single_class_label_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "one.csv"
    pd.DataFrame({"a": np.arange(20.0), "y": ["cat"] * 20}).to_csv(p, index=False)
    with pytest.raises(ValueError, match=r"label column 'y' has a single class 'cat'"):
        TableDataModule(path=str(p), label="y").setup()


def test_too_few_rows_for_the_split_says_what_each_split_gets(tmp_path: Path) -> None:
    p = tmp_path / "three.csv"
    pd.DataFrame({"a": [1.0, 2.0, 3.0], "y": [0, 1, 0]}).to_csv(p, index=False)
    msg = (
        r"three\.csv: 3 data rows are too few for data\.val_fraction=0\.15 and "
        r"data\.test_fraction=0\.25: the split would give train 1, val 1, test 1 rows; "
        r"need at least 2 train rows: add rows \(at least 4 rows"
    )
    with pytest.raises(ValueError, match=msg):
        TableDataModule(path=str(p), label="y").setup()
    with pytest.raises(ValueError, match=r"train 1, val 1, test 1 rows; .* \(at least 6 rows"):
        TableDataModule(path=str(p), label="y", val_fraction=0.3, test_fraction=0.3).setup()
    two = tmp_path / "two.csv"
    pd.DataFrame({"a": [1.0, 2.0], "y": [0.5, 1.5]}).to_csv(two, index=False)
    with pytest.raises(ValueError, match=r"2 data rows .* train 0, val 1, test 1 rows"):
        TableDataModule(path=str(two), label="y").setup()


def test_split_column_leaving_a_split_empty(tmp_path: Path) -> None:
    df = _frame(12)
    df["part"] = ["train"] * 9 + ["test"] * 3
    p = tmp_path / "parts.csv"
    df.to_csv(p, index=False)
    dm = TableDataModule(path=str(p), label="species", categorical=["color"], split_column="part")
    with pytest.raises(
        ValueError, match=r"split column 'part' gives train 9, val 0, test 3 of 12 data rows"
    ):
        dm.setup()


def test_train_py_on_a_header_only_csv_fails_before_training(cfg_train, tmp_path: Path) -> None:
    from nvk.run import train

    p = tmp_path / "header.csv"
    p.write_text("a,b,y\n")
    cfg = cfg_train("data=table", f"data.path={p}", "data.label=y")
    with pytest.raises(ValueError, match=r"header\.csv: no data rows"):
        train(cfg)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()


def test_unknown_task_lists_the_valid_ones(csv: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown data.task='clasification'; valid: auto, class"):
        TableDataModule(path=str(csv), label="label", task="clasification")
    from nvk.data.sphere import SphereDataModule

    with pytest.raises(ValueError, match=r"unknown data.task='x'; valid: regression, class"):
        SphereDataModule(task="x")
