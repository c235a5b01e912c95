"""One way for a study to log: the Lightning loggers `cfg.logger` configures, as in train.py.

`log_study(cfg, metrics, ...)` builds the loggers with `nvk.run.instantiate_loggers` (logger=many,
the train.py default: W&B offline unless WANDB_MODE or logger.wandb.mode says otherwise, and
CSV; logger=csv: no W&B run at all; logger=none: nothing), logs the resolved config as
hyperparameters, then per-step metrics, the summary metrics, figures and tables, finalizes every
logger and always closes W&B (`nvk.run.finish_wandb`, the run marked failed if logging raised).
Figures and tables go to the loggers that take them (W&B: `log_image`, `log_table`); the others
(CSV) skip them: the study writes its PNGs and tables into its own folder anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from nvk.run import finish_wandb, instantiate_loggers


def log_study(
    cfg: DictConfig,
    metrics: Mapping[str, float],
    *,
    step: int | None = None,
    per_step: Iterable[tuple[int, Mapping[str, float]]] = (),
    figures: Mapping[str, str | Path] | None = None,
    tables: Mapping[str, Any] | None = None,
) -> None:
    """Log one study run to the loggers of `cfg.logger`.

    metrics: summary values, logged at `step` (None: the logger's next step); per_step:
    (step, metrics) pairs logged first, in order (e.g. residual curves); figures: key → PNG path;
    tables: key → pandas DataFrame. Keys are logged as given."""
    loggers = instantiate_loggers(cfg)
    if not loggers:
        return
    status = "failed"
    try:
        params = OmegaConf.to_container(cfg, resolve=True)
        for lg in loggers:
            lg.log_hyperparams(params)
        for t, row in per_step:
            for lg in loggers:
                lg.log_metrics(dict(row), step=t)
        for lg in loggers:
            lg.log_metrics(dict(metrics), step=step)
            if hasattr(lg, "log_image"):
                for key, path in (figures or {}).items():
                    lg.log_image(key=key, images=[str(path)], step=step)
            if hasattr(lg, "log_table"):
                for key, frame in (tables or {}).items():
                    lg.log_table(key=key, dataframe=frame, step=step)
        status = "success"
    finally:
        try:
            for lg in loggers:
                lg.finalize(status)  # CSV writes metrics.csv here
        finally:
            finish_wandb(exit_code=int(status != "success"))
