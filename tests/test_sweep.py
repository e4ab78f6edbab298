"""Sweeps on Ray Tune: the search space, the command without Ray, a local sweep with the flags other tools
use, and a sweep on a two-node Ray cluster (a head and a worker started here) with early stopping."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from digitrec_core.learning.runs import TrainConfig
from digitrec_core.store import ModelInfo, ModelStore, ModelStoreError, shipped_info
from digitrec_core.sweep import SearchSpace, read_progress
from tests.support import ROOT
from tests.support.cli import run_cli
from tests.support.mnist import make_synthetic, write_idx
from tests.support.pages import open_app, run
from tests.support.processes import command, descendants, in_session, kill_all, wait_gone
from tests.support.runs import stored_trial

RAY = Path(sys.executable).parent / "ray"
ROW = re.compile(r"^\s+(\d+)\s+(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(yes|no)\s+\S+\s+\S+\s+\S+\s+"
                 r"(saved as \S+|stopped after \d+ epochs?|failed: .*|completed)$", re.M)


def test_the_space_is_every_combination_in_order_and_repeats_with_new_seeds(tmp_path):
    space = SearchSpace(arch=("seed",), learning_rate=(3e-3, 1e-6), batch_size=(32, 64), epochs=(3,), augment=(False,))
    assert space.size == 4
    four = space.trials(seed=5, n_images=1000)
    assert [(c.learning_rate, c.batch_size, c.seed) for c in four] == [(3e-3, 32, 5), (3e-3, 64, 5), (1e-6, 32, 5),
                                                                        (1e-6, 64, 5)]
    assert all(c.epochs == 3 and c.augment is False and c.validation_split == 0.1 for c in four)  # resolved
    six = space.trials(6, seed=5, n_images=1000)
    assert six[:4] == four and {c.seed for c in six[4:]} == {6} and len({(c.learning_rate, c.batch_size)
                                                                          for c in six[4:]}) == 2
    two = space.trials(2, seed=1, n_images=1000)
    assert len(set(two)) == 2 and all(c in space.trials(seed=1, n_images=1000) for c in two)
    assert [c.seed for c in SearchSpace().trials(2)] == [0, 1]  # one combination, two trials: two seeds

    toml = tmp_path / "space.toml"
    toml.write_text('arch = ["default", "seed"]\nlr = [1e-3, 3e-3]\nbatch-size = 64\naugment = [true, false]\n')
    from_file = SearchSpace.from_toml(toml)
    assert (from_file.arch, from_file.learning_rate, from_file.batch_size, from_file.augment) == (
        ("default", "seed"), (1e-3, 3e-3), (64,), (True, False))
    assert SearchSpace.from_mapping({"lr": [0.01]}, base=from_file).learning_rate == (0.01,)  # a flag replaces a key
    for bad, message in (({"learnig_rate": 1}, "Unknown search-space key 'learnig_rate'"),
                         ({"arch": "resnet"}, "Unknown architecture 'resnet'"),
                         ({"lr": -1.0}, "-1.0 is not a valid lr"), ({"batch-size": []}, "no value for batch-size"),
                         ({"augment": "yes"}, "not a valid augment")):
        with pytest.raises(ValueError, match=message):
            SearchSpace.from_mapping(bad)
    toml.write_text("lr = [1e-3,")
    with pytest.raises(ValueError, match="not valid TOML"):
        SearchSpace.from_toml(toml)


def test_the_store_keeps_a_trials_sweep_and_refuses_a_damaged_one(tmp_path):
    import json

    from digitrec_core.store import META_FILE, SHIPPED_DIR

    meta = json.loads((SHIPPED_DIR / META_FILE).read_text())
    meta.pop("sweep", None)  # an older record: no sweep (the shipped model's own is {})
    folder = tmp_path / "models" / "default-20261201-100000-aaaa"
    assert ModelInfo.from_json(meta, folder).sweep == {}
    record = {"id": "sweep-20261201-100000-ab12", "trial": 2, "trials": 4}
    assert ModelInfo.from_json({**meta, "sweep": record}, folder).sweep == record
    assert ModelInfo.from_json({**meta, "sweep": record}, folder).to_json()["sweep"] == record
    for junk in (None, [], "sweep-1", {"trial": 1}, {"id": ""}, {"id": "s", "trial": -1}, {"id": "s", "trials": True}):
        with pytest.raises(ModelStoreError, match=r"models/default-20261201-100000-aaaa/meta.json is damaged: 'sweep'"):
            ModelInfo.from_json({**meta, "sweep": junk}, folder)


def test_without_ray_sweep_says_what_to_install_and_changes_nothing(tmp_path):
    home = tmp_path / "home"
    code = ("import sys; sys.modules['ray'] = None; from digitrec_cli.main import main; "
            "sys.exit(main(['sweep', '--trials', '2', '--limit', '1000', '--epochs', '1']))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "DIGITREC_HOME": str(home), "DIGITREC_MNIST_DIR": str(tmp_path / "none")})
    assert out.returncode == 2
    assert out.stderr.splitlines() == ['Error: Sweeping needs Ray Tune, which this installation does not have: '
                                       'pip install "digitrec[sweep]" (or ".[sweep]" in a clone).'] and out.stdout == ""
    assert not home.exists()  # not even the store's lock file


def test_a_busy_store_is_said_before_anything_loads(tmp_path):
    from digitrec_core.jobs import StoreLock

    home = tmp_path / "home"
    lock = StoreLock(home)
    lock.acquire("the test")
    try:
        out = run_cli("sweep", "--trials", "2", env={"DIGITREC_HOME": str(home),
                                                     "DIGITREC_MNIST_DIR": str(tmp_path / "none")})
    finally:
        lock.release()
    assert out.returncode == 2 and "Error: The model store is busy" in out.stderr and "the test" in out.stderr
    assert "MNIST" not in out.stderr and not (home / "models").exists()


def _rows(stdout: str) -> dict[int, tuple]:
    return {int(m[0]): m[1:] for m in ROW.findall(stdout)}


def test_the_flags_other_tools_use_leave_two_models_in_an_empty_store(tmp_path):
    """`sweep --trials 2 --limit 1000 --epochs 1`, Ray started in-process, as tools outside the repository run it."""
    write_idx(tmp_path / "data", make_synthetic(1200, 200))
    home = tmp_path / "home"
    out = run_cli("sweep", "--trials", "2", "--limit", "1000", "--epochs", "1",
                  env={"DIGITREC_MNIST_DIR": str(tmp_path / "data"), "DIGITREC_HOME": str(home),
                       "RAY_ADDRESS": ""})
    assert out.returncode == 0, out.stderr[-3000:]
    assert re.search(r"^Sweep (sweep-\S+) on local: 2 trials on 1 node in \d+ s \(2 completed", out.stdout, re.M)
    store = ModelStore(home)
    models = store.list()
    assert len(models) == 2
    sweep_id = re.search(r"^Sweep (sweep-\S+)", out.stdout, re.M).group(1)
    assert sorted(m.sweep["trial"] for m in models) == [1, 2]
    assert all(m.sweep["id"] == sweep_id and m.sweep["trials"] == 2 for m in models)
    assert sorted(m.hyperparameters["seed"] for m in models) == [0, 1]  # the one combination, with two seeds
    assert all(m.arch == "default" and m.epochs_run == 1 and m.n_train == 900 and m.kind == "train" for m in models)
    rows = _rows(out.stdout)
    assert {r[-1] for r in rows.values()} == {f"saved as {m.name}" for m in models}
    # The best (by validation accuracy) was compared with the active model (the shipped one) by the usual rule.
    best = re.search(r"^Best by validation accuracy: trial (\d)", out.stdout, re.M).group(1)
    best_name = next(m.name for m in models if m.sweep["trial"] == int(best))
    assert re.search(rf"^Saved as {best_name} in ", out.stdout, re.M)
    best_acc = store.info(best_name).test_accuracy
    expect_active = best_name if best_acc >= shipped_info().test_accuracy else shipped_info().name
    assert store.active_name() == expect_active
    assert ("Made active" if expect_active == best_name else "Not made active") in out.stdout
    (progress,) = read_progress(home)  # what the Train page showed while it ran, now finished
    assert progress["id"] == sweep_id and progress["finished_at"] and not progress["alive"]
    assert [(t["trial"], t["status"], t["epoch"], len(t["val_accuracy"])) for t in progress["trials"]] == [
        (1, "completed", 1, 1), (2, "completed", 1, 1)]


def test_a_sweep_killed_hard_leaves_no_ray_process_of_its_own(tmp_path):
    """kill -9 of a local sweep's driver while its trials run: within 30 s nothing it started is left (Ray's two
    agents used to stay ~60 s). The driver runs in a session of its own, which the Ray processes it starts share:
    the test watches that session and the driver's descendants (the reaper has a session of its own)."""
    write_idx(tmp_path / "data", make_synthetic(1200, 200))
    log = tmp_path / "sweep.log"
    env = {**os.environ, "DIGITREC_MNIST_DIR": str(tmp_path / "data"), "DIGITREC_HOME": str(tmp_path / "home"),
           "RAY_ADDRESS": ""}
    with open(log, "wb") as out:  # 50 epochs: still training when it is killed
        driver = subprocess.Popen([sys.executable, "-m", "digitrec_cli", "sweep", "--trials", "2", "--limit", "1000",
                                   "--epochs", "50"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 180
        while "trial 1/2 started" not in log.read_text(errors="replace"):
            assert driver.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "no trial started within 180 s:\n" + log.read_text()[-3000:]
            time.sleep(0.2)
        started = (descendants(driver.pid) | in_session(driver.pid)) - {driver.pid}
        names = {command(p) for p in started}
        assert {"ray::DashboardAgent", "ray::RuntimeEnvAgent"} <= names, names  # what used to be left
        driver.kill()
        driver.wait(timeout=10)
        left = wait_gone(started | in_session(driver.pid), timeout=30)
        assert not left, f"left running: {sorted(command(p) for p in left)}"
        assert not in_session(driver.pid)  # nothing started after the snapshot either
    finally:
        kill_all(started | in_session(driver.pid))
        driver.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cluster_env() -> dict[str, str]:
    """What every node and the driver share: Ray's token authentication (on by default since Ray 2.5x; a
    worker joins only with the head's token), here with a token of the test's own, not ~/.ray/auth_token."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "TF_CPP_MIN_LOG_LEVEL": "2", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env.pop("RAY_ADDRESS", None)
    return env


@pytest.fixture
def two_node_cluster(cluster_env, tmp_path):
    """A Ray head and a worker on localhost, one CPU each, as `ray start` makes them; stopped afterwards.
    Their MNIST folder does not exist: trials get the data from the driver, through Ray."""
    port, env = _free_port(), {**cluster_env, "DIGITREC_MNIST_DIR": str(tmp_path / "no-mnist-on-the-nodes")}
    common = ["--num-cpus=1", "--node-ip-address=127.0.0.1", "--object-store-memory=200000000", "--disable-usage-stats"]
    try:
        subprocess.run([str(RAY), "start", "--head", f"--port={port}", "--include-dashboard=false", *common],
                       env=env, check=True, capture_output=True, timeout=120)
        subprocess.run([str(RAY), "start", f"--address=127.0.0.1:{port}", *common], env=env, check=True,
                       capture_output=True, timeout=120)
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(RAY), "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_a_sweep_on_a_two_node_cluster_stops_poor_trials_and_stores_the_rest(tmp_path, two_node_cluster, cluster_env):
    """4 trials on a head and a worker (one CPU each): the two good learning rates start first, so when the
    hopeless ones (1e-6) reach their first epoch there are better results to be compared with, and ASHA stops them."""
    write_idx(tmp_path / "data", make_synthetic(1000, 200))
    home = tmp_path / "home"
    out = run_cli("sweep", "--address", two_node_cluster, "--arch", "seed", "--lr", "3e-3", "1e-6",
                  "--batch-size", "32", "64", "--epochs", "3", "--augment", "no", "--trials", "4",
                  env={**cluster_env, "DIGITREC_MNIST_DIR": str(tmp_path / "data"), "DIGITREC_HOME": str(home)})
    assert out.returncode == 0, out.stderr[-3000:]
    head = re.search(r"^Sweep (sweep-\S+) on (\S+): 4 trials on (\d) nodes? in", out.stdout, re.M)
    assert head and head.group(2) == two_node_cluster
    assert head.group(3) == "2"  # the worker ran trials too: not just the head
    rows = _rows(out.stdout)
    assert sorted(rows) == [1, 2, 3, 4]
    assert [(r[1], r[2]) for _, r in sorted(rows.items())] == [("0.003", "32"), ("0.003", "64"), ("1e-06", "32"),
                                                              ("1e-06", "64")]
    for i in (3, 4):  # hopeless: stopped at their first epoch, never stored
        assert re.fullmatch(r"stopped after [12] epochs?", rows[i][-1]), rows[i]
    saved = {i: r[-1].removeprefix("saved as ") for i, r in rows.items() if r[-1].startswith("saved as ")}
    assert saved and set(saved) <= {1, 2}  # at least one good trial ran its 3 epochs (ASHA may stop the other)
    assert all(r[-1].startswith(("saved as", "stopped after")) for r in rows.values())
    assert re.search(r"trial 3/4 stopped early after 1 epoch", out.stderr)
    models = {m.name: m for m in ModelStore(home).list()}
    assert set(models) == set(saved.values())
    for i, name in saved.items():
        m = models[name]
        assert m.sweep == {"id": head.group(1), "trial": i, "trials": 4}
        assert m.epochs_run == 3 and m.hyperparameters["learning_rate"] == 3e-3 and len(m.history["val_accuracy"]) == 3
        assert m.n_train == 900 and "IDX files" in m.data_source  # the driver's 1,000 synthetic images, 10% held out
        assert m.test_accuracy is not None and m.test_accuracy > 0.5
    assert "--activate" not in out.stdout and ("Made active" in out.stdout or "Not made active" in out.stdout)


def test_the_train_page_lists_sweeps_and_overlays_their_trials_curves(app_env, synthetic_dir):
    import json

    root = Path(app_env)
    old, new = "sweep-20261201-090000-aaaa", "sweep-20261201-100000-bbbb"
    stored_trial(root, "seed-1", "2026-12-01T09:05:00+00:00", {"id": old, "trial": 2, "trials": 2}, [0.5, 0.6],
                 learning_rate=1e-3, batch_size=64, augment=True)
    stored_trial(root, "default-1", "2026-12-01T10:05:00+00:00", {"id": new, "trial": 1, "trials": 4},
                 [0.7, 0.8, 0.9], learning_rate=3e-3, batch_size=32, augment=False)
    stored_trial(root, "default-2", "2026-12-01T10:06:00+00:00", {"id": new, "trial": 3, "trials": 4},
                 [0.6, 0.95, 0.97], learning_rate=1e-3, batch_size=32, augment=False)
    stored_trial(root, "default-3", "2026-12-01T11:00:00+00:00", None, [0.99])  # a plain run: in no sweep
    at = open_app("train")
    (table,) = [t.value for t in at.dataframe if "sweep" in t.value.columns]
    assert list(table["sweep"]) == [new, old]  # the newest first
    assert list(table["trials stored"]) == ["2 of 4", "1 of 2"] and list(table["best model"]) == ["default-2", "seed-1"]
    (choice,) = [s for s in at.selectbox if s.key == "sweep"]
    assert choice.options == [new, old] and choice.value == new

    def traces():
        chart = next(c for c in at.get("plotly_chart") if "sweep_curves" in c.proto.id)
        return {t["name"]: t["y"] for t in json.loads(chart.proto.spec)["data"] if t["name"].endswith("validation")
                and t["yaxis"] == "y2"}

    assert traces() == {"trial 1: default, lr 0.003, batch 32, plain validation": [0.7, 0.8, 0.9],
                        "trial 3: default, lr 0.001, batch 32, plain validation": [0.6, 0.95, 0.97]}
    run(choice.select(old))
    assert traces() == {"trial 2: default, lr 0.001, batch 64, augmented validation": [0.5, 0.6]}


def test_a_sweeps_progress_file_follows_its_trials_and_says_whether_it_still_runs(tmp_path):
    from digitrec_core.sweep import SweepProgress, TrialEvent

    configs = [TrainConfig(arch="seed", epochs=2).resolved(1000), TrainConfig(arch="seed", epochs=2, learning_rate=1e-6)
               .resolved(1000)]
    progress = SweepProgress(tmp_path, "sweep-20261201-120000-cccc", configs)
    (state,) = read_progress(tmp_path)
    assert state["alive"] and [t["status"] for t in state["trials"]] == ["pending", "pending"]
    progress.on_event(TrialEvent("started", 0, 2, configs[0]))
    progress.on_event(TrialEvent("epoch", 0, 2, configs[0], epoch=1, val_accuracy=0.5))
    progress.on_event(TrialEvent("epoch", 1, 2, configs[1], epoch=1, val_accuracy=0.1))
    progress.on_event(TrialEvent("stopped", 1, 2, configs[1], epoch=1, val_accuracy=0.1))
    progress.on_event(TrialEvent("epoch", 0, 2, configs[0], epoch=2, val_accuracy=0.7))
    (state,) = read_progress(tmp_path)
    assert [(t["status"], t["epoch"], t["val_accuracy"]) for t in state["trials"]] == [
        ("running", 2, [0.5, 0.7]), ("stopped", 1, [0.1])]
    progress.finish()  # trial 1 never reported an end: the sweep ended on an error
    (state,) = read_progress(tmp_path)
    assert not state["alive"] and [t["status"] for t in state["trials"]] == ["failed", "stopped"]

    gone = json.loads(progress.path.read_text()) | {"id": "sweep-20261201-130000-dddd", "finished_at": None,
                                                     "pid": 2**22 + 12345}  # a driver that died
    (tmp_path / "sweeps" / "sweep-20261201-130000-dddd.json").write_text(json.dumps(gone))
    (tmp_path / "sweeps" / "sweep-20261201-140000-eeee.json").write_text("{not json")  # damaged: skipped
    assert [(s["id"], s["alive"]) for s in read_progress(tmp_path)] == [
        ("sweep-20261201-130000-dddd", False), ("sweep-20261201-120000-cccc", False)]


def test_the_train_page_shows_a_running_sweeps_trials(app_env, synthetic_dir):
    from digitrec_core.sweep import SweepProgress, TrialEvent

    configs = [TrainConfig(arch="seed", epochs=3).resolved(1000), TrainConfig(arch="default", epochs=3).resolved(1000)]
    progress = SweepProgress(Path(app_env), "sweep-20261201-150000-ffff", configs)  # this process: alive
    progress.on_event(TrialEvent("epoch", 0, 2, configs[0], epoch=2, val_accuracy=0.875))
    progress.on_event(TrialEvent("completed", 1, 2, configs[1], epoch=3, val_accuracy=0.9, test_accuracy=0.91))
    at = open_app("train")
    assert "Sweep in progress" in [h.value for h in at.subheader]
    assert any("1 of 2 trials finished" in c.value for c in at.caption)
    (table,) = [t.value for t in at.dataframe if "status" in t.value.columns]
    assert list(table["status"]) == ["running", "completed"] and list(table["epoch"]) == ["2 of 3", "3 of 3"]
    assert list(table["validation accuracy"]) == [0.875, 0.9]
    progress.finish()
    at = open_app("train")
    assert "Sweep in progress" not in [h.value for h in at.subheader]
