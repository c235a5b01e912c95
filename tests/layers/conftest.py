"""Shared setup of the layer tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """These tests run many small tensor ops: one thread is faster than two and immune to a busy
    neighbour (the Monte Carlo file ran 5x faster on a shared 2-core machine); restored after
    each test."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
