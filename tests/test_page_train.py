"""The dashboard's Train page, driven through Streamlit's AppTest (no browser): a run from the form to the saved
model, one run at a time across tabs, and what becomes active. The AppTest tooling and its notes are in
tests/support/pages.py.
"""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from digitrec_core import ModelStore
from tests.support.pages import (
    PAGES,
    has_key,
    markdowns,
    metrics,
    open_app,
    run,
    sidebar_text,
    start_training,
)
from tests.support.runs import weaker


def finish_training(at: AppTest, timeout: float = 120):
    import digitrec_app.ui.resources as res

    job = res.supervisor().job
    assert job is not None, "pressing Train started no job"
    assert job.wait(timeout), "training did not finish in time"
    assert job.error is None, job.error
    run(at)
    return job


def test_train_saves_the_model_and_makes_it_active(app_env, synthetic_dir, tiny_result):
    at = open_app("train")
    assert [c.value for c in at.caption][-1].startswith("No runs yet")
    weak = ModelStore().save(weaker(tiny_result), activate="always").info  # the run below beats it
    start_training(at, epochs=1, limit=500)
    assert [s.value for s in at.subheader][0] == "Training…" and at.progress  # the live view of this tab's run
    job = finish_training(at)
    assert job.config.arch == "seed" and job.config.epochs == 1 and job.config.limit == 500

    (code,) = [c.value for c in at.code]
    loss, acc = re.fullmatch(r"Test Loss: (\d+\.\d{4})\nTest Accuracy: (\d+\.\d\d)%", code).groups()
    store = ModelStore()
    info = store.info(job.saved.info.name)
    assert store.active_name() == info.name
    assert float(acc) == pytest.approx(info.test_accuracy * 100, abs=0.006)
    assert float(loss) == pytest.approx(info.test_loss, abs=6e-5)
    assert [s.value for s in at.success] == [f"Saved as `{info.name}` and made the active model."]
    reason = f"Made active: its test accuracy ({info.test_accuracy:.2%}) is at least {weak.name}'s (10.00%)."
    assert reason in markdowns(at)
    (compared,) = [t.value for t in at.table]  # the new model's test accuracy next to the active one's
    assert compared.iloc[0].to_dict() == {"": "MNIST test accuracy", f"active: {weak.label}": "10.00%",
                                          f"new: {info.label}": f"{info.test_accuracy:.2%}",
                                          "change": f"{(info.test_accuracy - 0.1) * 100:+.2f} points"}
    assert not any(b.label == "Make active" for b in at.button)
    assert info.arch == "seed" and info.epochs_run == 1 and info.n_train + info.n_val == 500

    table = at.dataframe[0].value
    assert list(table["name"]) == [info.name, weak.name] and list(table["arch"]) == ["seed", "seed"]
    assert info.name in sidebar_text(at)  # the sidebar now names the new model
    run(at.switch_page(PAGES["home"]))
    assert metrics(at)["Architecture"] == "seed" and metrics(at)["Test accuracy"] == f"{info.test_accuracy:.2%}"


def test_a_second_tab_cannot_train_while_a_run_is_going(app_env, synthetic_dir):
    import digitrec_app.ui.resources as res

    job = res.supervisor().start(dict(arch="seed", epochs=50), owner="someone-else", data=synthetic_dir)
    try:
        at = open_app("train")
        assert at.button(key="FormSubmitter:hyperparameters-Train").disabled
        assert any("Another tab is training" in i.value for i in at.info)
        assert any(s.value == "Training (started in another tab)…" for s in at.subheader)
        assert has_key(at.button, "stop")  # anyone may stop it
    finally:
        job.stop()
        assert job.wait(120)
    assert job.result is not None and job.result.stopped and job.saved is None
    assert ModelStore().list() == []  # a stopped run saves nothing


def test_training_in_a_tab_with_the_model_switcher_keeps_the_new_model_active(app_env, synthetic_dir, tiny_result):
    """Regression: the switcher's stale selectbox value used to re-activate the old model after a run."""
    # Two choices with the shipped model: the switcher shows. Recorded weaker, so the new run is better.
    old = ModelStore().save(weaker(tiny_result), activate="always").info
    at = open_app("train")
    assert at.selectbox(key="model_switcher").value == old.name
    start_training(at)
    new = finish_training(at).saved.info
    assert [s.value for s in at.success] == [f"Saved as `{new.name}` and made the active model."]
    assert ModelStore().active_name() == new.name
    assert f"`{new.name}`" in sidebar_text(at)


