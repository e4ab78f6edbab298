"""Fuzzing the model store's metadata: copies of the shipped model (no TensorFlow, no training), three models
with the first active, their `meta.json` and `active.json` damaged every way a hand edit, a crash, another
version or a hostile file can, and the check that the store still lists, describes and loads what it can.
tests/test_fuzz_store.py runs a few hundred; bench/fuzz_store.py runs them at scale."""

from __future__ import annotations

import json
import math
import random
import shutil
from pathlib import Path

import pytest

from digitrec_core.store import META_FILE, SHIPPED_DIR, ModelInfo, ModelStore, ModelStoreError
from digitrec_core.text import plural, when
from tests.support.corrupt import mutate

GOOD = json.loads((SHIPPED_DIR / META_FILE).read_text())
NAMES = ("seed-20261201-100000-aaaa", "default-20261201-110000-bbbb", "finetune-20261201-120000-cccc")
JUNK = [None, 0, -1, 1.5, -0.5, 2, True, False, "", "x", "0.99", "99.5%", "2026-13-45T99:00:00", [], {}, [1, "a"],
        {"a": 1}, 10**30, 1e308, -1e308, math.nan, math.inf, -math.inf, "\ud800", "x" * 5000, [[[[[]]]]]]


def valid_meta(name: str, rng: random.Random) -> dict:
    """A well-formed record like the store writes: a training run or a fine-tune."""
    meta = {**json.loads(json.dumps(GOOD)), "name": name,
            "created_at": f"2026-12-01T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00+00:00"}
    if name.startswith("finetune"):
        meta.update(kind="finetune", parent=NAMES[0], personal={
            "ids": ["20261201-074512-123-3f9a"], "holdout_ids": [], "n_train": 1, "n_holdout": 0,
            "before": 0.5, "after": 0.75, "base_test_accuracy": 0.99, "split": "fixed"})
    elif name.startswith("default"):  # a sweep's trial (older records have no "sweep": tolerated)
        meta["sweep"] = {"id": "sweep-20261201-105500-ab12", "trial": 2, "trials": 4}
    return meta


def deep(n: int, as_object: bool) -> str:
    return ('{"a":' * n + "1" + "}" * n) if as_object else ("[" * n + "]" * n)


def mutated_meta(meta: dict, rng: random.Random) -> bytes:
    """The bytes of `meta` with one to three kinds of damage (or, rarely, none)."""
    meta = json.loads(json.dumps(meta))
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(12)
        if not isinstance(meta, dict) or not meta:
            break
        key = rng.choice(sorted(meta))
        if kind == 0:
            del meta[key]  # a missing field
        elif kind in (1, 2):
            meta[key] = rng.choice(JUNK)  # a wrong type, a null, a huge or not-finite number
        elif kind == 3:  # a number for a text, a text for a number
            meta[key] = str(meta[key]) if isinstance(meta[key], (int, float)) else rng.random() * 10**rng.randint(0, 9)
        elif kind == 4:  # damage one level down: history, hyperparameters, personal, sweep
            sub = rng.choice(["history", "hyperparameters", "personal", "sweep"])
            target = meta.setdefault(sub, {}) if isinstance(meta.get(sub, {}), dict) else {}
            field = rng.choice(sorted(target) or ["loss", "n_train", "before", "ids", "id", "trial"])
            target[field] = rng.choice(JUNK + [["x"], [None, 0.5], [math.nan]])
        elif kind == 5:
            meta = rng.choice([[], [meta], "meta", 3, None, True])  # an array, a scalar instead of an object
        elif kind == 6:
            meta["name"] = rng.choice(["other", "", NAMES[0], "../escape", "a/b"])  # a name not the folder's
        elif kind == 7:
            meta[key] = json.loads(deep(rng.randint(2, 50), rng.random() < 0.5))  # nested, but parseable
        else:
            break  # byte-level damage below
    try:
        data = json.dumps(meta).encode()
    except (ValueError, TypeError):  # pragma: no cover - json.dumps takes everything made above
        data = b"{}"
    kind = rng.randrange(10)
    if kind == 0:
        return data[: rng.randrange(len(data) + 1)]  # truncated
    if kind == 1:
        return mutate(data, rng)  # flipped, zeroed, inserted bytes
    if kind == 2:
        return data.replace(b'"', b"\xff\xfe", 1) if rng.random() < 0.5 else data.decode().encode("utf-16")
    if kind == 3:
        return deep(rng.choice([500, 5000, 100_000]), rng.random() < 0.5).encode()  # deeper than json can go
    if kind == 4:
        return rng.choice([b"", b"null", b"[]", b"\"meta\"", b"1e999", b"NaN", b" " * 10])
    return data


