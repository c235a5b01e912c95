"""Process-level defaults for the entry points, set before heavy imports."""

from __future__ import annotations

import os
import warnings


def prepare_environment() -> None:
    """W&B offline and silent unless the user chose otherwise; `NVK_ROOT` (conf/paths) = the
    launch directory unless set; quiet known-harmless warnings."""
    os.environ.setdefault("NVK_ROOT", os.getcwd())
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_CONSOLE", "off")
    os.environ.setdefault("HYDRA_FULL_ERROR", "0")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*")
