"""`data=uci`: the format reader on synthetic folders, and the real 90-dataset benchmark."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from nvk.data import UCIDataModule, available_datasets, benchmark_datasets, load_uci
from nvk.data.uci import BENCHMARK_MAX_ROWS, read_meta
from tests.conftest import ROOT
from tests.data.uci_fixture import random_uci_dataset, write_uci_dataset

REAL = Path(os.environ.get("NVK_UCI_DIR", ROOT.parent / "shared" / "data" / "uci"))
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"UCI collection not at {REAL}")


@pytest.fixture
def synth(tmp_path: Path):
    arrays = random_uci_dataset(tmp_path, "toy")
    return tmp_path, arrays


def test_reader_returns_the_written_rows_and_index_sets(synth) -> None:
    root, (x, y, tune, folds) = synth
    ds = load_uci(root, "toy")
    np.testing.assert_array_equal(ds.x.numpy(), x)  # repr() round-trips float64 exactly
    np.testing.assert_array_equal(ds.y.numpy(), y)
    assert ds.x.dtype == torch.float64 and ds.y.dtype == torch.int64
    np.testing.assert_array_equal(ds.index_sets.tune_train.numpy(), tune[0])
    np.testing.assert_array_equal(ds.index_sets.tune_val.numpy(), tune[1])
    assert len(ds.index_sets.folds) == 4
    for (tr, te), (etr, ete) in zip(ds.index_sets.folds, folds):
        np.testing.assert_array_equal(tr.numpy(), etr)
        np.testing.assert_array_equal(te.numpy(), ete)


def test_tune_split_val_and_test_are_the_validation_line(synth) -> None:
    root, (x, y, tune, _) = synth
    dm = UCIDataModule(root=str(root), name="toy", split="tune")
    d = dm.full_batch()
    np.testing.assert_allclose(d.x_train.numpy(), x[tune[0]], rtol=1e-6)
    np.testing.assert_array_equal(d.y_val.numpy(), y[tune[1]])
    assert torch.equal(d.x_val, d.x_test) and torch.equal(d.y_val, d.y_test)
    assert dm.info.in_shape == (3,) and dm.info.num_outputs == 3
    xa, ya = dm.all_rows()
    assert xa.shape == (60, 3) and ya.shape == (60,)


@pytest.mark.parametrize("fold", [0, 3])
def test_fold_split_carves_val_from_the_fold_train(synth, fold: int) -> None:
    root, (x, y, _, folds) = synth
    dm = UCIDataModule(root=str(root), name="toy", split="fold", fold=fold, val_fraction=0.2)
    tr, va, te = (t.numpy() for t in dm.split_indices())
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, va])), np.sort(folds[fold][0]))
    assert not set(tr) & set(va)
    assert len(va) == round(0.2 * len(folds[fold][0]))
    np.testing.assert_array_equal(te, folds[fold][1])
    assert set(y[va]) == set(range(3))  # stratified: every class in val
    d = dm.full_batch()
    np.testing.assert_allclose(d.x_test.numpy(), x[folds[fold][1]], rtol=1e-6)
    exact = UCIDataModule(root=str(root), name="toy", split="fold", fold=fold, val_fraction=0)
    tr0, va0, te0 = exact.split_indices()
    np.testing.assert_array_equal(tr0.numpy(), folds[fold][0])
    assert torch.equal(va0, te0)


def test_normalize_is_fitted_on_train(synth) -> None:
    root, _ = synth
    d = UCIDataModule(root=str(root), name="toy", normalize="standardize").full_batch()
    torch.testing.assert_close(d.x_train.mean(0), torch.zeros(3), atol=1e-6, rtol=0)
    assert d.x_val.mean(0).abs().max() > 1e-3  # val uses train statistics, not its own
    s = UCIDataModule(root=str(root), name="toy", normalize="sphere").full_batch()
    torch.testing.assert_close(s.x_test.norm(dim=1), torch.ones(len(s.x_test)))


def test_unknown_name_lists_valid_names(synth) -> None:
    root, _ = synth
    random_uci_dataset(root, "other", seed=1)
    dm = UCIDataModule(root=str(root), name="nope")
    with pytest.raises(ValueError, match=r"data.name='nope'.*valid names \(2\): other, toy"):
        dm.setup()


def test_missing_root_names_path_and_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing_uci.*fetch_uci.sh"):
        UCIDataModule(root=str(tmp_path / "missing_uci"), name="iris").setup()
    with pytest.raises(FileNotFoundError, match="NVK_UCI_DIR"):
        benchmark_datasets(tmp_path / "missing_uci")


def _corrupt(path: Path, line_no: int, fn) -> None:
    lines = path.read_text().splitlines()
    lines[line_no - 1] = fn(lines[line_no - 1])
    path.write_text("\n".join(lines) + "\n")


def test_wrong_column_count_names_file_and_line(synth) -> None:
    root, _ = synth
    f = root / "toy" / "toy_R.dat"
    _corrupt(f, 8, lambda s: s + "\t0.5")
    with pytest.raises(ValueError, match=r"toy_R.dat, line 8: 6 tab-separated columns, expected 5"):
        load_uci(root, "toy")


def test_bad_label_and_non_numeric_value_name_file_and_line(synth) -> None:
    root, _ = synth
    f = root / "toy" / "toy_R.dat"
    _corrupt(f, 4, lambda s: s.rsplit("\t", 1)[0] + "\t7")
    with pytest.raises(ValueError, match=r"toy_R.dat, line 4: label '7' is not a class id"):
        load_uci(root, "toy")
    random_uci_dataset(root, "toy")
    _corrupt(f, 3, lambda s: "\t".join([s.split("\t")[0], "abc", *s.split("\t")[2:]]))
    with pytest.raises(ValueError, match=r"toy_R.dat, line 3: non-numeric value 'abc'"):
        load_uci(root, "toy")


def test_index_out_of_range_names_file_and_line(synth) -> None:
    root, _ = synth
    _corrupt(root / "toy" / "conxuntos_kfold.dat", 6, lambda s: s + " 60")
    with pytest.raises(ValueError, match=r"conxuntos_kfold.dat, line 6: index 60 out of range"):
        load_uci(root, "toy")
    random_uci_dataset(root, "toy")
    _corrupt(root / "toy" / "conxuntos.dat", 2, lambda s: s + " -1")
    with pytest.raises(ValueError, match=r"conxuntos.dat, line 2: index -1 out of range"):
        load_uci(root, "toy")


def test_tuning_sizes_must_match_metadata(synth) -> None:
    root, _ = synth
    _corrupt(root / "toy" / "conxuntos.dat", 1, lambda s: " ".join(s.split()[:-1]))
    with pytest.raises(ValueError, match=r"conxuntos.dat, line 1: 29 indices, but the metadata"):
        load_uci(root, "toy")


def test_benchmark_rule_on_synthetic_collection(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    idx = np.arange(4)
    folds = [(idx[:3], idx[3:])] * 4
    write_uci_dataset(
        tmp_path, "small", rng.standard_normal((4, 2)), idx % 2, (idx[:2], idx[2:]), folds
    )
    write_uci_dataset(
        tmp_path,
        "with_test",
        rng.standard_normal((4, 2)),
        idx % 2,
        (idx[:2], idx[2:]),
        folds,
        test_rows=3,
    )
    (tmp_path / "not_a_dataset").mkdir()
    assert available_datasets(tmp_path) == ["small", "with_test"]
    assert benchmark_datasets(tmp_path) == ["small"]
    assert benchmark_datasets(tmp_path, max_rows=3) == []


# -- the real collection ---------------------------------------------------------------------


@needs_real
def test_real_benchmark_has_90_datasets_each_with_five_index_sets() -> None:
    names = benchmark_datasets(REAL)
    assert len(names) == 90  # Arora et al. / Geifman et al.
    rest = set(available_datasets(REAL)) - set(names)
    for name in rest:  # everything left out breaks the rule
        meta = read_meta(REAL, name)
        assert meta.n_rows > BENCHMARK_MAX_ROWS or meta.test_file is not None
    for name in names:
        ds = load_uci(REAL, name)
        n = ds.meta.n_rows
        assert ds.meta.n_rows <= BENCHMARK_MAX_ROWS and ds.meta.test_file is None
        assert ds.x.shape == (n, ds.meta.n_features) and ds.y.shape == (n,)
        assert set(ds.y.tolist()) <= set(range(ds.meta.n_classes))
        s = ds.index_sets
        tune = torch.cat([s.tune_train, s.tune_val])
        assert torch.equal(tune.sort().values, torch.arange(n)), name  # a partition of the rows
        assert len(s.folds) == 4
        for tr, te in s.folds:
            assert len(tr) and len(te) and not set(tr.tolist()) & set(te.tolist()), name


@needs_real
@pytest.mark.parametrize("name", ["iris", "abalone", "conn-bench-sonar-mines-rocks"])
def test_real_rows_match_an_independent_pandas_parse(name: str) -> None:
    ds = load_uci(REAL, name)
    df = pd.read_csv(REAL / name / ds.meta.data_file, sep="\t", index_col=0)
    np.testing.assert_array_equal(ds.x.numpy(), df.drop(columns="clase").to_numpy())
    np.testing.assert_array_equal(ds.y.numpy(), df["clase"].to_numpy())


@needs_real
def test_real_folder_with_extra_txt_files_uses_the_named_metadata() -> None:
    meta = read_meta(REAL, "seeds")  # seeds/ also holds seeds_dataset.txt (the raw data)
    assert (meta.n_features, meta.n_classes, meta.n_rows) == (7, 3, 210)
    assert "seeds" in available_datasets(REAL)
