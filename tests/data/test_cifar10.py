"""`data=cifar10`: a tiny folder in the real pickle format, standardization, subsets, errors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from nvk.data import CIFAR10DataModule
from tests.data.cifar_fixture import write_tiny_cifar10


@pytest.fixture
def tiny(tmp_path: Path):
    return tmp_path / "cifar", write_tiny_cifar10(tmp_path / "cifar")


def test_images_layout_subset_and_val(tiny) -> None:
    root, (x, y, xt, yt) = tiny
    dm = CIFAR10DataModule(
        root=str(root), subset=12, val_size=5, test_subset=4, standardize=False, checksum="skip"
    )
    d = dm.full_batch()
    assert d.x_train.shape == (12, 3, 32, 32) and d.x_val.shape == (5, 3, 32, 32)
    assert d.x_test.shape == (4, 3, 32, 32) and d.x_train.dtype == torch.float32
    assert dm.info.in_shape == (3, 32, 32) and dm.info.num_outputs == 10
    # channel c, row h, column w of image i is byte c·1024 + h·32 + w of its data row
    i, c, h, w = 7, 2, 5, 30
    assert d.x_train[i, c, h, w].item() == pytest.approx(x[i, c * 1024 + h * 32 + w] / 255.0)
    np.testing.assert_allclose(d.x_val.reshape(5, -1).numpy(), x[12:17] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(d.y_train.numpy(), y[:12])  # across batch files, in order
    np.testing.assert_array_equal(d.y_val.numpy(), y[12:17])
    np.testing.assert_array_equal(d.y_test.numpy(), yt[:4])
    np.testing.assert_allclose(d.x_test.reshape(4, -1).numpy(), xt[:4] / 255.0, rtol=1e-6)


def test_flatten_gives_the_same_pixels_as_rows(tiny) -> None:
    root, _ = tiny
    kw = {"root": str(root), "subset": 6, "val_size": 2, "test_subset": 3, "checksum": "skip"}
    images = CIFAR10DataModule(**kw).full_batch()
    flat_dm = CIFAR10DataModule(**kw, flatten=True)
    flat = flat_dm.full_batch()
    assert flat.x_train.shape == (6, 3072) and flat_dm.info.in_shape == (3072,)
    assert torch.equal(flat.x_test, images.x_test.reshape(3, -1))  # standardized, then flattened


def test_standardization_uses_train_statistics(tiny) -> None:
    root, (x, *_rest) = tiny
    dm = CIFAR10DataModule(  # the cifar-10-batches-py folder itself works as root too
        root=str(root / "cifar-10-batches-py"), subset=10, val_size=4, checksum="skip"
    )
    d = dm.full_batch()
    chans = x[:10].reshape(10, 3, 1024) / 255.0
    mean, std = chans.mean(axis=(0, 2)), chans.std(axis=(0, 2), ddof=1)
    torch.testing.assert_close(d.x_train.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(d.x_train.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-5, rtol=0)
    expect = (x[10:14].reshape(4, 3, 1024) / 255.0 - mean[None, :, None]) / std[None, :, None]
    np.testing.assert_allclose(d.x_val.reshape(4, 3, 1024).numpy(), expect, atol=1e-5)
    default = CIFAR10DataModule(root=str(root), val_size=6, checksum="skip").full_batch()
    assert len(default.x_train) == 24 and len(default.x_test) == 8  # all but val; all test


def test_checksum_modes(tiny, caplog) -> None:
    root, _ = tiny
    with pytest.raises(RuntimeError, match=r"'data_batch_1'.*differ from the official CIFAR-10"):
        CIFAR10DataModule(root=str(root), subset=4, val_size=2, checksum="error").setup()
    with caplog.at_level(logging.WARNING, logger="nvk.data.cifar10"):
        d = CIFAR10DataModule(root=str(root), subset=4, val_size=2).full_batch()  # warn
    assert len(d.x_train) == 4
    assert "not comparable to published numbers" in caplog.text and "batches.meta" in caplog.text
    with pytest.raises(ValueError, match="valid: error, warn, skip"):
        CIFAR10DataModule(root=str(root), checksum="yes")


def test_missing_folder_or_file_names_path_and_source(tmp_path: Path, tiny) -> None:
    with pytest.raises(FileNotFoundError, match=r"no_cifar/cifar-10-batches-py.*cifar-10-python"):
        CIFAR10DataModule(root=str(tmp_path / "no_cifar")).setup()
    root, _ = tiny
    (root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks \['data_batch_3'\]"):
        CIFAR10DataModule(root=str(root), checksum="skip").setup()


def test_subset_too_large(tiny) -> None:
    root, _ = tiny
    with pytest.raises(ValueError, match="exceeds the 30 training images"):
        CIFAR10DataModule(root=str(root), subset=28, val_size=5, checksum="skip").setup()
    with pytest.raises(ValueError, match="exceeds the 8 test images"):
        CIFAR10DataModule(root=str(root), test_subset=9, val_size=5, checksum="skip").setup()


def test_reader_matches_torchvisions_own_class(tiny, monkeypatch) -> None:
    """With the md5 check forced to pass, torchvision's CIFAR10 reads the same arrays."""
    import torchvision.datasets.cifar as tv

    from nvk.data.cifar10 import read_cifar10

    root, _ = tiny
    monkeypatch.setattr(tv, "check_integrity", lambda *a, **k: True)
    for train in (True, False):
        ref = tv.CIFAR10(str(root), train=train, download=False)
        x, y = read_cifar10(root, train=train, checksum="skip")
        np.testing.assert_array_equal(x, ref.data.transpose(0, 3, 1, 2))
        np.testing.assert_array_equal(y, ref.targets)
    assert ref.classes[3] == "cat"


