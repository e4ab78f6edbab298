import json
import os
import random
import shutil
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from digitrec_core import ModelStore, ModelStoreError, OnnxModel, load_model, predict_proba, save_model
from digitrec_core.optional import TensorFlowMissing
from digitrec_core.store import SHIPPED_DIR, ModelInfo, check_export_target, open_store, shipped_info
from tests.support import ROOT
from tests.support.corrupt import mutate
from tests.support.onnx_models import onnx_classifier
from tests.support.runs import fake_run


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

    assert sorted(p.name for p in (store_home / "models" / first.name).iterdir()) == [
        "meta.json", "model.keras", "model.onnx"]

    loaded = load_model()
    assert loaded.info.name == second.name and loaded.notice is None
    assert loaded.runtime == "onnx" and isinstance(loaded.model, OnnxModel)
    store.activate(first.name)
    loaded = load_model(runtime="keras")
    assert loaded.info.name == first.name and loaded.runtime == "keras" and loaded.model.count_params() == 81_066
    assert load_model(second.name).info.arch == "default"
    with pytest.raises(ValueError, match="runtime must be one of onnx, keras"):
        load_model(runtime="tflite")
    with pytest.raises(ModelStoreError, match="No model named"):
        store.activate("nope")


def test_saved_model_predicts_like_the_original(store_home):
    run = fake_run("default", 0.9)
    x = np.random.default_rng(1).random((3, 28, 28), np.float32)
    before = predict_proba(run.model, x)
    info = save_model(run).info
    for runtime in ("onnx", "keras"):
        after = predict_proba(load_model(info.name, runtime=runtime).model, x)
        assert after.dtype == np.float32 and after.shape == (3, 10)
        np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-6)


def test_crash_in_the_middle_of_a_save_leaves_the_active_model(store_home, monkeypatch):
    good = save_model(fake_run("seed", 0.9), activate="always").info
    broken = fake_run("seed", 0.99)
    written = []

    def crash(model, **options):  # model.keras is on disk by now; the process "dies" while converting to ONNX
        written.extend(p.name for p in (store_home / "models").glob(".tmp-*/*"))
        raise KeyboardInterrupt

    monkeypatch.setattr("digitrec_core.store.targets.onnx_bytes", crash)
    with pytest.raises(KeyboardInterrupt):
        save_model(broken)
    assert written == ["model.keras"]
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


@pytest.mark.parametrize(("runtime", "file", "says"), [("keras", "model.keras", "corrupt"),
                                                        ("onnx", "model.onnx", "is damaged")])
def test_corrupt_model_file_is_a_clear_error_and_falls_back(store_home, runtime, file, says):
    older = save_model(fake_run("seed", 0.9), activate="always").info
    newer = save_model(fake_run("seed", 0.95), activate="always").info
    (store_home / "models" / newer.name / file).write_bytes(b"this is not a model file")
    with pytest.raises(ModelStoreError, match=says):
        load_model(newer.name, runtime=runtime)
    loaded = load_model(runtime=runtime)  # the active one is broken: the last good one is used, and we are told
    assert loaded.info.name == older.name and loaded.runtime == runtime
    assert newer.name in loaded.notice and older.name in loaded.notice


def test_fuzz_damaged_onnx_files_are_a_clear_error(store_home):
    """Truncated, flipped, zeroed or padded: never wrong probabilities, always ModelStoreError."""
    older = save_model(fake_run("seed", 0.9), activate="always").info
    newer = save_model(fake_run("seed", 0.95), activate="always").info
    path = store_home / "models" / newer.name / "model.onnx"
    good = path.read_bytes()
    x = np.random.default_rng(0).random((4, 28, 28), np.float32)
    expected = predict_proba(load_model(newer.name).model, x)
    rng = random.Random(2024)
    damaged = 0
    for _ in range(60):
        data = mutate(good, rng)
        path.write_bytes(data)
        if data == good:  # the mutation happened to change nothing
            np.testing.assert_array_equal(predict_proba(load_model(newer.name).model, x), expected)
            continue
        damaged += 1
        with pytest.raises(ModelStoreError, match=f"{path}.*damaged") as e:
            load_model(newer.name)
        assert "Delete it" in str(e.value)
        loaded = load_model()
        assert loaded.info.name == older.name and newer.name in loaded.notice
    assert damaged > 50


