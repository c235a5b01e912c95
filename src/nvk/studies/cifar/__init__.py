"""CIFAR-10 Table 3 (Geifman et al. 2020), 2000-image column: every kernel and network on one
split, choices made on held-out training images (docs/conv.md)."""

from nvk.studies.cifar.cell import grid_points, row_task
from nvk.studies.cifar.records import load_records, wilson
from nvk.studies.cifar.table import build_table

__all__ = ["build_table", "grid_points", "load_records", "row_task", "wilson"]
