"""Evaluate: `python evaluate.py ckpt_path=<run>/checkpoints/last.ckpt` (see conf/task/)."""

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig

from nvk.entry import prepare_environment

prepare_environment()


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> float | None:
    from nvk.run import metric_value

    return metric_value(instantiate(cfg.task)(cfg), cfg.get("optimized_metric"))


if __name__ == "__main__":
    main()
