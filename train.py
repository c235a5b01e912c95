"""Train a network or a kernel model: `python train.py model=mlp data=digits`."""

import hydra
from omegaconf import DictConfig

from nvk.entry import prepare_environment

prepare_environment()


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from nvk.run import metric_value, train

    return metric_value(train(cfg), cfg.get("optimized_metric"))


if __name__ == "__main__":
    main()
