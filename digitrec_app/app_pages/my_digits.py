from collections.abc import Sequence

import numpy as np
import streamlit as st

from digitrec_app.ui import gallery, navigation, resources, run_views
from digitrec_app.ui.components import digit_image
from digitrec_app.ui.figures import confusion_figure
from digitrec_core import MnistError, ModelOutputError, ModelStoreError, public
from digitrec_core.jobs import TrainingBusy
from digitrec_core.models import FINE_TUNE
from digitrec_core.optional import has_tensorflow, install_hint
from digitrec_core.serving.review import Flagged, class_counts
from digitrec_core.store.promotion import MNIST_TOLERANCE, PERSONAL, PERSONAL_LOSS, TEST
from digitrec_core.text import a_digit, plural

navigation.title("my_digits")
visitor = resources.visitor()
store = resources.store()
personal = resources.personal()
items = gallery.tiles(personal)
gallery.show_notice()
if personal.problems:
    st.warning(f"{plural(len(personal.problems), 'damaged sample')} skipped; every other sample loaded.")
    with st.expander("What was skipped"):
        st.markdown("\n".join(f"- {resources.error_text(p)}" for p in personal.problems))

IMPORT_KEY = "personal_import"


def flagged_gallery(flagged: Sequence[Flagged], digits: dict[str, np.ndarray]) -> None:
    """The user's digits the model reads as "not a digit", the least digit-like first."""
    st.markdown("**What it reads as not a digit**, the least digit-like first")
    st.caption("It would refuse these if you drew them again; they are just what fine-tuning on your digits is for.")
    cols = st.columns(gallery.COLUMNS)
    for j, f in enumerate(flagged[: gallery.MOST_MISTAKES]):
        with cols[j % gallery.COLUMNS]:
            digit_image(digits[f.id], caption=f"{a_digit(f.label)}: not a digit (like {a_digit(f.likely)}, "
                        f"{f.score:.0%})", size=gallery.TILE)
    if len(flagged) > gallery.MOST_MISTAKES:
        st.caption(f"…and {len(flagged) - gallery.MOST_MISTAKES} more.")


def exchange() -> None:
    """Keep them, move them to another machine, share them: a zip of PNGs and a CSV index."""
    st.subheader("Keep or share them")
    c = st.columns(2)
    with c[0]:
        st.download_button("Export as a zip", data=lambda: gallery.export_bytes(personal.root),
                           icon=":material/download:", file_name="my_digits.zip", mime="application/zip",
                           disabled=not items, key="export",
                           help="PNGs (the raw drawing and the 28x28) plus index.csv with the labels.")
    with c[1]:
        if not visitor.may_import_digits:
            st.caption(f"Importing is off on this public server (each visitor keeps at most "
                       f"{public.MAX_SESSION_DIGITS} digits).")
            return
        st.file_uploader("Import a zip exported from DigitRec", type=["zip"], key=IMPORT_KEY,
                         on_change=gallery.import_upload, args=(IMPORT_KEY,),
                         help="Samples already in your set are skipped, so importing twice adds nothing. "
                              f"The server takes zips up to {st.get_option('server.maxUploadSize')} MB; for a "
                              "bigger one, run `digitrec digits import FILE.zip` where DigitRec is installed.")


if not items:
    st.info(
        "No digits of yours yet. Draw one on the **Draw** page and press **Right** when the prediction is "
        "right, or **It's a …** with the right digit when it is not: each click keeps the digit here. "
        "Or import a zip of digits exported from DigitRec below."
    )
    navigation.link("draw", "Draw a digit")
    exchange()
    st.stop()

# ---- what there is ----------------------------------------------------------------------------
counts = class_counts([t.sample.label for t in items])
where = f"in `{personal.folder}`" if visitor.sees_details else "for this session on this server"  # no server paths
st.caption(f"{plural(len(items), 'digit')} of yours, kept {where}.")
for d, col in enumerate(st.columns(10)):
    col.metric(f"{d}s", counts[d])

# ---- how the active model reads them -----------------------------------------------------------
st.subheader("How the active model reads them")
try:
    loaded = resources.active_model()
except ModelStoreError as e:
    st.error(resources.error_text(e))
    st.stop()
try:
    report = resources.personal_review(loaded.info.name, tuple(t.sample.id for t in items),
                                       np.stack([t.digit for t in items]), np.array([t.sample.label for t in items]))
except ModelOutputError as e:  # a damaged model's NaN or 1e33: one sentence instead of `nan%`; the rest still works
    st.error(resources.error_text(e))
    report = None
