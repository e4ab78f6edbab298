"""A finished run replaces the active model on its own only when it is not worse."""

import dataclasses

import pytest

from digitrec_core import ModelStore, save_model
from digitrec_core.learning.finetune import FineTuneResult
from digitrec_core.store import SHIPPED_DIR, shipped_info
from digitrec_core.store.promotion import MNIST_TOLERANCE, PERSONAL, PERSONAL_LOSS, TEST, change, decide, figure
from tests.support.runs import fake_run


def fine_tuned(active_name, *, test, personal_after, active_personal, loss_after=None, active_loss=None):
    run = fake_run("seed", test)
    return FineTuneResult(**{f.name: getattr(run, f.name) for f in dataclasses.fields(run)},
                          base=active_name, personal_after=personal_after, personal_before=active_personal,
                          active_name=active_name, active_personal=active_personal,
                          personal_loss_after=loss_after, personal_loss_before=active_loss,
                          active_personal_loss=active_loss)


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
    monkeypatch.setattr("digitrec_core.store.loading.SHIPPED_DIR", tmp_path / "nothing")
    saved = save_model(fake_run("seed", 0.2))
    assert saved.activated and saved.previous is None


def test_fine_tune_rule_needs_better_personal_and_at_most_a_small_mnist_loss(store_home):
    base = save_model(fake_run("seed", 0.99), activate="always").info
    store = ModelStore()
    ok = decide(fined := fine_tuned(base.name, test=0.99 - MNIST_TOLERANCE + 1e-4, personal_after=0.9,
                                    active_personal=0.7), store.active_info())
    assert ok.better and [r.measure for r in ok.comparison] == [TEST, PERSONAL, PERSONAL_LOSS]
    assert (ok.comparison[1].new, ok.comparison[1].active) == (0.9, 0.7) and ok.decided_by == PERSONAL
    # 0.1 points is 10 of the 10,000 test digits; 11 more misread is too many.
    forgot = decide(dataclasses.replace(fined, test=dataclasses.replace(fined.test, accuracy=0.99 - 0.0011)),
                    store.active_info())
    assert not forgot.better and "MNIST" in forgot.reason and forgot.decided_by == TEST
    no_gain = decide(dataclasses.replace(fined, personal_after=0.7), store.active_info())
    assert not no_gain.better and "no better" in no_gain.reason
    unjudged = decide(dataclasses.replace(fined, personal_after=None), store.active_info())
    assert not unjudged.better and "held out" in unjudged.reason


def test_a_fine_tune_that_reads_held_out_digits_as_well_but_more_surely_becomes_active(store_home):
    """Accuracy saturates on a few dozen digits (100% against 100%): the held-out log-loss decides then."""
    base = save_model(fake_run("seed", 0.99), activate="always").info
    active = ModelStore().active_info()
    tie = fine_tuned(base.name, test=0.99 - MNIST_TOLERANCE + 1e-4, personal_after=1.0, active_personal=1.0,
                     loss_after=0.05, active_loss=0.30)
    surer = decide(tie, active)
    assert surer.better and surer.decided_by == PERSONAL_LOSS
    assert "more surely" in surer.reason and "0.050" in surer.reason and "0.300" in surer.reason
    assert [(r.measure, r.new, r.active) for r in surer.comparison][2] == (PERSONAL_LOSS, 0.05, 0.30)
    # Exactly 0.1 points (10 of the 10,000 digits) less on MNIST is within the rule.
    edge = dataclasses.replace(tie, test=dataclasses.replace(tie.test, accuracy=9890 / 10000))
    assert decide(edge, active).better
    # Not worse is enough: the same log-loss.
    assert decide(dataclasses.replace(tie, personal_loss_after=0.30), active).better
    unsure = decide(dataclasses.replace(tie, personal_loss_after=0.31), active)
    assert not unsure.better and unsure.decided_by == PERSONAL_LOSS and "less surely" in unsure.reason
    # More of them right still counts when it is less sure of them.
    more_right = decide(dataclasses.replace(tie, personal_after=1.0, active_personal=0.9, personal_loss_after=0.4),
                        active)
    assert more_right.better and more_right.decided_by == PERSONAL
    # Surer of the held-out digits, but forgetting MNIST: refused, and the MNIST figure says why.
    forgot = decide(dataclasses.replace(tie, test=dataclasses.replace(tie.test, accuracy=0.98)), active)
    assert not forgot.better and forgot.decided_by == TEST
    # A record from before log-losses were kept: accuracy alone, as before.
    old = decide(dataclasses.replace(tie, personal_loss_after=None, active_personal_loss=None), active)
    assert not old.better and old.decided_by == PERSONAL and "no better" in old.reason


def test_figures_show_accuracies_as_percentages_and_log_loss_as_a_number():
    assert figure(PERSONAL, 0.975) == "97.50%" and figure(PERSONAL_LOSS, 0.0734) == "0.073"
    assert figure(PERSONAL_LOSS, None) == "–" and change(PERSONAL_LOSS, 0.3, 0.05) == "-0.250"
    assert change(TEST, 0.99, 0.9891) == "-0.09 points" and change(TEST, None, 0.5) == "–"


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
    import digitrec_core.store.models as store_module

    real_write = store_module.write_model

    def write_while_another_tab_switches(*args, **kwargs):
        real_write(*args, **kwargs)
        ModelStore().activate(chosen.name)  # the sidebar of another tab, mid-save

    monkeypatch.setattr(store_module, "write_model", write_while_another_tab_switches)
    saved = save_model(fake_run("seed", 0.99))
    assert not saved.activated and "changed while" in saved.reason
    assert ModelStore().active_name() == chosen.name != first.name
