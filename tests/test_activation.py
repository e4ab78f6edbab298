"""A finished run replaces the active model on its own only when it is not worse."""

import dataclasses

import pytest
from test_store import fake_run

from digitrec_core import ModelStore, save_model
from digitrec_core.activation import MNIST_TOLERANCE, PERSONAL, TEST, decide
from digitrec_core.finetune import FineTuneResult
from digitrec_core.store import SHIPPED_DIR, shipped_info


def fine_tuned(active_name, *, test, personal_after, active_personal):
    run = fake_run("seed", test)
    return FineTuneResult(**{f.name: getattr(run, f.name) for f in dataclasses.fields(run)},
                          base=active_name, personal_after=personal_after, personal_before=active_personal,
                          active_name=active_name, active_personal=active_personal)


def test_a_worse_run_is_saved_but_not_made_active(store_home):
    shipped = shipped_info()
    saved = save_model(fake_run("seed", shipped.test_accuracy - 0.5))
    store = ModelStore()
    assert not saved.activated and saved.previous.name == shipped.name
    assert [i.name for i in store.list()] == [saved.info.name]  # kept, for the user to decide
    assert store.active_info().name == shipped.name
    assert len(saved.comparison) == 1
    row = saved.comparison[0]
    expected = (TEST, pytest.approx(shipped.test_accuracy - 0.5), shipped.test_accuracy)
    assert (row.measure, row.new, row.active) == expected
    assert "below" in saved.reason and shipped.name in saved.reason


def test_a_run_at_least_as_good_becomes_active(store_home):
    first = save_model(fake_run("seed", 0.9), activate="always")
    same = save_model(fake_run("seed", 0.9))
    assert same.activated and same.previous.name == first.info.name
    better = save_model(fake_run("seed", 0.95))
    assert better.activated and ModelStore().active_name() == better.info.name
    worse = save_model(fake_run("seed", 0.94))
    assert not worse.activated and ModelStore().active_name() == better.info.name


def test_always_and_never_decide_without_comparing(store_home):
    forced = save_model(fake_run("seed", 0.1), activate="always")
    assert forced.activated and ModelStore().active_name() == forced.info.name
    kept = save_model(fake_run("seed", 0.99), activate="never")
    assert not kept.activated and ModelStore().active_name() == forced.info.name
    with pytest.raises(ValueError, match="if-better"):
        save_model(fake_run("seed", 0.99), activate="sometimes")


def test_with_no_model_at_all_the_first_run_becomes_active(store_home, monkeypatch, tmp_path):
    monkeypatch.setattr("digitrec_core.store.SHIPPED_DIR", tmp_path / "nothing")
    saved = save_model(fake_run("seed", 0.2))
    assert saved.activated and saved.previous is None


def test_fine_tune_rule_needs_better_personal_and_at_most_a_small_mnist_loss(store_home):
    base = save_model(fake_run("seed", 0.99), activate="always").info
    store = ModelStore()
    ok = decide(fined := fine_tuned(base.name, test=0.99 - MNIST_TOLERANCE + 1e-4, personal_after=0.9,
                                    active_personal=0.7), store.active_info())
    assert ok.better and [r.measure for r in ok.comparison] == [TEST, PERSONAL]
    assert (ok.comparison[1].new, ok.comparison[1].active) == (0.9, 0.7)
    forgot = decide(dataclasses.replace(fined, test=dataclasses.replace(fined.test, accuracy=0.99 - 0.005)),
                    store.active_info())
    assert not forgot.better and "MNIST" in forgot.reason
    no_gain = decide(dataclasses.replace(fined, personal_after=0.7), store.active_info())
    assert not no_gain.better and "no better" in no_gain.reason
    unjudged = decide(dataclasses.replace(fined, personal_after=None), store.active_info())
    assert not unjudged.better and "held out" in unjudged.reason


def test_fine_tune_is_not_activated_if_the_active_model_changed_meanwhile(store_home):
    base = save_model(fake_run("seed", 0.99), activate="always").info
    run = fine_tuned(base.name, test=0.99, personal_after=0.9, active_personal=0.5)
    other = save_model(fake_run("seed", 0.99), activate="always").info  # another tab, or the CLI
    saved = save_model(run)
    assert not saved.activated and other.name in saved.reason
    assert ModelStore().active_name() == other.name
    meta = ModelStore().info(saved.info.name)
    assert meta.kind == "finetune" and meta.parent == base.name and saved.info.name.startswith("finetune-")


def test_damaged_active_metadata_does_not_block_a_good_run(store_home):
    assert SHIPPED_DIR.is_dir()
    old = save_model(fake_run("seed", 0.9), activate="always").info
    broken = dataclasses.replace(old, test_accuracy="99%")  # a hand-edited meta.json
    verdict = decide(fake_run("seed", 0.95), broken)
    assert verdict.better and verdict.comparison[0].active is None


def test_a_model_chosen_during_the_save_is_not_overridden(store_home, monkeypatch):
    first = save_model(fake_run("seed", 0.9), activate="always").info
    chosen = save_model(fake_run("seed", 0.5), activate="never").info
    import digitrec_core.store as store_module

    real_write = store_module.write_model

    def write_while_another_tab_switches(*args, **kwargs):
        real_write(*args, **kwargs)
        ModelStore().activate(chosen.name)  # the sidebar of another tab, mid-save

    monkeypatch.setattr(store_module, "write_model", write_while_another_tab_switches)
    saved = save_model(fake_run("seed", 0.99))
    assert not saved.activated and "changed while" in saved.reason
    assert ModelStore().active_name() == chosen.name != first.name
