import numpy as np
import pytest
import torch

from nvk.data import DigitsDataModule


def test_shapes_splits_and_pixel_range():
    dm = DigitsDataModule(seed=0)
    d = dm.full_batch()
    n = len(d.x_train) + len(d.x_val) + len(d.x_test)
    assert n == 1797
    assert d.x_train.shape[1:] == (64,) and d.x_train.dtype == torch.float32
    assert d.y_train.dtype == torch.int64
    assert d.x_train.min() >= 0.0 and d.x_train.max() <= 1.0
    assert len(d.x_test) == pytest.approx(0.25 * 1797, abs=2)
    assert dm.info.num_outputs == 10 and dm.info.task == "classification"


def test_images_when_not_flattened():
    d = DigitsDataModule(flatten=False).full_batch()
    assert d.x_val.shape[1:] == (1, 8, 8)


def test_splits_are_disjoint_stratified_and_seeded():
    a, b, c = (DigitsDataModule(seed=s).full_batch() for s in (0, 0, 1))
    torch.testing.assert_close(a.x_test, b.x_test)
    assert not torch.equal(a.y_train, c.y_train)
    idx = DigitsDataModule(seed=0)
    idx.setup()
    parts = [idx.split_indices[s] for s in ("train", "val", "test")]
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(1797))  # disjoint, complete
    for split in (a.y_train, a.y_val, a.y_test):  # every class in every split, near 10 %
        freq = np.bincount(split.numpy(), minlength=10) / len(split)
        assert freq.min() > 0.07 and freq.max() < 0.13


def test_loaders_batch_the_same_tensors():
    dm = DigitsDataModule(batch_size=100)
    x, y = next(iter(dm.test_dataloader()))
    torch.testing.assert_close(x, dm.full_batch().x_test[:100])
    assert len(y) == 100


def test_nan_features_raise_naming_the_dataset(monkeypatch):
    orig = DigitsDataModule._raw

    def with_nan(self):
        x, y = orig(self)
        x[5, 3] = np.nan
        x[9, 0] = np.inf
        return x, y

    monkeypatch.setattr(DigitsDataModule, "_raw", with_nan)
    with pytest.raises(ValueError, match=r"digits.*non-finite"):
        DigitsDataModule().setup()


@pytest.mark.parametrize(("val", "test"), [(0.0, 0.2), (0.5, 0.5), (0.2, 1.2)])
def test_bad_fractions_raise(val, test):
    with pytest.raises(ValueError, match="fraction"):
        DigitsDataModule(val_fraction=val, test_fraction=test)