def mutated_active(rng: random.Random) -> bytes:
    return rng.choice([b"", b"{", b"[]", b"null", b'{"name": 5}', b'{"name": null}', b'{"name": "../models"}',
                       b'{"name": ".tmp-x"}', b'{"name": "a\\u0000b"}', b'{"name": "\\ud800"}',
                       json.dumps({"name": "x" * 10_000}).encode(), b"\xff\xfe{}",
                       json.dumps({"name": rng.choice(NAMES)}).encode(), json.dumps({"name": GOOD["name"]}).encode()])


def make_store(root: Path, rng: random.Random) -> list[Path]:
    """Three copies of the shipped model under `root`, the first active; their meta.json paths."""
    metas = []
    for name in NAMES:
        folder = root / "models" / name
        shutil.copytree(SHIPPED_DIR, folder, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
        (folder / META_FILE).write_text(json.dumps(valid_meta(name, rng)))
        metas.append(folder / META_FILE)
    (root / "active.json").write_text(json.dumps({"name": NAMES[0]}))
    return metas


def damage(root: Path, metas: list[Path], rng: random.Random) -> None:
    """Mutate one to three of the models' metadata (the active one often), and sometimes active.json."""
    for path in rng.sample(metas, rng.randint(1, len(metas))):
        path.write_bytes(mutated_meta(valid_meta(path.parent.name, rng), rng))
    if rng.random() < 0.25:
        (root / "active.json").write_bytes(mutated_active(rng))


def check_info(info: ModelInfo) -> None:
    """Everything the pages and the CLI do with a record works on what the store hands out."""
    assert isinstance(info, ModelInfo)
    text = (f"{info.name} {info.arch} {info.params:,} {info.epochs_run} {info.n_train:,} {info.n_val:,} "
            f"{info.train_seconds:.1f} {when(info.created_at)} {plural(info.epochs_run, 'epoch')} {info.data_source}")
    for v in (info.test_accuracy, info.test_loss):
        text += "" if v is None else f"{v:.2%}"
    p = info.personal
    text += f"{p.get('n_train', 0):,}" + (f"{p['before']:.2%}" if p.get("before") is not None else "")
    if info.sweep:  # what the pages show of a sweep's trial
        text += f"{info.sweep['id']} {info.sweep.get('trial', 0):,} {info.sweep.get('trials', 0):,}"
    text.encode("utf-8")


def exercise(root: Path, *, load: bool) -> ModelStore:
    """list, active_name, active_info (and load) on a fresh store object: none may raise."""
    store = ModelStore(root)
    infos = store.list()
    for info in infos:
        check_info(info)
        assert info.name == info.path.name  # the folder's name, whatever the file says
    assert [i.created_at for i in infos] == [i.created_at for i in sorted(infos, key=lambda i: when(i.created_at),
                                                                          reverse=True)]
    skipped = set(NAMES) - {i.name for i in infos}
    for name in skipped:  # each skipped model is named, in words
        assert any(name in p for p in store.problems), (name, store.problems)
    active = store.active_info()
    assert active is not None
    check_info(active)
    assert store.active_name() in {None, *(i.name for i in infos), GOOD["name"]}
    for name in skipped:
        with pytest.raises(ModelStoreError, match=f"models/{name}/meta.json"):
            store.info(name)
    if load:
        loaded = store.load()
        check_info(loaded.info)
        assert loaded.info.name == active.name
    return store
