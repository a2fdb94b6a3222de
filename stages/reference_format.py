"""reference/summary.json's format: what the reference_summary stage writes and `make verify` reads."""

import math
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stages.common import REFERENCE_SUMMARY_FILE, StageError
from stages.comparison import t_quantile


class Stats(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mean: float
    std: float
    min: float
    max: float
    interval: tuple[float, float]


class Spread(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mean: float
    std: float


class ModelReference(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n: int = Field(ge=2)
    seeds: list[int]
    test_accuracy: Stats
    test_loss: Stats
    params: dict
    # Absent when a run of the model was recorded before the records kept the signs
    overfitting: dict[str, Spread] | None = None


class Summary(BaseModel):
    """reference/summary.json: what this stage writes and `make verify` reads."""

    model_config = ConfigDict(extra="forbid")
    rule: str
    confidence: float
    split: dict
    cpu_models: list[str]
    code_versions: list[str]
    models: dict[str, ModelReference]


def load_summary(path=REFERENCE_SUMMARY_FILE):
    """The committed summary, checked; a missing or damaged file is a one-line StageError."""
    try:
        return Summary.model_validate_json(Path(path).read_text())
    except OSError as error:
        raise StageError(f"{path}: cannot read the reference summary ({error.strerror})") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(map(str, first["loc"])) or "the file"
        raise StageError(f"{path}: not a reference summary ({where}: {first['msg']}); git checkout it") from None


def prediction_interval(mean, std, n, confidence):
    """(low, high): where one more run lands with probability `confidence`, from n runs of this mean and std."""
    half = t_quantile(confidence, n - 1) * std * math.sqrt(1 + 1 / n)
    return mean - half, mean + half


# Knobs added after the reference was made: at these values a layer is the plain one, so a config that gives
# them so is the same network as one without them (stages/schema.py's Lenet).
PLAIN_KNOBS = {"conv": "full", "strides": 1}


def as_compared(config):
    """A model's params as compared with the reference's: a knob whose every entry is its plain value left out."""
    if config is None:
        return None
    return {
        key: value
        for key, value in config.items()
        if not (key in PLAIN_KNOBS and isinstance(value, list) and all(v == PLAIN_KNOBS[key] for v in value))
    }
