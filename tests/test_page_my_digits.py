"""The dashboard's My digits page, driven through Streamlit's AppTest (no browser): the user's own digits,
their gallery, relabelling, deleting, export and import, and fine-tuning on them. The AppTest tooling and its notes are
in tests/support/pages.py.
"""

from __future__ import annotations

import io
import json

import numpy as np
from streamlit.testing.v1 import AppTest

from digitrec_core import ModelStore
from digitrec_core.data import MNIST_DIR_ENV
from tests.support.drawings import drawn
from tests.support.pages import (
    SHIPPED,
    has_key,
    markdowns,
    metrics,
    midway_threshold,
    open_app,
    personal_samples,
    run,
    sidebar_text,
    store_shipped,
)
from tests.support.personal import add_digits


def digit_counts(at: AppTest) -> list[str]:
    m = metrics(at)
    return [m[f"{d}s"] for d in range(10)]


def image_captions(at: AppTest) -> list[str]:
    return [c for image in at.get("image") for c in image.captions]


def test_my_digits_empty_state_says_how_to_add_digits(app_env, synthetic_dir):
    at = open_app("my_digits")
    assert [t.value for t in at.title] == ["My digits"]
    (info,) = [i.value for i in at.info]
    assert "Draw" in info and "Right" in info and "It's a …" in info and "import" in info
    assert not at.error and not at.warning and not at.metric and not at.tabs
    assert at.get("download_button")[0].proto.disabled  # nothing to export yet
    assert has_key(at.file_uploader, "personal_import")


def test_my_digits_counts_gallery_accuracy_and_mistakes(app_env, synthetic_dir):
    from digitrec_core import load_model, predict_proba
    from digitrec_core.personal import PersonalDigits
    from digitrec_core.serving.review import review

    ids = add_digits(per_class=4, wrong=2)
    at = open_app("my_digits")
    assert digit_counts(at) == ["4", "4", "0", "0", "0", "0", "0", "6", "0", "0"]
    assert at.caption[0].value.startswith("14 digits of yours")
    assert [t.label for t in at.tabs] == [str(d) for d in range(10)]
    assert at.tabs[7].caption[0].value == "6 samples of a 7, oldest first."
    assert at.tabs[2].caption[0].value == "No 2s yet."
    for sample_id, label in ids.items():  # every sample: its label, and a delete button
        assert at.selectbox(key=f"label_{sample_id}_{label}").value == label
        assert has_key(at.button, f"delete_{sample_id}")

    # The numbers are the shipped model's on these very digits.
    x, y, order = PersonalDigits(ModelStore().root).arrays(with_ids=True)
    expected = review(predict_proba(load_model(SHIPPED["name"]).model, x), y, order)
    assert len(expected.mistakes) >= 2  # the 1s labelled 7 at least
    m = metrics(at)
    assert m["Accuracy on your digits"] == f"{expected.evaluation.accuracy:.2%}"
    assert m["Read right"] == f"{expected.n_right} of 14"
    chart = next(c for c in at.get("plotly_chart") if "personal_confusion" in c.proto.id)
    heatmap = json.loads(chart.proto.spec)["data"][0]
    assert heatmap["customdata"] == expected.evaluation.confusion.tolist()
    # The mistakes and the gallery; the digits read as not a digit (should the shipped model flag some) have their own.
    captions = [c for c in image_captions(at) if ": not a digit" not in c]
    wrong = [c for c in captions if c.startswith("a ")]  # the mistakes, the surest first
    assert wrong == [f"a {w.label} read as {w.predicted} ({w.confidence:.0%})" for w in expected.mistakes]
    # The gallery: every sample once, with what the model said when it was stored.
    assert sorted(c for c in captions if not c.startswith("a ")) == ["read as 1 (80%)"] * 2 + ["read right (90%)"] * 12


def test_my_digits_marks_the_digits_the_model_reads_as_not_a_digit(app_env, synthetic_dir):
    from digitrec_core import load_model, predict_proba, recognize
    from digitrec_core.personal import PersonalDigits

    add_digits(per_class=4)
    x, y, ids = PersonalDigits(ModelStore().root).arrays(with_ids=True)
    probs = predict_proba(load_model(SHIPPED["name"]).model, x)
    strict = store_shipped(midway_threshold(probs.max(axis=1)))
    seen = recognize(ModelStore().load(strict), x)
    flagged = np.flatnonzero(seen.flagged)
    assert 0 < len(flagged) < len(x)

    def article(d: int) -> str:
        return f"{'an' if d == 8 else 'a'} {d}"

    at = open_app("my_digits")
    m = metrics(at)
    assert m["Read as not a digit"] == f"{len(flagged)} of 12"
    assert m["Accuracy on your digits"] == f"{(probs.argmax(axis=1) == y).mean():.2%}"  # flagged or not
    marked = [c for c in image_captions(at) if "not a digit" in c]
    assert sorted(marked) == sorted(f"{article(y[i])}: not a digit (like {article(seen.likely[i])}, "
                                    f"{seen.digit_score[i]:.0%})" for i in flagged)
    assert any("fine-tuning" in c.value for c in at.caption)

    store_shipped(None)  # the same model without a threshold: no mark and no count
    run(at)
    assert "Read as not a digit" not in metrics(at)
    assert not [c for c in image_captions(at) if "not a digit" in c]
    assert not any("not a digit" in t for t in markdowns(at))


