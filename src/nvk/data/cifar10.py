"""`data=cifar10`: CIFAR-10 from a local folder; downloaded only when asked (`download`).

Where: `root` (`paths.cifar_dir`, env `NVK_CIFAR_DIR`) when given, else the first folder of
`search` that holds `cifar-10-batches-py/` (the config lists the shared copy
`../shared/data/cifar10`, then `data/cifar10`), each as extracted from
https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (the folder itself works too).
With `download=True` and no copy found, torchvision downloads and md5-checks the archive into
`root` (else the last `search` folder), with a socket timeout (`download_timeout` seconds), so
a machine without network fails in seconds with the instructions instead of hanging.
Images stay images: x: (N, 3, 32, 32) float32; fully connected models flatten them.

Reading goes through torchvision's `CIFAR10(root, train, download=False)` code path (file
names, pickle layout, label list in `batches.meta`). Torchvision refuses any folder whose
files differ from the official archive's md5; here that comparison is done first, with the
same md5 values (`official_checksums`), and `checksum` decides what a mismatch does:
`error` (refuse), `warn` (default: log that results are not comparable to published numbers,
then load), `skip` (no md5 computed). The files are then read by a subclass whose only change
is that torchvision's own integrity check becomes an existence check, so reduced or re-packed
folders in the same pickle layout load too (the tests build such a tiny folder).

Split: train = the first `subset` training images (all but the last `val_size` if null),
val = the `val_size` training images after them, test = the first `test_subset` test images
(all if null). Pixels are scaled to [0, 1] and, with `standardize`, each channel is
standardized with the mean and std of the train images actually used.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torchvision.datasets import CIFAR10
from torchvision.datasets.utils import check_integrity

from nvk.data.base import DataInfo, FullBatch, NVKDataModule

BASE = CIFAR10.base_folder  # "cifar-10-batches-py"
FILES = [f for f, _ in CIFAR10.train_list + CIFAR10.test_list] + [CIFAR10.meta["filename"]]
CHECKSUM_MODES = ("error", "warn", "skip")
log = logging.getLogger(__name__)


def how_to_get(folder: Path) -> str:
    """Instructions for obtaining CIFAR-10 into `folder`."""
    return (
        f"download {CIFAR10.url} and run `tar xzf cifar-10-python.tar.gz -C {folder}` (it "
        f'creates {folder / BASE}), or python -c "import torchvision; '
        f"torchvision.datasets.CIFAR10('{folder}', download=True)\"; or point "
        "paths.cifar_dir (env NVK_CIFAR_DIR) at a folder that has it"
    )


class _CIFAR10NoChecksum(CIFAR10):
    """torchvision's CIFAR10 with the md5 comparison replaced by an existence check."""

    def _check_integrity(self) -> bool:
        return all(
            (Path(self.root) / BASE / f).is_file() for f, _ in self.train_list + self.test_list
        )

    def _load_meta(self) -> None:
        import pickle

        with open(Path(self.root) / BASE / self.meta["filename"], "rb") as f:
            self.classes = pickle.load(f, encoding="latin1")[self.meta["key"]]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}


def cifar_root(root: str | Path) -> Path:
    """The folder that contains `cifar-10-batches-py/`; errors name the path and the fix."""
    p = Path(root).expanduser()
    if p.name == BASE and p.is_dir():
        p = p.parent
    folder = p / BASE
    if not folder.is_dir():
        raise FileNotFoundError(f"CIFAR-10 not found: no folder {folder}; {how_to_get(p)}")
    missing = [f for f in FILES if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"CIFAR-10 folder {folder} lacks {missing}; {how_to_get(p)}")
    return p


def locate_cifar10(
    root: str | Path | None,
    search: Sequence[str | Path] = (),
    *,
    download: bool = False,
    timeout: float = 30.0,
) -> Path:
    """The folder holding `cifar-10-batches-py/`: `root` if given, else the first of `search`
    that has it; with `download`, torchvision's download (md5-checked) into `root` or the last
    `search` folder when none has it. FileNotFoundError naming every folder tried otherwise."""
    tried = [Path(root).expanduser()] if root else [Path(s).expanduser() for s in search]
    if not tried:
        raise ValueError("CIFAR-10: give data.root (paths.cifar_dir) or data.search folders")
    for folder in tried:
        base = folder if folder.name == BASE else folder / BASE
        if base.is_dir():  # present: any missing file is reported for this folder
            return cifar_root(folder)
    target = tried[-1]
    if download:
        old = socket.getdefaulttimeout()
        socket.setdefaulttimeout(timeout)  # urllib waits forever on a silent network otherwise
        try:
            CIFAR10(str(target), train=True, download=True)
        except Exception as e:  # URLError, timeouts, md5 mismatch (RuntimeError)
            raise FileNotFoundError(
                f"CIFAR-10: downloading {CIFAR10.url} into {target} failed ({e}); "
                f"{how_to_get(target)}"
            ) from e
        finally:
            socket.setdefaulttimeout(old)
        return cifar_root(target)
    where = ", ".join(str(f / BASE) for f in tried)
    raise FileNotFoundError(
        f"CIFAR-10 not found: none of {where} exists; {how_to_get(target)}; or pass "
        "data.download=true on a machine with network access"
    )


