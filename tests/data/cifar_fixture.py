"""A tiny CIFAR-10 folder in the real pickle format (the layout of cifar-10-python.tar.gz)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

LABEL_NAMES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


def write_tiny_cifar10(root: Path, per_batch: int = 6, n_test: int = 8, seed: int = 0):
    """`root/cifar-10-batches-py/` with data_batch_1..5, test_batch, batches.meta.

    Each batch is a pickled dict: `data` (n, 3072) uint8 rows = 1024 red, 1024 green, 1024
    blue values of a 32×32 image in row-major order; `labels` list of ints; `batch_label`;
    `filenames`. Returns (train data (5·per_batch, 3072), labels, test data, test labels).
    """
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)

    def batch(n: int, label: str) -> tuple[dict, np.ndarray, list[int]]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        entry = {
            "batch_label": label,
            "labels": labels,
            "data": data,
            "filenames": [f"img_{label}_{i}.png" for i in range(n)],
        }
        return entry, data, labels

    train_x, train_y = [], []
    for i in range(1, 6):
        entry, data, labels = batch(per_batch, f"training batch {i} of 5")
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(entry, protocol=2))
        train_x.append(data)
        train_y += labels
    entry, test_x, test_y = batch(n_test, "testing batch 1 of 1")
    (folder / "test_batch").write_bytes(pickle.dumps(entry, protocol=2))
    meta = {"num_cases_per_batch": per_batch, "label_names": LABEL_NAMES, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return np.concatenate(train_x), np.array(train_y), test_x, np.array(test_y)