def test_my_digits_delete_and_relabel(app_env, synthetic_dir):
    ids = add_digits(per_class=2)
    at = open_app("my_digits")
    (one, other) = [i for i, label in ids.items() if label == 1]
    run(at.button(key=f"delete_{one}").click())
    assert one not in personal_samples() and len(personal_samples()) == 5
    assert at.success[0].value == "Deleted a 1."  # the notice first, above the page
    assert digit_counts(at)[:2] == ["2", "1"] and not has_key(at.button, f"delete_{one}")
    run(at)
    assert "Deleted a 1." not in [s.value for s in at.success]  # said once

    run(at.selectbox(key=f"label_{other}_1").set_value(4))
    assert personal_samples()[other].label == 4
    assert at.success[0].value == "Relabelled a 1 as a 4."
    assert digit_counts(at)[:5] == ["2", "0", "0", "0", "1"]
    assert at.selectbox(key=f"label_{other}_4").value == 4
    assert at.tabs[4].caption[0].value == "1 sample of a 4, oldest first."


def test_my_digits_reports_damaged_samples_and_shows_the_rest(app_env, synthetic_dir):
    ids = add_digits(per_class=2)
    broken = next(iter(ids))
    (ModelStore().root / "personal" / f"{broken}.28.png").write_bytes(b"not a png")
    at = open_app("my_digits")
    assert [w.value for w in at.warning] == ["1 damaged sample skipped; every other sample loaded."]
    assert broken in at.expander[0].markdown[0].value
    assert sum(int(c) for c in digit_counts(at)) == 5 and not has_key(at.button, f"delete_{broken}")


def test_my_digits_export_then_import_into_a_fresh_store(app_env, synthetic_dir, tmp_path, monkeypatch):
    import zipfile

    from digitrec_app.ui.gallery import export_bytes

    ids = add_digits(per_class=2, wrong=1)
    before = personal_samples()
    at = open_app("my_digits")
    (download,) = at.get("download_button")
    assert download.proto.label == "Export as a zip" and not download.proto.disabled
    data = export_bytes(ModelStore().root)  # what the button sends when clicked

    monkeypatch.setenv("DIGITREC_HOME", str(tmp_path / "elsewhere"))  # another machine
    at = open_app("my_digits")
    assert at.info  # empty there
    run(at.file_uploader(key="personal_import").upload("my_digits.zip", data, "application/zip"))
    assert [s.value for s in at.success] == [f"my_digits.zip: {len(ids)} samples added."]
    after = personal_samples()
    assert after.keys() == before.keys()
    assert all((after[i].label, after[i].predicted, after[i].model) == (s.label, s.predicted, s.model)
               for i, s in before.items())
    assert digit_counts(at) == ["2", "2", "0", "0", "0", "0", "0", "3", "0", "0"]

    # Again, with one row damaged: the rest is already there, the bad row is reported.
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
        for item in src.infolist():
            body = src.read(item)
            if item.filename.endswith("index.csv"):
                body += b"20261201-000000-000-beef,12,,,,2026-12-01T00:00:00+00:00,x.png,x.28.png\n"
            dst.writestr(item, body)
    run(at.file_uploader(key="personal_import").upload("damaged.zip", buf.getvalue(), "application/zip"))
    (warning,) = [w.value for w in [*at.error, *at.warning]]
    assert warning.startswith(f"damaged.zip: 0 samples added, {len(ids)} samples already in your set; 1 problem:")
    assert "Row " in warning and len(personal_samples()) == len(ids)


def finish_fine_tune(at: AppTest, timeout: float = 300):
    import digitrec_app.ui.resources as res

    job = res.supervisor().job
    assert job is not None and job.kind == "finetune", "pressing Fine-tune started no fine-tune"
    assert job.wait(timeout), "the fine-tune did not finish in time"
    assert job.error is None, job.error
    run(at)
    return job


