import pandas as pd
import streamlit as st

from digitrec_core import ARCHITECTURES, MnistError
import digitrec_core.training  # noqa: F401  (TensorFlow loads with the page, not in the click's run)
from digitrec_core.jobs import TrainingBusy
from ui import resources
from ui.components import curves_figure

st.title("📈 Train")
try:
    data = resources.mnist()
except MnistError as e:
    st.error(f"Training needs MNIST. {e}")
    st.stop()
sup = resources.supervisor()
me = resources.session_id()


def fmt_time(s: float) -> str:
    return f"{int(s // 60)}:{int(s % 60):02d}"


# ---- hyperparameters -------------------------------------------------------------------------
job = sup.job
busy = job is not None and job.running
arch = st.selectbox("Architecture", list(ARCHITECTURES), format_func=lambda a: f"{a}: {ARCHITECTURES[a].description}")
recipe = ARCHITECTURES[arch].recipe
with st.form("hyperparameters", border=True, enter_to_submit=False):  # keyed per architecture: choosing one loads its recipe
    c = st.columns(4)
    epochs = c[0].number_input("Epochs", 1, 100, recipe.epochs, key=f"epochs_{arch}")
    batch_size = c[1].select_slider("Batch size", [16, 32, 64, 128, 256, 512], recipe.batch_size, key=f"batch_{arch}")
    lr = c[2].number_input("Learning rate", 1e-5, 1.0, recipe.learning_rate, format="%.4f", step=1e-4, key=f"lr_{arch}")
    limit = c[3].number_input("Training images", min(500, data.n_train), data.n_train, data.n_train, step=500, key=f"limit_{arch}",
                              help="A random subset of this size; 10% of it is held out for validation.")
    augment = st.toggle("Augmentation (rotation, scale, slant, shift, stroke weight)", recipe.augment, key=f"augment_{arch}")
    clicked = st.form_submit_button("🚀 Train", type="primary", disabled=busy)
if busy and job.owner != me:
    st.info("Another tab is training right now; its progress is below. You can train when it finishes.")

if clicked and not (busy and job.owner == me):  # a replayed submit must not start a second run
    cfg = dict(arch=arch, epochs=int(epochs), batch_size=int(batch_size), learning_rate=float(lr),
               augment=bool(augment), limit=int(limit) if limit < data.n_train else None)
    try:
        sup.start(cfg, owner=me, data=data)
        st.rerun()  # redraw with the Train button disabled and the live view polling
    except TrainingBusy as e:
        st.error(str(e))


# ---- the run in progress (or the last one) -----------------------------------------------------
def live(polling: bool) -> None:
    job = sup.job
    if job is None:
        return
    events = list(job.events)  # a snapshot: the training thread keeps appending
    cfg = job.config
    last = events[-1] if events else None
    if job.running:
        st.subheader("Training…" if job.owner == me else "Training (started in another tab)…")
        if last is None:
            st.progress(0.0, text="Starting (TensorFlow is warming up)…")
        else:
            eta = last.elapsed / max(last.fraction, 1e-6) * (1 - last.fraction)
            st.progress(
                min(last.fraction, 1.0),
                text=f"Epoch {last.epoch}/{last.epochs} · batch {last.batch}/{last.batches} · "
                f"{fmt_time(last.elapsed)} elapsed · ETA {fmt_time(eta)} · {last.images_per_sec:,.0f} images/s",
            )
    batches = [(e.epoch - 1 + e.batch / e.batches, e.loss, e.accuracy) for e in events if e.kind == "batch"]
    # A light figure (120-239 points a curve, the latest always in): the browser redraws it at every
    # refresh, and on a machine that also trains, its drawing time is taken from the training.
    shown = batches[:: max(1, len(batches) // 120)]
    if batches and shown[-1] is not batches[-1]:
        shown.append(batches[-1])
    epochs_done = [e for e in events if e.kind == "epoch"]
    history = {k: [getattr(e, k) for e in epochs_done] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
    st.plotly_chart(curves_figure({"this run": history}, shown), key="live_curves", config={"displayModeBar": False})
    if job.running:
        st.button("⏹ Stop", on_click=job.stop, key="stop", disabled=job.stop_event.is_set())
        return
    if job.error:
        st.error(f"Training failed: {job.error}")
    elif job.result is not None and job.result.stopped:
        st.warning(f"Stopped after {len(batches)} batches. Nothing was saved; the active model is unchanged.")
    elif job.saved is not None:
        r = job.result
        st.success(f"Saved as `{job.saved.name}` and made the active model.")
        st.code(f"Test Loss: {r.test_loss:.4f}\nTest Accuracy: {r.test_accuracy:.2%}", language=None)
        st.caption(f"{cfg.arch}, {r.epochs_run} epochs on {r.n_train:,} images in {r.seconds:.0f} s.")
    if polling:  # it finished while we watched: refresh the whole page once (sidebar, run table, button)
        st.rerun()


# Only this part of the page reruns, every 2 s, and only while a run is in progress. Every second
# with twice the points, chromium spent 26% of a core drawing it, now 10% (bench/browser.py --watch).
st.fragment(run_every=2.0 if busy else None)(live)(busy)

# ---- past runs ---------------------------------------------------------------------------------
st.divider()
st.subheader("Past runs")
runs = resources.store().list()
if not runs:
    st.caption("No runs yet. Trained models appear here; pick several to compare their curves.")
else:
    table = pd.DataFrame(
        [
            {
                "name": r.name, "arch": r.arch, "test accuracy": r.test_accuracy, "test loss": r.test_loss,
                "epochs": r.epochs_run, "images": r.n_train, "seconds": round(r.train_seconds),
                "augment": r.hyperparameters.get("augment"), "created": r.created_at,
            }
            for r in runs
        ]
    )
    st.dataframe(table, hide_index=True, column_config={"test accuracy": st.column_config.NumberColumn(format="percent")})
    chosen = st.multiselect("Compare runs", [r.name for r in runs], default=[r.name for r in runs[:2]], key="compare")
    if chosen:
        by_name = {r.name: r for r in runs}
        st.plotly_chart(curves_figure({n: by_name[n].history for n in chosen}), key="compare_curves",
                        config={"displayModeBar": False})
