import streamlit as st

from digitrec_app.ui import navigation, resources, run_views
from digitrec_core import ARCHITECTURES, MnistError, public
from digitrec_core.jobs import TrainingBusy
from digitrec_core.optional import has_tensorflow, install_hint
from digitrec_core.store import ModelInfo
from digitrec_core.text import plural


def past_runs() -> None:
    """The stored runs and their curves: read from the store, so a serve-only install shows them too (and,
    above them, a sweep running now)."""
    st.divider()
    run_views.running_sweep()
    st.subheader("Past runs")
    stored = resources.store().list()
    if not stored:
        st.caption("No runs yet. Trained models appear here; pick several to compare their curves.")
        return
    st.dataframe(run_views.runs_table(stored), hide_index=True,
                 column_config={"test accuracy": st.column_config.NumberColumn(format="percent")})
    labels = ModelInfo.labels(stored)
    chosen = st.multiselect("Compare runs", [r.name for r in stored], default=[r.name for r in stored[:2]],
                            format_func=labels.get, key="compare")
    if chosen:
        by_name = {r.name: r for r in stored}
        run_views.curves_chart({labels[n]: by_name[n].history for n in chosen}, key="compare_curves",
                          empty="No curves were recorded for these runs.")
    sweeps(stored)


def sweeps(stored: list) -> None:
    """The sweeps (`digitrec sweep`) among the stored runs, and one sweep's trials' curves overlaid."""
    groups = run_views.sweeps(stored)
    if not groups:
        return
    st.subheader("Sweeps")
    st.caption("Sweeps run from the command line (`digitrec sweep`); the trials they stopped early are not stored.")
    st.dataframe(run_views.sweeps_table(groups), hide_index=True,
                 column_config={"best test accuracy": st.column_config.NumberColumn(format="percent")})
    chosen = st.selectbox("Sweep", list(groups), key="sweep")
    run_views.curves_chart(run_views.sweep_curves(groups[chosen]), key="sweep_curves",
                      empty="No curves were recorded for this sweep's trials.")


navigation.title("train")
if not has_tensorflow():  # a serve-only install: say what training needs, show what is stored
    st.info(install_hint("Training") + ".", icon=":material/info:")
    past_runs()
    st.stop()
try:
    data = resources.mnist()
except MnistError as e:
    st.error(f"Training needs MNIST. {resources.error_text(e)}")
    st.stop()
sup = resources.supervisor()
resources.prewarm()  # TensorFlow loads while the user sets the run up, not after the click
me = resources.session_id()
# A public-mode visitor trains a bounded run that is kept for a while and never becomes the shared model.
visitor = resources.visitor()
max_epochs, max_images = visitor.training_bounds(data.n_train)
if visitor.guest:
    st.caption(f"Visitors train at most {public.MAX_EPOCHS} epochs on {public.MAX_IMAGES:,} images, for at most "
               f"{public.MAX_SECONDS} s. Your model is yours to switch to; it does not replace the shared one, and "
               f"only the {public.KEEP_VISITOR_MODELS} newest visitors' models are kept.")


# ---- hyperparameters -------------------------------------------------------------------------
job = sup.job
busy = job is not None and job.running
arch = st.selectbox("Architecture", list(ARCHITECTURES),
                    format_func=lambda a: f"{a}: {ARCHITECTURES[a].description}")
recipe = ARCHITECTURES[arch].recipe
# The widgets are keyed per architecture: choosing one loads its recipe.
with st.form("hyperparameters", border=True, enter_to_submit=False):
    c = st.columns(4)
    epochs = c[0].number_input("Epochs", 1, max_epochs, min(recipe.epochs, max_epochs), key=f"epochs_{arch}")
    batch_size = c[1].select_slider(
        "Batch size", ["auto", 16, 32, 64, 128, 256, 512], "auto", key=f"batch_{arch}",
        help=f"auto: the recipe's {recipe.batch_size}, halved for a short run until it takes at least "
        f"{recipe.min_steps} steps (down to {recipe.min_batch_size})")
    lr = c[2].number_input("Learning rate", 1e-5, 1.0, recipe.learning_rate, format="%.4f", step=1e-4,
                           key=f"lr_{arch}")
    limit = c[3].number_input("Training images", min(500, max_images), max_images, max_images, step=500,
                              key=f"limit_{arch}",
                              help="A random subset of this size; 10% of it is held out for validation.")
    augment = st.toggle("Augmentation (rotation, scale, slant, shift, stroke weight)", recipe.augment,
                        key=f"augment_{arch}")
    clicked = st.form_submit_button("Train", icon=":material/rocket_launch:", type="primary", disabled=busy)
run_views.stop_control("train", me=me)  # right under Train, where the eye is after the click
if busy and job.kind != "train":
    st.info("A fine-tune is running (started on the My digits page). You can train when it finishes.")
elif busy and job.owner != me:
    st.info("Another tab is training right now; its progress is below. You can train when it finishes.")

if clicked and not (busy and job.owner == me):  # a replayed submit must not start a second run
    # Clamped here too: the widgets' bounds are only what the browser was told.
    epochs, limit = min(int(epochs), max_epochs), min(int(limit), max_images)
    cfg = {"arch": arch, "epochs": epochs, "batch_size": None if batch_size == "auto" else int(batch_size),
           "learning_rate": float(lr), "augment": bool(augment), "limit": limit if limit < data.n_train else None}
    try:
        sup.start(cfg, owner=me, data=data, **resources.run_limits())
        st.rerun()  # redraw with the Train button disabled and the live view polling
    except TrainingBusy as e:
        st.error(resources.error_text(e))


# ---- the run in progress (or the last one) -----------------------------------------------------
def train_result(job) -> None:
    """The original script's lines under the shared outcome of a saved run."""
    r = job.result
    run_views.saved_view(job.saved, key="train")
    st.code(f"Test Loss: {r.test_loss:.4f}\nTest Accuracy: {r.test_accuracy:.2%}", language=None)
    st.caption(f"{job.config.arch}, {plural(r.epochs_run, 'epoch')} on {plural(r.n_train, 'image')} "
               f"in {r.seconds:.0f} s of training, {job.waited:.0f} s from the click to the result.")


run_views.watch("train", train_result, me=me)

# ---- past runs ---------------------------------------------------------------------------------
past_runs()
