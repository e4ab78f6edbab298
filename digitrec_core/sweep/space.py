"""A sweep's search space: the values to try for each hyperparameter, and the trials drawn from them."""

from __future__ import annotations

import itertools
import math
import os
import random
import tomllib
from dataclasses import dataclass, replace
from typing import Any

from digitrec_core.learning.runs import TrainConfig, is_finite, is_whole
from digitrec_core.models import get_architecture
from digitrec_core.text import plural

# A space's dimensions in the order they vary in its grid (the last one fastest), with the names a
# TOML file uses for them (the CLI's flags without the dashes).
DIMENSIONS = {"arch": "arch", "learning_rate": "lr", "batch_size": "batch-size", "epochs": "epochs",
              "augment": "augment", "limit": "limit"}


@dataclass(frozen=True)
class SearchSpace:
    """The values to try for each hyperparameter; `None` takes the architecture's recipe (all images for `limit`)."""

    arch: tuple[str, ...] = ("default",)
    learning_rate: tuple[float | None, ...] = (None,)
    batch_size: tuple[int | None, ...] = (None,)
    epochs: tuple[int | None, ...] = (None,)
    augment: tuple[bool | None, ...] = (None,)
    limit: tuple[int | None, ...] = (None,)  # training images (before the validation split)

    def __post_init__(self) -> None:
        for name in DIMENSIONS:
            values = tuple(getattr(self, name))
            if not values:
                raise ValueError(f"The search space has no value for {DIMENSIONS[name]}.")
            object.__setattr__(self, name, tuple(dict.fromkeys(values)))  # duplicates would repeat trials
        for arch in self.arch:
            get_architecture(arch)  # an unknown name is said here, with the known ones
        checks = {"learning_rate": lambda v: is_finite(v) and v > 0,
                  "batch_size": lambda v: is_whole(v, 1), "epochs": lambda v: is_whole(v, 1),
                  "augment": lambda v: isinstance(v, bool), "limit": lambda v: is_whole(v, 2)}
        for name, ok in checks.items():
            for v in getattr(self, name):
                if v is not None and not ok(v):
                    raise ValueError(f"{v!r} is not a valid {DIMENSIONS[name]} for a sweep.")

    @classmethod
    def from_mapping(cls, values: dict[str, Any], base: SearchSpace | None = None) -> SearchSpace:
        """`base` (default: the recipe everywhere) with the dimensions in `values` replaced; each value a
        scalar or a list, keyed by its TOML name (`lr`, `batch-size`; `learning_rate`, `batch_size` too)."""
        aliases = {**{k: k for k in DIMENSIONS}, **{v: k for k, v in DIMENSIONS.items()}, "batch_size": "batch_size"}
        unknown = sorted(set(values) - set(aliases))
        if unknown:
            raise ValueError(f"Unknown search-space key {', '.join(map(repr, unknown))}; "
                             f"use {', '.join(DIMENSIONS.values())}.")
        chosen = {aliases[k]: tuple(v) if isinstance(v, (list, tuple)) else (v,) for k, v in values.items()}
        return replace(base or cls(), **chosen)

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> SearchSpace:
        """A space from a small TOML file, e.g. `arch = ["default", "seed"]`, `lr = [1e-3, 3e-3]`, `epochs = 3`."""
        try:
            with open(path, "rb") as f:
                values = tomllib.load(f)
        except OSError as e:
            raise ValueError(f"The search space {path} could not be read ({e.strerror or e}).") from None
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"The search space {path} is not valid TOML ({e}).") from None
        return cls.from_mapping(values)

    @property
    def size(self) -> int:
        return math.prod(len(getattr(self, name)) for name in DIMENSIONS)

    def grid(self) -> list[dict[str, Any]]:
        """Every combination, the first dimension (arch) varying slowest."""
        return [dict(zip(DIMENSIONS, combo)) for combo in itertools.product(*(getattr(self, n) for n in DIMENSIONS))]

    def trials(self, n: int | None = None, *, seed: int = 0, validation_split: float | None = None,
               n_images: int | None = None) -> list[TrainConfig]:
        """`n` trials (default: the grid's size), every field resolved (`TrainConfig.resolved(n_images)`).

        `n` equal to the grid's size: each combination once, in grid order, all with `seed`. Fewer: a
        random choice of combinations (drawn with `seed`), in grid order. More: the whole grid again
        with `seed + 1`, and so on, then a random choice for the rest: a repeated combination is a new
        seed (another split, initialisation and order), never the same run twice.
        """
        grid = self.grid()
        n = len(grid) if n is None else n
        if n < 1:
            raise ValueError(f"A sweep needs at least 1 trial, not {n}.")
        rounds, rest = divmod(n, len(grid))
        picked = [(point, seed + r) for r in range(rounds) for point in grid]
        chosen = sorted(random.Random(seed).sample(range(len(grid)), rest))
        picked += [(grid[i], seed + rounds) for i in chosen]
        return [TrainConfig(**point, validation_split=validation_split, seed=s).resolved(n_images)
                for point, s in picked]


def describe(cfg: TrainConfig) -> str:
    """A trial's hyperparameters in a few words, for progress lines."""
    images = "all images" if cfg.limit is None else plural(cfg.limit, "image")
    return (f"{cfg.arch}, lr {cfg.learning_rate:g}, batch {cfg.batch_size}, {plural(cfg.epochs, 'epoch')}, "
            f"{'augmented' if cfg.augment else 'no augmentation'}, {images}, seed {cfg.seed}")

