"""train_mlp stage: the feed-forward network of Part 3 on the flattened images.

The network is stages/networks.py's; the training, stages/training.py's.
"""

from stages import params, training
from stages.common import run


def main():
    cpu_isa, seed, training_seed, train, config = params.read("cpu_isa", "seed", "training_seed", "train", "mlp")
    training.train(
        "mlp", config, seed=seed if training_seed is None else training_seed, train_params=train, cpu_isa=cpu_isa
    )


if __name__ == "__main__":
    run(main)