def _as_older_version(store_home, name) -> None:
    (store_home / "models" / name / "model.onnx").unlink()  # what an older DigitRec wrote: no ONNX file


def test_a_model_saved_by_an_older_version_gets_its_onnx_file_on_first_load(store_home):
    run = fake_run("seed", 0.9)
    x = np.random.default_rng(3).random((5, 28, 28), np.float32)
    info = save_model(run, activate="always").info
    folder = store_home / "models" / info.name
    _as_older_version(store_home, info.name)
    loaded = load_model()
    assert loaded.info.name == info.name and loaded.notice is None and isinstance(loaded.model, OnnxModel)
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json", "model.keras", "model.onnx"]  # no temp files
    np.testing.assert_allclose(predict_proba(loaded.model, x), predict_proba(run.model, x), rtol=1e-5, atol=1e-6)
    made = (folder / "model.onnx").stat().st_mtime_ns
    load_model()  # the second load reads it, does not make it again
    assert (folder / "model.onnx").stat().st_mtime_ns == made


def test_an_older_model_in_a_read_only_folder_is_served_from_memory(store_home, monkeypatch):
    run = fake_run("seed", 0.9)
    info = save_model(run, activate="always").info
    _as_older_version(store_home, info.name)

    def read_only(path, data):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("digitrec_core.store.loading.write_atomic", read_only)
    x = np.random.default_rng(4).random((2, 28, 28), np.float32)
    np.testing.assert_allclose(predict_proba(load_model(info.name).model, x), predict_proba(run.model, x),
                               rtol=1e-5, atol=1e-6)
    assert not (store_home / "models" / info.name / "model.onnx").exists()


def test_without_tensorflow_an_older_model_says_what_to_install_and_another_is_used(store_home, monkeypatch):
    info = save_model(fake_run("seed", 0.9), activate="always").info
    _as_older_version(store_home, info.name)
    monkeypatch.setattr("digitrec_core.optional.has_tensorflow", lambda: False)
    with pytest.raises(ModelStoreError, match=r'no model.onnx .*older DigitRec.*pip install "digitrec\[train\]"') as e:
        load_model(info.name)
    assert isinstance(e.value, TensorFlowMissing)
    loaded = load_model()  # the shipped model has its ONNX file: serving goes on, and says why
    assert loaded.info.shipped and info.name in loaded.notice and "pip install" in loaded.notice
    assert not (store_home / "models" / info.name / "model.onnx").exists()
    with pytest.raises(TensorFlowMissing, match="pip install"):
        load_model(runtime="keras")