def test_a_worse_run_is_saved_not_activated_and_make_active_activates_it(app_env, synthetic_dir, tiny_result):
    active = ModelStore().save(tiny_result, activate="always").info
    at = open_app("train")
    run(next(s for s in at.selectbox if s.label == "Architecture").set_value("seed"))
    at.number_input(key="lr_seed").set_value(1e-5)  # 15 steps at a hundredth of the recipe's rate: a bad run
    start_training(at, epochs=1, limit=500)
    job = finish_training(at)
    new = job.saved.info
    assert new.test_accuracy < active.test_accuracy, (new.test_accuracy, active.test_accuracy)
    store = ModelStore()
    assert not job.saved.activated and store.active_name() == active.name
    assert {i.name for i in store.list()} == {active.name, new.name}  # saved all the same
    assert [w.value for w in at.warning] == [f"Saved as `{new.name}`; the active model is unchanged."]
    assert not at.success
    assert (f"Not made active: its test accuracy ({new.test_accuracy:.2%}) is below "
            f"{active.name}'s ({active.test_accuracy:.2%}).") in markdowns(at)
    (compared,) = [t.value for t in at.table]
    from digitrec_core.store import ModelInfo

    labels = ModelInfo.labels([active, new])  # the same accuracy and minute would need the names' ends
    assert list(compared.columns) == ["", f"active: {labels[active.name]}", f"new: {labels[new.name]}", "change"]
    assert list(compared.iloc[0])[:3] == ["MNIST test accuracy", f"{active.test_accuracy:.2%}",
                                          f"{new.test_accuracy:.2%}"]
    assert f"`{active.name}`" in sidebar_text(at)

    (make_active,) = [b for b in at.button if b.label == "Make active"]
    run(make_active.click())
    assert ModelStore().active_name() == new.name
    assert f"`{new.name}`" in sidebar_text(at)  # the whole page reran: the sidebar names it
    assert not any(b.label == "Make active" for b in at.button)
    assert f"`{new.name}` is the active model now." in [c.value for c in at.caption]


def test_train_page_wording_times_and_the_runs_table(app_env, synthetic_dir, tiny_result):
    from digitrec_core.text import percent, when

    ModelStore().save(weaker(tiny_result), activate="always")
    at = open_app("train")
    start_training(at, epochs=1, limit=500)
    job = finish_training(at)
    r = job.result
    # The training time and what the user waited (the child's start, evaluating and saving too).
    assert job.waited >= r.seconds
    assert (f"seed, 1 epoch on 450 images in {r.seconds:.0f} s of training, {job.waited:.0f} s from the click to "
            "the result.") in [c.value for c in at.caption]
    assert not any("1 epochs" in t for t in [c.value for c in at.caption] + markdowns(at))

    table = at.dataframe[0].value
    assert list(table.columns[:5]) == ["label", "name", "kind", "parent", "arch"]
    assert list(table["kind"]) == ["train", "train"] and list(table["parent"]) == ["", ""]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", t) for t in table["created"]), list(table["created"])
    info = job.saved.info
    assert table["created"][0] == when(info.created_at)
    assert table["label"][0] == info.label and table["label"][0].startswith("seed · 450 images · ")  # --limit 500
    # Compare runs offers and draws the runs by their labels (the names stay its values)
    assert at.multiselect(key="compare").options == list(table["label"])
    run(at.multiselect(key="compare").set_value(list(table["name"])))
    legend = {t["name"] for t in json.loads(at.get("plotly_chart")[-1].proto.spec)["data"] if t.get("showlegend")}
    assert legend == {f"{label} {curve}" for label in table["label"] for curve in ("training", "validation")}
    run(at.switch_page(PAGES["home"]))  # the model card writes the time the same way
    card = [c.value for c in at.caption if c.value.startswith("Trained ")]
    assert card and card[0].startswith("Trained 1 epoch on 450 images") and when(info.created_at) in card[0]
    assert f'"Not a digit" below a top probability of {percent(info.digit_threshold, 0)}' in card[0]