if report is not None:
    figures = [("Accuracy on your digits", f"{report.evaluation.accuracy:.2%}", None),
               ("Read right", f"{report.n_right} of {report.n}", None)]
    if report.n_unseen < report.n:  # a fine-tune trained on some of them: the fair figure is on the others
        figures.append(("On digits it never trained on", "–" if report.unseen_accuracy is None else
                        f"{report.unseen_accuracy:.2%}", f"{plural(report.n_unseen, 'digit')} it did not fine-tune on"))
    if report.threshold is not None:  # a model saved before DigitRec had the threshold flags nothing
        figures.append(("Read as not a digit", f"{len(report.flagged)} of {report.n}",
                        "Drawn again, these would read as \"Not a digit\"."))
    for col, (label, value, why) in zip(st.columns(4), figures):
        col.metric(label, value, help=why)
    st.caption(f"Model `{loaded.info.name}`.")
    left, right = st.columns([2, 3])
    with left:
        st.plotly_chart(confusion_figure(report.evaluation.confusion, height=380), key="personal_confusion",
                        config={"displayModeBar": False})
    with right:
        st.markdown("**What it gets wrong**, the mistakes it is surest about first")
        if report.mistakes:
            gallery.mistakes_gallery(report, {t.sample.id: t.digit for t in items})
        else:
            st.success("It reads every one of them right.")
    if report.flagged:
        flagged_gallery(report.flagged, {t.sample.id: t.digit for t in items})

# ---- fine-tune ---------------------------------------------------------------------------------
st.subheader("Fine-tune on your digits")
st.caption(
    "Trains the last layers of a copy of the active model on your digits (augmented), mixed with MNIST images so "
    "it learns your hand without forgetting MNIST. About a fifth of your digits are held "
    "out (always the same ones) to judge it, before and after; it becomes the active model only if it reads those "
    "at least as surely (log-loss) or reads more of them right, and loses at most "
    f"{MNIST_TOLERANCE * 100:.1f} points on the MNIST test set."
)
sup = resources.supervisor()
resources.prewarm()  # TensorFlow loads and the non-digits are drawn before a Fine-tune click, not after
me = resources.session_id()
job = sup.job
if not has_tensorflow():  # a serve-only install
    why_not = install_hint("Fine-tuning") + "."
elif len(items) < FINE_TUNE.min_samples:
    why_not = (f"Fine-tuning needs at least {FINE_TUNE.min_samples} of your digits; you have {len(items)}. "
               "Add more on the Draw page.")
elif job is not None and job.running:
    why_not = ("A fine-tune is running." if job.kind == "finetune" else
               "A training run is in progress (Train page); you can fine-tune when it finishes.")
else:
    why_not = None
c = st.columns([1, 1, 3], vertical_alignment="bottom")
max_epochs = visitor.max_fine_tune_epochs  # public mode: a bounded run, kept for this visitor, never shared
epochs = c[0].number_input("Epochs", 1, max_epochs, min(FINE_TUNE.epochs, max_epochs), key="finetune_epochs")
clicked = c[1].button("Fine-tune", icon=":material/model_training:", type="primary", disabled=why_not is not None,
                      help=why_not, key="finetune")
if why_not:
    c[2].caption(why_not)
if clicked and why_not is None:
    # MNIST is loaded on the click, not with the page: browsing your digits never waits for it.
    try:
        # This session's model and digits: in public mode both are the visitor's own.
        own = visitor.session_scoped  # else None: the store's active model and personal set
        sup.start_fine_tune(owner=me, base=loaded.info.name if own else None, epochs=min(int(epochs), max_epochs),
                            data=resources.mnist(), samples=personal.arrays(with_ids=True) if own else None,
                            **resources.run_limits())
        st.rerun()  # redraw with the button disabled and the live view polling
    except MnistError as e:
        st.error("Fine-tuning mixes in MNIST images so the model keeps what it knew, and MNIST is missing. "
                 + resources.error_text(e))
    except TrainingBusy as e:
        st.error(resources.error_text(e))


def fine_tune_result(job) -> None:
    """Before and after, side by side, then what saving did."""
    r, saved = job.result, job.saved
    st.table(run_views.side_by_side(
        [PERSONAL, PERSONAL_LOSS, TEST],
        (f"before: {r.base}", [r.personal_before, r.personal_loss_before, r.base_test_accuracy]),
        (f"after: {saved.info.name}", [r.personal_after, r.personal_loss_after, r.test_accuracy]),
    ))
    st.caption(
        f"Held out: {r.n_personal_holdout:,} of your digits, which it never trained on. "
        f"Trained on the other {r.n_personal_train:,} mixed with MNIST images, {plural(r.epochs_run, 'epoch')} "
        f"in {r.seconds:.0f} s of training, {job.waited:.0f} s from the click to the result."
    )
    # The figures the activation rule used are the ones above unless the active model was not the base.
    run_views.saved_view(saved, key="finetune", compare=saved.previous is not None and saved.previous.name != r.base)


run_views.stop_control("finetune", me=me)
run_views.watch("finetune", fine_tune_result, me=me)

# ---- the digits, one gallery a digit -----------------------------------------------------------
st.subheader("Your digits")
st.caption("As the model sees them (28x28). Change a label to relabel a digit; Delete removes it.")
gallery.digit_gallery(items)

exchange()