def test_export_target_accepts_an_earlier_export_and_refuses_anything_else(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    for name in ("model.keras", "model.onnx", "meta.json"):
        (export / name).write_bytes(b"earlier")
    assert check_export_target(export) == export
    (export / "notes.txt").write_text("mine")
    with pytest.raises(ModelStoreError, match=r"already holds other files \(notes.txt\).*--force"):
        check_export_target(export)
    assert check_export_target(export, force=True) == export
    (tmp_path / "file").write_text("mine")
    for target, says in ((tmp_path / "file", "is a file"), (tmp_path / "file" / "sub", "is a file, not a folder"),
                         (tmp_path / "model.keras", "looks like a file name")):
        for force in (False, True):  # never a file for a folder, even forced
            with pytest.raises(ModelStoreError, match=says):
                check_export_target(target, force=force)
    assert check_export_target(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"


def test_a_forced_export_replaces_a_foreign_folder_whole(store_home, tmp_path):
    from digitrec_core.store import write_model

    target = tmp_path / "mine"
    target.mkdir()
    (target / "thesis.tex").write_text("years of work")
    run = fake_run("seed", 0.9)
    info = save_model(run).info
    with pytest.raises(ModelStoreError, match="thesis.tex"):
        write_model(run.model, info, target, staging=tmp_path)
    assert (target / "thesis.tex").read_text() == "years of work"
    write_model(run.model, info, target, staging=tmp_path, force=True)
    assert sorted(p.name for p in target.iterdir()) == ["meta.json", "model.keras", "model.onnx"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "mine"]  # nothing left aside


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
    monkeypatch.setattr("digitrec_core.store.loading.SHIPPED_DIR", tmp_path / "nothing")
    with pytest.raises(ModelStoreError, match="digitrec train"):
        load_model()


# ---- leftovers of interrupted saves -------------------------------------------------------------

# Run from the repository root: `python -c` imports from its working directory, so tests.support imports.
WRITER = """
import sys
from pathlib import Path
import digitrec_core.store as store
import digitrec_core.store.targets as targets
from digitrec_core.store.lock import StoreLock
from tests.support.runs import fake_run
from tests.support.wait import wait_until

real, go = targets.onnx_bytes, Path(sys.argv[1])

def gated(model, **options):  # model.keras is in the temporary folder by now: wait there, as a slow disk would
    print("writing", flush=True)
    wait_until(go.exists, 300, f"the test to create {go}")  # or to kill this process
    return real(model, **options)

targets.onnx_bytes = gated
run = fake_run()
with StoreLock(store.ModelStore().root) as lock:
    if sys.argv[2] == "lock":
        lock.acquire("a test's save")  # as the dashboard's and the CLI's runs do
    print(store.save_model(run).info.name, flush=True)
"""


def start_writer(home, go, how: str):
    import os
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(go), how], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "DIGITREC_HOME": str(home)})
    assert proc.stdout.readline().strip() == "writing"
    return proc


def age(path, seconds: float) -> None:
    import os
    import time

    t = time.time() - seconds
    os.utime(path, (t, t))


