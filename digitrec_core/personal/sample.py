"""One personal sample's metadata (`<id>.json`) and its checks; the error every part of the set raises.

`<id>.json` is `{"format": 1, "id", "label", "predicted", "probability", "model", "created_at"}`:
the label (0-9), what the model predicted and with which probability (or null), the model's name
(or null), and when the sample was stored (UTC, ISO 8601 to the second, as the model store writes it).
Unknown keys are ignored, so a later version can add some.

Ids look like `20261201-074512-123-3f9a`: UTC date, time, milliseconds and a random suffix, so they
sort by time (the set lists oldest first) and are short enough to show.
"""

from __future__ import annotations

import numbers
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

FORMAT = 1
META, RAW, DIGIT = ".json", ".png", ".28.png"  # a sample's files: <id>.json, <id>.png, <id>.28.png
ID_RE = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9]{3}-[0-9a-f]{4,32}")
MAX_MODEL_NAME = 200


class PersonalDigitsError(ValueError):
    """A sample or a zip that cannot be used, said in words a user can act on."""


@dataclass(frozen=True)
class Sample:
    id: str
    label: int
    predicted: int | None
    probability: float | None
    model: str | None
    created_at: str  # ISO 8601, UTC


def check_digit(value: Any, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or not 0 <= value <= 9:
        raise PersonalDigitsError(f"The {what} must be a whole number from 0 to 9, not {value!r}.")
    return int(value)


def sample_meta(label: Any, predicted: Any, probability: Any, model: Any) -> dict:
    """The checked metadata fields; PersonalDigitsError names the first one that is wrong."""
    label = check_digit(label, "label")
    if predicted is not None:
        predicted = check_digit(predicted, "predicted digit")
    if probability is not None:
        if (isinstance(probability, (bool, np.bool_)) or not isinstance(probability, numbers.Real)
                or not 0 <= float(probability) <= 1):
            raise PersonalDigitsError(f"The probability must be a number from 0 to 1, not {probability!r}.")
        probability = float(probability)
    if model is not None and (not isinstance(model, str) or not 0 < len(model) <= MAX_MODEL_NAME):
        raise PersonalDigitsError(f"The model name must be a short text, not {model!r}.")
    return {"label": label, "predicted": predicted, "probability": probability, "model": model}


def parse_meta(meta: Any, sample_id: str) -> Sample:
    """A Sample from stored metadata, checking every field: a hand-edited or damaged file fails here."""
    if not isinstance(meta, dict):
        raise PersonalDigitsError("its metadata is not a JSON object.")
    if meta.get("id") != sample_id:
        raise PersonalDigitsError(f"its metadata names another sample ({meta.get('id')!r}).")
    try:
        fields = sample_meta(meta.get("label"), meta.get("predicted"), meta.get("probability"), meta.get("model"))
        created = check_time(meta.get("created_at"))
    except PersonalDigitsError as e:
        raise PersonalDigitsError(f"its metadata is invalid: {e}") from e
    return Sample(sample_id, created_at=created, **fields)


def check_time(value: Any) -> str:
    try:
        if isinstance(value, str) and len(value) <= 40:
            datetime.fromisoformat(value)
            return value
    except ValueError:
        pass
    raise PersonalDigitsError(f"The time must be an ISO 8601 date and time, not {value!r}.")


def time_from_id(sample_id: str) -> str:
    try:
        when = datetime.strptime(sample_id[:15], "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise PersonalDigitsError(f"{sample_id!r} does not start with a valid date and time.") from None
    return when.isoformat(timespec="seconds")


def brief(e: Exception) -> str:
    return getattr(e, "strerror", None) or str(e) or type(e).__name__
