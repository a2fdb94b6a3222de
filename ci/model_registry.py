"""dvc.yaml's `artifacts:`, every model registered by name, written from the one list of models.

    python docs/generate.py    # rewrites this block with the docs' generated blocks (--check: only compare)

DVC's `artifacts:` section has no `foreach`, so the registry cannot follow params.yaml by itself as
the stages do: it is the block between `# generated: artifacts` and `# end: artifacts` at the end of
dvc.yaml, one entry per model stages/models.py lists (mlp, then lenet-<variant> for each entry of
`lenet`), and tests/test_dvc_yaml.py fails until it matches. `dvc artifacts get <repo> lenet-tuned`
then fetches models/lenet-tuned.keras of its latest version (an annotated git tag, lenet-tuned@v1.0.0)
from the team's remote without cloning the project (docs/sharing.md).
"""

import json
import re
from pathlib import Path

import yaml

from stages import models
from stages.common import model_outputs

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = "dvc.yaml"
HAND_IN = "reference/hand_in.json"  # the models the assignment asks for; the others are beyond it
BLOCK = re.compile(r"^(# generated: artifacts\b[^\n]*\n)(?P<body>.*?)^(# end: artifacts)$", re.DOTALL | re.MULTILINE)
USE = "28x28 grey images in, 10 class probabilities out (tools/classify.py)"


def description(model):
    what = "a LeNet variant" if models.is_lenet(model) else "the assignment's MLP"
    return f"Fashion-MNIST classifier, {what} ({models.params_key(model)} in params.yaml), Keras 3; {USE}"


def labels(model, config, assignment):
    tags = ["fashion-mnist", "keras", "lenet" if models.is_lenet(model) else "mlp"]
    tags.append("assignment" if model in assignment else "beyond-assignment")
    if config.get("test_time_flip"):
        tags.append("flip-tta")  # predict with the mirror image too, as the evaluation does
    return tags


def artifacts(raw_params, assignment):
    """{name: DVC artifact} for every model `raw_params` (params.yaml as read) defines."""
    registry = {}
    for model in models.names(raw_params):
        config = raw_params["lenet"][models.variant(model)] if models.is_lenet(model) else raw_params["mlp"]
        registry[model] = {
            "path": model_outputs(model)["model"].as_posix(),
            "type": "model",
            "desc": description(model),
            "labels": labels(model, config, assignment),
        }
    return registry


def render(root=ROOT):
    raw_params = yaml.safe_load((root / "params.yaml").read_text())
    assignment = json.loads((root / HAND_IN).read_text())["models"]
    # Labels as one flow list a line; no folding of the description.
    return yaml.safe_dump(
        {"artifacts": artifacts(raw_params, assignment)}, sort_keys=False, default_flow_style=None, width=1000
    )


def regenerate(text, body):
    """dvc.yaml's text with its artifacts block replaced by `body`; an error when the markers are missing."""
    if len(BLOCK.findall(text)) != 1:
        raise ValueError(f"{PIPELINE}: expected one '# generated: artifacts' ... '# end: artifacts' block")
    return BLOCK.sub(lambda m: m.group(1) + body + m.group(3), text)


def stale(root=ROOT, write=False):
    """True when dvc.yaml's artifacts differ from the models params.yaml defines; rewrite them if `write`."""
    path = root / PIPELINE
    text = path.read_text()
    new = regenerate(text, render(root))
    if new != text and write:
        path.write_text(new)
    return new != text
