"""Train a network or a kernel model (`python train.py model=mlp data=digits`), or run a study
(`python train.py -m experiment=uci_table1`): `cfg.task` (conf/task/) says which."""

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig

from nvk.entry import prepare_environment

prepare_environment()


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from nvk.run import metric_value

    return metric_value(instantiate(cfg.task)(cfg), cfg.get("optimized_metric"))


if __name__ == "__main__":
    main()
