import json
import threading

import numpy as np
import pytest

from digitrec_core import ModelStore, ModelStoreError, build_model, load_model, predict_proba, save_model
from digitrec_core.evaluation import Evaluation
from digitrec_core.store import SHIPPED_DIR, shipped_info
from digitrec_core.training import TrainConfig, TrainResult


def fake_run(arch="seed", accuracy=0.9):
    """A TrainResult around an untrained network: the store does not care how good it is."""
    empty = np.zeros(0)
    return TrainResult(
        model=build_model(arch),
        config=TrainConfig(arch=arch).resolved(),
        history={"loss": [1.0, 0.5], "accuracy": [0.6, 0.8], "val_loss": [0.9, 0.6], "val_accuracy": [0.7, 0.8]},
        epochs_run=2,
        stopped=False,
        seconds=1.5,
        n_train=540,
        n_val=60,
        data_source="synthetic",
        test=Evaluation(accuracy, 0.25, np.zeros((10, 10)), np.zeros(10), np.zeros(10), empty, empty, empty),
    )


def test_save_list_activate_load(store_home):
    store = ModelStore()
    assert store.root == store_home and store.list() == []
    first = save_model(fake_run("seed", 0.91), activate="always").info
    second = save_model(fake_run("default", 0.95), activate="always").info
    names = [i.name for i in store.list()]
    assert set(names) == {first.name, second.name}
    assert store.active_name() == second.name  # the newest save is active (asked to be)

    meta = json.loads((store_home / "models" / first.name / "meta.json").read_text())
    for key in ("arch", "params", "hyperparameters", "epochs_run", "test_accuracy", "test_loss",
                "data_source", "n_train", "train_seconds", "created_at", "history"):
        assert key in meta
    assert meta["params"] == 81_066 and meta["test_accuracy"] == 0.91 and meta["hyperparameters"]["arch"] == "seed"

    loaded = load_model()
    assert loaded.info.name == second.name and loaded.notice is None
    store.activate(first.name)
    loaded = load_model()
    assert loaded.info.name == first.name and loaded.model.count_params() == 81_066
    assert load_model(second.name).info.arch == "default"
    with pytest.raises(ModelStoreError, match="No model named"):
        store.activate("nope")


def test_saved_model_predicts_like_the_original(store_home):
    run = fake_run("default", 0.9)
    x = np.random.default_rng(1).random((3, 28, 28), np.float32)
    before = predict_proba(run.model, x)
    info = save_model(run).info
    np.testing.assert_allclose(predict_proba(load_model(info.name).model, x), before, rtol=1e-5, atol=1e-6)


def test_crash_in_the_middle_of_a_save_leaves_the_active_model(store_home, monkeypatch):
    good = save_model(fake_run("seed", 0.9), activate="always").info
    broken = fake_run("seed", 0.99)

    def crash(model, path):
        with open(path, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")  # a partial file on disk, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr("digitrec_core.store._save_keras", crash)
    with pytest.raises(KeyboardInterrupt):
        save_model(broken)
    store = ModelStore()
    assert [i.name for i in store.list()] == [good.name]
    assert store.active_name() == good.name
    assert load_model().info.name == good.name
    assert not any(p.name.startswith(".tmp") for p in (store_home / "models").iterdir())


def test_concurrent_saves_never_break_the_active_model(store_home):
    runs = [fake_run("seed", 0.9) for _ in range(4)]
    errors = []

    def save(run):
        try:
            save_model(run, activate="always")
        except Exception as e:  # pragma: no cover - the assertion below reports it
            errors.append(e)

    threads = [threading.Thread(target=save, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store = ModelStore()
    assert errors == [] and len(store.list()) == 4
    assert store.active_name() in {i.name for i in store.list()}
    assert load_model().notice is None


def test_corrupt_model_file_is_a_clear_error_and_falls_back(store_home):
    older = save_model(fake_run("seed", 0.9), activate="always").info
    newer = save_model(fake_run("seed", 0.95), activate="always").info
    (store_home / "models" / newer.name / "model.keras").write_bytes(b"this is not a keras file")
    with pytest.raises(ModelStoreError, match="corrupt"):
        load_model(newer.name)
    loaded = load_model()  # the active one is broken: the last good one is used, and we are told
    assert loaded.info.name == older.name
    assert newer.name in loaded.notice and older.name in loaded.notice


def test_broken_metadata_is_left_out_of_the_list(store_home):
    good = save_model(fake_run("seed", 0.9), activate="always").info
    bad = save_model(fake_run("seed", 0.9), activate="always").info
    (store_home / "models" / bad.name / "meta.json").write_text("{not json")
    assert [i.name for i in ModelStore().list()] == [good.name]


def test_empty_store_uses_the_shipped_model(store_home):
    if not (SHIPPED_DIR / "meta.json").is_file():
        pytest.fail(f"the pretrained model is missing from {SHIPPED_DIR}")
    loaded = load_model()
    assert loaded.info.shipped and loaded.info.test_accuracy > 0.98
    assert ModelStore().active_info().shipped


def test_the_shipped_model_can_be_made_active_again(store_home):
    shipped = shipped_info()
    save_model(fake_run("seed", 0.9), activate="always")
    store = ModelStore()
    store.activate(shipped.name)
    assert store.active_name() == shipped.name and store.active_info().shipped
    assert load_model().info.shipped


def test_empty_store_without_shipped_model_says_how_to_train(store_home, monkeypatch, tmp_path):
    monkeypatch.setattr("digitrec_core.store.SHIPPED_DIR", tmp_path / "nothing")
    with pytest.raises(ModelStoreError, match="digitrec train"):
        load_model()