def official_checksums(root: Path) -> list[str]:
    """Names of the files under `root/cifar-10-batches-py` whose md5 differs from the archive."""
    folder = root / BASE
    files = (
        CIFAR10.train_list + CIFAR10.test_list + [[CIFAR10.meta["filename"], CIFAR10.meta["md5"]]]
    )
    return [f for f, md5 in files if not check_integrity(str(folder / f), md5)]


def read_cifar10(
    root: str | Path, *, train: bool, checksum: str = "warn"
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of the train or test batches."""
    if checksum not in CHECKSUM_MODES:
        raise ValueError(f"unknown data.checksum={checksum!r}; valid: {', '.join(CHECKSUM_MODES)}")
    r = cifar_root(root)
    if checksum != "skip":
        differ = official_checksums(r)
        if differ and checksum == "error":
            raise RuntimeError(
                f"{r / BASE}: {differ} differ from the official CIFAR-10 archive (md5); for a "
                "deliberately reduced or re-packed copy pass data.checksum=warn or skip"
            )
        if differ:
            log.warning(
                "%s: %s differ from the official CIFAR-10 archive (md5): results are not "
                "comparable to published numbers",
                r / BASE,
                differ,
            )
    ds = _CIFAR10NoChecksum(str(r), train=train, download=False)
    return np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)), np.asarray(ds.targets, np.int64)


def standardize_channels(
    train: torch.Tensor, *others: torch.Tensor
) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Images (N, C, H, W) standardized per channel with the mean and std of `train`:
    ([train, *others], mean, std), mean/std (1, C, 1, 1)."""
    mean = train.mean(dim=(0, 2, 3), keepdim=True)
    std = train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-8)
    return [(a - mean) / std for a in (train, *others)], mean, std


class CIFAR10DataModule(NVKDataModule):
    """CIFAR-10 images (N, 3, 32, 32), 10 classes; see the module docstring for the split."""

    name = "cifar10"

    def __init__(
        self,
        *,
        root: str | None = None,
        search: Sequence[str] = (),
        download: bool = False,
        download_timeout: float = 30.0,
        subset: int | None = None,
        test_subset: int | None = None,
        val_size: int = 1000,
        standardize: bool = True,
        checksum: str = "warn",
        flatten: bool = False,
        batch_size: int = 128,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        for key, v in (("subset", subset), ("test_subset", test_subset)):
            if v is not None and v < 1:
                raise ValueError(f"data.{key} must be >= 1 or null, got {v}")
        if val_size < 1:
            raise ValueError(f"data.val_size must be >= 1, got {val_size}")
        self.root = None if root is None else Path(root)  # found (or fetched) when loading
        self.search, self.download, self.download_timeout = list(search), download, download_timeout
        self.subset, self.test_subset, self.val_size = subset, test_subset, val_size
        self.standardize, self.checksum, self.flatten = standardize, checksum, flatten
        if checksum not in CHECKSUM_MODES:
            raise ValueError(
                f"unknown data.checksum={checksum!r}; valid: {', '.join(CHECKSUM_MODES)}"
            )
        self.mean: torch.Tensor | None = None
        self.std: torch.Tensor | None = None

    @property
    def info(self) -> DataInfo:
        return DataInfo(self.name, (3072,) if self.flatten else (3, 32, 32), 10, "classification")

    def _load(self) -> FullBatch:
        self.root = locate_cifar10(
            self.root, self.search, download=self.download, timeout=self.download_timeout
        )
        x, y = read_cifar10(self.root, train=True, checksum=self.checksum)
        xt, yt = read_cifar10(self.root, train=False, checksum="skip")  # checked just above
        n_train = len(x) - self.val_size if self.subset is None else self.subset
        if n_train < 1 or n_train + self.val_size > len(x):
            raise ValueError(
                f"data.subset={self.subset} plus data.val_size={self.val_size} exceeds the "
                f"{len(x)} training images in {self.root / BASE}"
            )
        n_test = len(xt) if self.test_subset is None else self.test_subset
        if n_test > len(xt):
            raise ValueError(f"data.test_subset={n_test} exceeds the {len(xt)} test images")

        def f32(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(a.astype(np.float32) / 255.0)

        x_tr, x_va, x_te = (
            f32(x[:n_train]),
            f32(x[n_train : n_train + self.val_size]),
            f32(xt[:n_test]),
        )
        if self.standardize:
            (x_tr, x_va, x_te), self.mean, self.std = standardize_channels(x_tr, x_va, x_te)
        if self.flatten:
            x_tr, x_va, x_te = (a.reshape(len(a), -1) for a in (x_tr, x_va, x_te))
        t = torch.from_numpy
        return FullBatch(
            x_tr,
            t(y[:n_train]),
            x_va,
            t(y[n_train : n_train + self.val_size]),
            x_te,
            t(yt[:n_test]),
        )