def test_my_digits_fine_tune_runs_and_shows_before_and_after(app_env, synthetic_dir):
    from digitrec_core.learning.finetune import holdout_mask
    from digitrec_core.models import HOLDOUT

    ids = add_digits(per_class=4)  # the shipped model reads all of them right: no fine-tune can beat it
    while not holdout_mask(list(ids), HOLDOUT).any():  # ids are random: 12 hold none out 7% of the time
        ids |= add_digits(per_class=1)
    at = open_app("my_digits")
    button = at.button(key="finetune")
    assert not button.disabled
    at.number_input(key="finetune_epochs").set_value(1)
    run(button.click())
    assert "Fine-tuning…" in [s.value for s in at.subheader] and at.progress and has_key(at.button, "stop_finetune")
    assert at.button(key="finetune").disabled
    job = finish_fine_tune(at)
    r, saved = job.result, job.saved
    assert r.base == SHIPPED["name"] and r.epochs_run == 1 and not r.stopped

    (table,) = [t.value for t in at.table]  # before and after, side by side
    assert list(table.columns) == ["", f"before: {SHIPPED['name']}", f"after: {saved.info.name}", "change"]
    assert table.iloc[0].tolist()[:3] == ["held-out personal accuracy", f"{r.personal_before:.2%}",
                                          f"{r.personal_after:.2%}"]
    assert table.iloc[1].tolist() == ["held-out personal log-loss", f"{r.personal_loss_before:.3f}",
                                      f"{r.personal_loss_after:.3f}",
                                      f"{r.personal_loss_after - r.personal_loss_before:+.3f}"]
    assert table.iloc[2].tolist()[:3] == ["MNIST test accuracy", f"{r.base_test_accuracy:.2%}",
                                          f"{r.test_accuracy:.2%}"]
    assert r.personal_before == 1.0 and r.n_personal_holdout >= 1
    assert any(c.value.startswith(f"Held out: {r.n_personal_holdout} of your digits") for c in at.caption)

    assert not saved.activated and ModelStore().active_name() != saved.info.name
    assert [w.value for w in at.warning] == [f"Saved as `{saved.info.name}`; the active model is unchanged."]
    assert saved.reason in markdowns(at) and saved.reason.startswith("Not made active")
    assert saved.decided_by and f"Decided by: {saved.decided_by}." in [c.value for c in at.caption]
    run(next(b for b in at.button if b.label == "Make active").click())
    assert ModelStore().active_name() == saved.info.name and f"`{saved.info.name}`" in sidebar_text(at)
    info = ModelStore().info(saved.info.name)
    assert info.kind == "finetune" and info.parent == SHIPPED["name"]
    # The accuracy section now reads with the fine-tuned model, and says how it does on digits it never saw.
    assert at.caption[1].value == f"Model `{saved.info.name}`." and "On digits it never trained on" in metrics(at)


def test_my_digits_stop_ends_the_fine_tune_within_a_batch(app_env, synthetic_dir):
    import digitrec_app.ui.resources as res
    from digitrec_core.text import plural

    add_digits(per_class=4)
    at = open_app("my_digits")
    at.number_input(key="finetune_epochs").set_value(20)
    run(at.button(key="finetune").click())
    job = res.supervisor().job
    run(at.button(key="stop_finetune").click())
    assert job.stop_event.is_set()
    assert job.wait(300) and job.result.stopped and job.saved is None
    run(at)
    n = sum(e.kind == "batch" for e in job.events)
    assert 1 <= n < job.events[-1].batches * 20
    stopped = f"Stopped after {plural(n, 'batch', 'batches')}. Nothing was saved; the active model is unchanged."
    assert [w.value for w in at.warning] == [stopped]
    assert [i.name for i in ModelStore().list()] == [] and not at.button(key="finetune").disabled


def test_my_digits_fine_tune_without_mnist_says_what_is_missing(app_env, tmp_path, monkeypatch):
    import digitrec_app.ui.resources as res

    def offline():
        raise OSError("no network in this test")

    monkeypatch.setattr("digitrec_core.data._keras_load", offline)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv(MNIST_DIR_ENV, str(tmp_path / "nowhere"))
    add_digits(per_class=4)
    at = open_app("my_digits")
    assert not at.error and metrics(at)["Read right"] == "12 of 12"  # the page itself needs no MNIST
    run(at.button(key="finetune").click())
    (error,) = [e.value for e in at.error]
    assert error.startswith("Fine-tuning mixes in MNIST images") and "nowhere" in error
    assert res.supervisor().job is None


def test_my_digits_fine_tune_says_why_it_is_disabled(app_env, synthetic_dir):
    from digitrec_core.models import FINE_TUNE

    add_digits(per_class=1)
    at = open_app("my_digits")
    button = at.button(key="finetune")
    why = f"Fine-tuning needs at least {FINE_TUNE.min_samples} of your digits; you have 3. Add more on the Draw page."
    assert button.disabled and button.help == why and why in [c.value for c in at.caption]


def test_my_digits_says_an_8_when_it_relabels_and_deletes(app_env, synthetic_dir):
    from digitrec_core.personal import PersonalDigits

    personal = PersonalDigits(ModelStore().root)
    eight = personal.add(drawn(1, 0), 8, predicted=1, probability=0.9, model="test")
    five = personal.add(drawn(7, 1), 5, predicted=7, probability=0.9, model="test")
    at = open_app("my_digits")
    assert at.tabs[8].caption[0].value == "1 sample of an 8, oldest first."
    run(at.selectbox(key=f"label_{five}_5").set_value(8))
    assert at.success[0].value == "Relabelled a 5 as an 8."
    assert at.tabs[8].caption[0].value == "2 samples of an 8, oldest first."
    run(at.button(key=f"delete_{eight}").click())
    assert at.success[0].value == "Deleted an 8." and eight not in personal_samples()
    run(at.selectbox(key=f"label_{five}_8").set_value(3))
    assert at.success[0].value == "Relabelled an 8 as a 3."
