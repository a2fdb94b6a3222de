"""train_lenet stage: one LeNet variant, named on the command line, as `lenet.<variant>` in params.yaml defines it.

The network is stages/networks.py's; the training, stages/training.py's.
"""

import argparse

from stages import params, training
from stages.common import run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", help="a key under `lenet` in params.yaml, such as base")
    variant = parser.parse_args().variant
    cpu_isa, seed, training_seed, train, config = params.read(
        "cpu_isa", "seed", "training_seed", "train", f"lenet.{variant}"
    )
    training.train(
        f"lenet-{variant}",
        config,
        seed=seed if training_seed is None else training_seed,
        train_params=train,
        cpu_isa=cpu_isa,
    )


if __name__ == "__main__":
    run(main)
