"""Fuzzing the model store's metadata: whatever a hand edit, a crash, another version or a hostile
file leaves in `meta.json` or `active.json`, listing, the model cards, loading and `digitrec models`
go on, skipping the damaged model with a sentence that names it.

The store here is copies of the shipped model (no TensorFlow, no training): three models, one active. The
damage and the checks are tests/support/fuzz_store.py's, which `bench/fuzz_store.py` runs at scale.
"""

from __future__ import annotations

import json
import math
import random
import re

import pytest

from digitrec_cli.main import main
from digitrec_core.store import SHIPPED_DIR, ModelInfo, ModelStore, ModelStoreError
from tests.support.fuzz_store import GOOD, JUNK, NAMES, damage, exercise, make_store, valid_meta

CASES = 300  # ~5 s; bench/fuzz_store.py runs 10,000+ files


def test_fuzzed_metadata_never_breaks_listing_loading_or_the_cli(tmp_path, monkeypatch, capsys):
    rng = random.Random(20261201)
    cases = 0
    for case in range(CASES):
        root = tmp_path / f"s{case}"
        metas = make_store(root, rng)
        damage(root, metas, rng)
        exercise(root, load=case % 6 == 0)
        if case % 4 == 0:
            monkeypatch.setenv("DIGITREC_HOME", str(root))
            assert main(["models"]) == 0
            out, err = capsys.readouterr()
            assert "* active" in out and "Traceback" not in err
            listed = {line[2:].split()[0] for line in out.splitlines()[1:-1]}
            for name in set(NAMES) - listed:
                assert f"Warning: Model {name} was skipped" in err
        cases += 1
    assert cases == CASES


def test_from_json_takes_good_records_and_refuses_every_wrong_field(tmp_path):
    rng = random.Random(7)
    folder = tmp_path / "models" / NAMES[2]
    assert ModelInfo.from_json(valid_meta(NAMES[2], rng), folder).personal["after"] == 0.75
    assert ModelInfo.from_json(valid_meta(NAMES[1], rng), folder).sweep["trial"] == 2
    assert ModelInfo.from_json(GOOD, SHIPPED_DIR, shipped=True).name == GOOD["name"]
    refused = 0
    for field in sorted(GOOD) + ["personal", "sweep"]:
        for value in JUNK:
            meta = {**valid_meta(NAMES[2], rng), field: value}
            try:
                ModelInfo.from_json(meta, folder)
            except ModelStoreError as e:
                assert f"models/{NAMES[2]}/meta.json" in str(e)
                assert field in str(e) or "Unicode" in str(e)
                refused += 1
    assert refused > 300
    for bad in ({**GOOD, "params": True}, {**GOOD, "test_accuracy": math.nan}, {**GOOD, "test_accuracy": 1.5},
                {**GOOD, "created_at": None}, {**GOOD, "history": {"loss": ["x"]}}, {k: GOOD[k] for k in GOOD if
                                                                                    k != "arch"}):
        with pytest.raises(ModelStoreError, match="is damaged"):
            ModelInfo.from_json(bad, folder)
    assert ModelInfo.from_json({**GOOD, "test_loss": math.nan, "future_field": 1}, folder).name == NAMES[2]


def test_the_failures_the_issue_found_fall_back_with_a_notice(tmp_path, monkeypatch, capsys):
    from digitrec_core import load_model

    monkeypatch.setenv("DIGITREC_HOME", str(tmp_path))
    metas = make_store(tmp_path, random.Random(3))
    active = metas[0].parent.name
    metas[0].write_text("{}")  # the active model's metadata emptied
    meta = json.loads(metas[1].read_text())
    metas[1].write_text(json.dumps({**meta, "created_at": None}))  # a null time in another model
    store = ModelStore()
    assert [i.name for i in store.list()] == [NAMES[2]]
    assert store.active_info().name == NAMES[2] and store.active_name() is None
    loaded = load_model()
    assert loaded.info.name == NAMES[2]
    assert f"The active model {active!r} cannot be used" in loaded.notice and "it has no 'name'" in loaded.notice
    with pytest.raises(ModelStoreError, match=rf"models/{active}/meta.json is damaged: it has no 'name'"):
        load_model(active)
    assert main(["activate", active]) == 2 and "it has no 'name'" in capsys.readouterr().err
    assert main(["models"]) == 0
    out, err = capsys.readouterr()
    assert re.search(rf"^\* {NAMES[2]}", out, re.M) and "'created_at' should be an ISO 8601 time" in err
    assert main(["predict", "--image", str(tmp_path / "missing.png")]) == 2  # still one clear line
    assert "Traceback" not in capsys.readouterr().err

    (tmp_path / "models" / NAMES[2]).rename(tmp_path / "models" / "renamed-by-hand")  # then activated by hand
    assert main(["activate", "renamed-by-hand"]) == 0
    store = ModelStore()
    assert store.active_info().name == "renamed-by-hand" == load_model().info.name and load_model().notice is None