def test_leftovers_of_a_killed_save_are_removed_at_the_next_start_and_only_then(store_home, tmp_path):
    import subprocess
    import sys

    good = save_model(fake_run("seed", 0.9), activate="always").info
    proc = start_writer(store_home, tmp_path / "never", "no lock")
    proc.kill()  # mid-save: model.keras written, model.onnx not
    proc.wait(30)
    models = store_home / "models"
    left = [p for p in models.iterdir() if p.name.startswith(".tmp-")]
    assert len(left) == 1 and [p.name for p in left[0].iterdir()] == ["model.keras"]
    # what a kill at other moments leaves: active.json's temp file, an ONNX file made on load, an export's old copy
    others = [store_home / ".active.json.k1lled.tmp", models / good.name / ".model.onnx.k1lled.tmp",
              models / f".old-{good.name}-0000"]
    others[0].write_text('{"name": "half')
    others[1].write_bytes(b"half an onnx file")
    others[2].mkdir()
    (store_home / "personal").mkdir()
    personal_tmp = store_home / "personal" / ".20261201-074512-123-3f9a.json.k1lled.tmp"
    personal_tmp.write_text("{")

    def start():  # a fresh process, as the dashboard or the CLI starts
        out = subprocess.run([sys.executable, "-m", "digitrec_cli", "models"], cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0 and good.name in out.stdout, out.stderr

    start()
    assert all(p.exists() for p in [*left, *others, personal_tmp])  # minutes old: could be a slow save, kept
    for p in [*left, *others, personal_tmp]:
        age(p, 7200)
    start()
    assert not any(p.exists() for p in [*left, *others, personal_tmp])
    assert sorted(p.name for p in models.iterdir()) == [good.name]
    assert sorted(p.name for p in (models / good.name).iterdir()) == ["meta.json", "model.keras", "model.onnx"]
    assert load_model().info.name == good.name and load_model().notice is None


@pytest.mark.parametrize("how", ["lock", "no lock"])
def test_a_save_in_progress_survives_the_clean_up(store_home, tmp_path, how):
    save_model(fake_run("seed", 0.9), activate="always")
    go = tmp_path / "go"
    proc = start_writer(store_home, go, how)
    try:
        (tmp,) = [p for p in (store_home / "models").iterdir() if p.name.startswith(".tmp-")]
        if how == "lock":
            age(tmp, 7200)  # even a save stalled for hours: the lock says it is still running
            assert ModelStore().clean_leftovers(older_than=0) == []
        else:  # a library caller's save, without the lock: seconds old, so not a leftover
            assert ModelStore().clean_leftovers() == []
        assert tmp.is_dir() and (tmp / "model.keras").is_file()
        go.touch()
        name = proc.stdout.readline().strip()
        assert proc.wait(60) == 0
    finally:
        proc.kill()
    assert name in [i.name for i in ModelStore().list()]
    assert load_model(name).info.name == name and not tmp.exists()


def test_a_saved_models_onnx_file_carries_what_explanations_show(store_home):
    saved = save_model(fake_run("seed"))
    served = load_model(saved.info.name).model
    assert served.layer_names == ["conv1", "conv2", "conv3", "dense1", "dense2"]  # the seed network's blocks
    assert served.filters.shape == (3, 3, 64) and served.filters_layer == "conv1"
    x = np.random.default_rng(0).random((3, 28, 28, 1), np.float32)
    keras_model = load_model(saved.info.name, runtime="keras").model
    np.testing.assert_allclose(served.run(x), keras_model(x, training=False), atol=1e-5)  # still the classifier


def test_every_file_the_store_writes_gets_the_umasks_mode(store_home):
    """A store shared by a CLI user and a server user (umask 002): meta.json and active.json were 0600."""
    import os
    import stat

    old = os.umask(0o002)
    try:
        store_home.mkdir()
        store = open_store()  # takes the lock once to clean up: training.lock
        saved = store.save(fake_run("seed", 0.9), activate="always")
        store.activate(saved.info.name)
    finally:
        os.umask(old)
    paths = [store_home, *store_home.rglob("*")]
    assert {p.name for p in paths} >= {"meta.json", "model.keras", "model.onnx", "active.json", "training.lock"}
    modes = {str(p.relative_to(store_home)): oct(stat.S_IMODE(p.stat().st_mode)) for p in paths}
    assert modes == {k: "0o775" if (store_home / k).is_dir() else "0o664" for k in modes}


@pytest.mark.parametrize("bias", [float("nan"), 1e33])
def test_a_model_whose_outputs_are_not_probabilities_is_refused_at_load_and_another_used(store_home, bias):
    from digitrec_core.serving.runtime import seal

    good = save_model(fake_run("seed", 0.9), activate="always").info
    bad = save_model(fake_run("seed", 0.95), activate="always").info
    (store_home / "models" / bad.name / "model.onnx").write_bytes(seal(onnx_classifier(bias)))
    with pytest.raises(ModelStoreError, match=f"The model {bad.name} gives outputs that are not probabilities"):
        load_model(bad.name)
    loaded = load_model()  # the active one is damaged: the newest readable one serves, and says why
    assert loaded.info.name == good.name and bad.name in loaded.notice and "not probabilities" in loaded.notice


def test_a_save_on_a_full_disk_says_so_and_keeps_the_weights_elsewhere(store_home, tmp_path, monkeypatch):
    import errno
    import tempfile

    import keras

    from digitrec_core.store import ModelSaveError

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(store_home / "models"))

    monkeypatch.setattr("digitrec_core.store.models.write_model", full)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    run = fake_run("seed", 0.9)
    with pytest.raises(ModelSaveError, match=r"not be saved .*\(No space left on device\); its weights were written"):
        save_model(run)
    (rescued,) = tmp_path.glob("digitrec-unsaved-seed-*.keras")
    x = np.random.default_rng(0).random((2, 28, 28), np.float32)
    np.testing.assert_allclose(predict_proba(keras.saving.load_model(rescued), x), predict_proba(run.model, x),
                               rtol=1e-5, atol=1e-6)
    assert ModelStore().list() == []


# ---- labels a person can tell apart ---------------------------------------------------------------------------

