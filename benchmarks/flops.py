"""Every model's training FLOPs for a project copy's params (stages/flops.py counts them).

python -m benchmarks.flops <project>
"""

import json
import sys
from pathlib import Path


def project_trainings(project):
    """{model: FLOPs of its training} for every model of `project`'s params.yaml, with its prepared data's sizes.

    Builds each network (TensorFlow is imported here): run it in a process of its own.
    """
    import numpy as np

    from stages import flops, models, networks, params, quiet_tf

    quiet_tf.import_tensorflow()
    project = Path(project)
    raw = params.load(project / "params.yaml")
    sizes = {}
    for split in ("train", "val"):
        with np.load(project / "data" / "prepared" / f"{split}.npz") as data:
            sizes[split] = len(data["label"])
    configs = {model: params.check(raw, models.params_key(model)) for model in models.names(raw)}
    return {
        model: flops.training(networks.build(model, config), config.epochs, sizes["train"], sizes["val"])
        for model, config in configs.items()
    }


if __name__ == "__main__":
    print(json.dumps(project_trainings(sys.argv[1] if len(sys.argv) > 1 else ".")))
