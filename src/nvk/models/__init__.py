"""Lightning modules: networks and (later) kernel models, logging the same metric keys."""

from nvk.models.arch import ArchKernelModule, ArchNetModule
from nvk.models.guards import (
    FiniteLossGuard,
    NonFiniteError,
    NonFiniteLossError,
    NonFinitePredictionError,
)
from nvk.models.kernel import KernelModule
from nvk.models.metrics import METRIC_KEYS, compute_metrics
from nvk.models.net import MLPModule, NetModule

__all__ = [
    "METRIC_KEYS",
    "ArchKernelModule",
    "ArchNetModule",
    "FiniteLossGuard",
    "KernelModule",
    "MLPModule",
    "NetModule",
    "NonFiniteError",
    "NonFiniteLossError",
    "NonFinitePredictionError",
    "compute_metrics",
]