def model_info(name="default-20261206-084129-93c5", **kw):
    """A stored model's metadata as the store reads it (`ModelInfo.from_json`), with `kw` changed."""
    meta = {"name": name, "arch": "default", "params": 242602, "hyperparameters": {"limit": None},
            "epochs_run": 12, "test_accuracy": 0.9938, "test_loss": 0.025, "data_source": "MNIST", "n_train": 54000,
            "n_val": 6000, "train_seconds": 214.2, "created_at": "2026-12-06T08:41:29+00:00", **kw}
    return ModelInfo.from_json(meta, Path("models") / name)


def test_a_models_label_says_what_it_is_how_good_and_when_in_a_few_words():
    this_year = datetime.now(UTC).year
    at = f"{this_year}-12-06T08:41:29+00:00"
    assert model_info(created_at=at).label == "default · 99.38% · 6 Dec 08:41"
    tuned = model_info("finetune-20261206-114900-1a2b", kind="finetune", parent="default-20261206-084129-93c5",
                       personal={"n_train": 40}, test_accuracy=0.9933, created_at=f"{this_year}-12-06T11:49:00+00:00")
    assert tuned.label == "fine-tune of default · 99.33% · 6 Dec 11:49"
    limited = model_info("seed-x", arch="seed", hyperparameters={"limit": 1000}, n_train=900, test_accuracy=0.912,
                         created_at=at)
    assert limited.label == "seed · 900 images · 91.20% · 6 Dec 08:41"  # --limit: the images it trained on
    trial = model_info(sweep={"id": "sweep-1", "trial": 2, "trials": 8}, created_at=at)
    assert trial.label == "default · trial 2/8 · 99.38% · 6 Dec 08:41"
    assert model_info(test_accuracy=None, created_at=at).label == "default · 6 Dec 08:41"  # nothing made up
    assert model_info(created_at="2025-12-06T08:41:29+00:00").label == "default · 99.38% · 6 Dec 2025 08:41"
    assert shipped_info().label.startswith(f"pretrained {shipped_info().arch} · ")


def test_labels_add_the_end_of_the_name_only_where_two_would_read_alike():
    a, b = model_info("default-20261206-084129-93c5"), model_info("default-20261206-084151-ea9e")
    other = model_info("default-20261206-101500-77aa", test_accuracy=0.9912)
    labels = ModelInfo.labels([a, b, other])
    assert labels == {a.name: f"{a.label} · 93c5", b.name: f"{b.label} · ea9e", other.name: other.label}
    # Names that share their end too (folders renamed by hand) are told apart by the whole name.
    c, d = model_info("mine-93c5"), model_info("copy-93c5")
    assert ModelInfo.labels([c, d]) == {c.name: f"{c.label} · mine-93c5", d.name: f"{d.label} · copy-93c5"}
    assert ModelInfo.labels([]) == {}


def test_making_a_store_touches_nothing_and_opening_one_cleans_up_once(store_home, tmp_path):
    """`ModelStore()` reads and writes nothing; a program's `open_store()` removes an old leftover, once a process."""
    from digitrec_core.store.leftovers import LEFTOVER_AGE

    ModelStore(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()  # not even the folder
    good = save_model(fake_run("seed", 0.9), activate="always").info
    leftover = store_home / "models" / ".tmp-killed-save"
    leftover.mkdir()
    old = time.time() - 2 * LEFTOVER_AGE
    os.utime(leftover, (old, old))
    ModelStore()
    assert leftover.exists()
    fresh = tmp_path / "fresh-home"
    shutil.copytree(store_home, fresh)  # a root this process has not opened yet
    assert [i.name for i in open_store(fresh).list()] == [good.name]
    assert not (fresh / "models" / ".tmp-killed-save").exists()
    (fresh / "models" / ".tmp-killed-save").mkdir()
    os.utime(fresh / "models" / ".tmp-killed-save", (old, old))
    open_store(fresh)
    assert (fresh / "models" / ".tmp-killed-save").exists()  # once a process: the next start cleans it