def test_default_config_finds_the_shared_copy_then_data_folder(tmp_path, monkeypatch) -> None:
    """No path flag: NVK_CIFAR_DIR, else ../shared/data/cifar10, else data/cifar10."""
    from hydra.utils import instantiate

    from nvk.data.cifar10 import locate_cifar10
    from tests.conftest import ROOT, compose_cfg

    monkeypatch.delenv("NVK_CIFAR_DIR", raising=False)
    cfg = compose_cfg("train", ["data=cifar10"], tmp_path)
    assert cfg.data.root is None
    assert [Path(p).resolve() for p in cfg.data.search] == [
        (ROOT / ".." / "shared" / "data" / "cifar10").resolve(),
        Path(cfg.paths.data_dir, "cifar10").resolve(),
    ]
    dm = instantiate(cfg.data)
    assert dm.root is None and dm.download is False
    first, second = tmp_path / "a", tmp_path / "b"
    write_tiny_cifar10(second)
    assert locate_cifar10(None, [first, second]) == second  # the first that has it
    write_tiny_cifar10(first)
    assert locate_cifar10(None, [first, second]) == first
    monkeypatch.setenv("NVK_CIFAR_DIR", str(second))  # the environment wins
    assert compose_cfg("train", ["data=cifar10"], tmp_path).data.root == str(second)


def test_missing_everywhere_names_every_folder_and_the_download_option(tmp_path) -> None:
    search = [str(tmp_path / "shared"), str(tmp_path / "data")]
    with pytest.raises(FileNotFoundError) as e:
        CIFAR10DataModule(search=search).setup()
    msg = str(e.value)
    assert all(f"{s}/cifar-10-batches-py" in msg for s in search)
    assert "cifar-10-python.tar.gz" in msg and "data.download=true" in msg


def _silent_server():
    """A loopback server that accepts connections and never answers (a black-holed network)."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    held: list = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    return srv, stop, held


@pytest.mark.parametrize("network", ["refused", "silent"])
def test_download_without_network_fails_fast_with_instructions(tmp_path, monkeypatch, network):
    """data.download=true never hangs: refused or silent, it fails within the timeout and says
    how to get the data (the URL points at loopback: no traffic leaves the machine)."""
    import socket
    import time

    from torchvision.datasets import CIFAR10

    if network == "refused":
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        stop = None
    else:
        srv, stop, held = _silent_server()
        port = srv.getsockname()[1]
    monkeypatch.setattr(CIFAR10, "url", f"http://127.0.0.1:{port}/cifar-10-python.tar.gz")
    dm = CIFAR10DataModule(root=str(tmp_path / "cifar"), download=True, download_timeout=1.0)
    t0 = time.perf_counter()
    try:
        with pytest.raises(FileNotFoundError, match=r"downloading .* failed.*tar xzf"):
            dm.setup()
    finally:
        if stop is not None:
            stop.set()
            for c in held:
                c.close()
            srv.close()
    assert time.perf_counter() - t0 < 20  # torchvision tries https then http: two timeouts
    assert socket.getdefaulttimeout() is None  # restored
