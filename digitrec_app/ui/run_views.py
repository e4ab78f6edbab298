"""A run in the background as the Train and My digits pages show it, written once for both.

The live view (progress bar, loss and accuracy curves, Stop), what a finished run did (saved,
made active or not and why, the figures side by side, "Make active"), and the past-runs table.
The pure parts (curve points, progress text, tables) are plain functions that pytest checks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
import streamlit as st

from digitrec_app.ui import resources
from digitrec_app.ui.components import CURVES_HEIGHT, curves_figure, finite_numbers
from digitrec_core.jobs import epoch_history
from digitrec_core.learning.runs import HISTORY_KEYS
from digitrec_core.store import ModelInfo
from digitrec_core.store.promotion import change, figure
from digitrec_core.text import plural, when

POLL_SECONDS = 2.0  # every 2 s with 120-239 points a curve: chromium spends 10% of a core (bench/browser.py --watch)
# A fine-tune lasts seconds and draws a few points: its result shows up to a second after it ends, not two.
POLL = {"train": POLL_SECONDS, "finetune": 1.0}
# Until the first batch: the wait a user times after the click is not stretched by half a poll (then one full
# rerun slows the polling down).
FIRST_POLL = 0.5
MAX_POINTS = 120  # per curve, before the latest point is added
VERB = {"train": "Training", "finetune": "Fine-tuning"}
# Per kind of run: the Stop button's and the live chart's widget keys (Train's predate fine-tuning).
KEYS = {"train": ("stop", "live_curves"), "finetune": ("stop_finetune", "finetune_curves")}
# Where the live curves will be until the first batch, while the child process imports TensorFlow and builds the
# model (a warm worker has done both; a fine-tune also draws its non-digits), under "Starting (TensorFlow…)".
WAITING = "Waiting for the first batch: the loss and accuracy curves start with it."


# ---- pure pieces -------------------------------------------------------------------------------

def duration(seconds: float) -> str:
    """`m:ss`."""
    s = max(0, int(seconds))
    return f"{s // 60}:{s % 60:02d}"


def curve_points(events: Sequence, most: int = MAX_POINTS) -> list[tuple[float, float, float]]:
    """(epoch as a fraction, loss, accuracy) of the batch events, about `most` of them, the latest always in.

    The smoothed per-batch values when the events carry them (`smooth_loss`, `smooth_accuracy`):
    Keras's running means restart at every epoch and made the curve jump there (loss 1.8 -> 1.2).
    A light figure because the browser redraws it at every refresh, and on a machine that also
    trains, its drawing time is taken from the training.
    """
    points = [
        (e.epoch - 1 + e.batch / e.batches, _smoothed(e, "loss"), _smoothed(e, "accuracy"))
        for e in events if e.kind == "batch"
    ]
    shown = points[:: max(1, len(points) // most)]
    if points and shown[-1] is not points[-1]:
        shown.append(points[-1])
    return shown


def has_points(runs: dict[str, dict[str, list]], live_batches: Sequence = ()) -> bool:
    """Whether `curves_figure(runs, live_batches)` would draw anything: a live batch, or a number in a history."""
    return bool(live_batches) or any(finite_numbers(h.get(k, [])) for h in runs.values() for k in HISTORY_KEYS)


def _smoothed(event, name: str) -> float:
    value = getattr(event, f"smooth_{name}", None)
    return getattr(event, name) if value is None else value


def progress_text(events: Sequence) -> str:
    """`Epoch 1/3 · batch 40/63 · 0:12 elapsed · ETA 0:30 · 1,234 images/s` for the latest of a run's events: no ETA
    until `time_left` has one, and what the run does once an epoch's batches are done (`after_batches`) instead."""
    last, left = events[-1], time_left(events)
    now = after_batches(last) or (None if left is None else f"ETA {duration(left)}")
    return (f"Epoch {last.epoch}/{last.epochs} · batch {last.batch}/{last.batches} · {duration(last.elapsed)} elapsed"
            f"{'' if now is None else ' · ' + now} · {last.images_per_sec:,.0f} images/s")


def after_batches(last) -> str | None:
    """What a run is doing after the latest event, when that is no batch: its epoch's last batch is followed by the
    validation (seconds, the first time: it is traced then), the last epoch's end by the test set and the save.
    An ETA of 0:00 said nothing of either."""
    if last.batch < last.batches:
        return None
    if last.kind == "batch":
        return "validating"
    return "testing and saving" if last.epoch == last.epochs else None


def time_left(events: Sequence) -> float | None:
    """Seconds left in a run, at its pace since the first batch; None before a later batch has reported.

    The first batch's time is left out: it also waited for TensorFlow to trace the training step and
    start the input pipeline, seconds that no later batch repeats (counted in, a 7 s fine-tune's first
    ETA was 0:38). The pace since then includes each finished epoch's validation."""
    first = next((e for e in events if e.kind == "batch"), None)
    if first is None:
        return None
    last = events[-1]
    if _through(last) <= _through(first):
        return None
    pace = (last.elapsed - first.elapsed) / (_through(last) - _through(first))  # seconds a batch
    return pace * (last.epochs * last.batches - _through(last))


def _through(event) -> int:
    """Batches of the whole run done at `event` (an epoch's end counts as its last batch)."""
    return (event.epoch - 1) * event.batches + event.batch


def batches_run(events: Sequence) -> int:
    """How many batches a run went through (the events count batches within each epoch)."""
    return sum(1 for e in events if e.kind == "batch")


def side_by_side(measures: Sequence[str], old: tuple[str, Sequence[float | None]],
                 new: tuple[str, Sequence[float | None]]) -> pd.DataFrame:
    """Measures side by side, the reference on the left and the newcomer on the right: one row a
    measure, accuracies as percentages and a log-loss as a number, and the change (`–` where a value is missing)."""
    (old_label, old_values), (new_label, new_values) = old, new
    rows = []
    for measure, a, b in zip(measures, old_values, new_values, strict=True):
        rows.append({"": measure, old_label: figure(measure, a), new_label: figure(measure, b),
                     "change": change(measure, a, b)})
    return pd.DataFrame(rows, columns=["", old_label, new_label, "change"])


def comparison_table(saved) -> pd.DataFrame:
    """What a saved run was judged on: the active model's figures, then the new one's, each headed by its label."""
    rows, labels = saved.comparison, ModelInfo.labels([saved.previous, saved.info])
    return side_by_side([r.measure for r in rows], (f"active: {labels[saved.previous.name]}", [r.active for r in rows]),
                        (f"new: {labels[saved.info.name]}", [r.new for r in rows]))


def runs_table(infos: Sequence[ModelInfo]) -> pd.DataFrame:
    """The past-runs table: one row a stored model, newest first as the store lists them; first its label (as the
    model switcher writes it), then its name (what the CLI takes)."""
    labels = ModelInfo.labels(infos)
    return pd.DataFrame(
        [
            {
                "label": labels[i.name], "name": i.name, "kind": "fine-tune" if i.kind == "finetune" else "train",
                "parent": i.parent or "",
                "arch": i.arch, "test accuracy": i.test_accuracy, "test loss": i.test_loss, "epochs": i.epochs_run,
                "images": i.n_train, "seconds": round(i.train_seconds), "augment": i.hyperparameters.get("augment"),
                "created": when(i.created_at),
            }
            for i in infos
        ],
        columns=["label", "name", "kind", "parent", "arch", "test accuracy", "test loss", "epochs", "images", "seconds",
                 "augment", "created"],
    )


def sweeps(infos: Sequence) -> dict[str, list]:
    """The stored trials of each sweep (`digitrec sweep`), newest sweep first, each sweep's trials in order.
    Trials the sweep stopped early were never stored: a sweep lists the ones that completed."""
    groups: dict[str, list] = {}
    for i in infos:  # newest first, as the store lists them: so are the sweeps
        if i.sweep:
            groups.setdefault(i.sweep["id"], []).append(i)
    return {k: sorted(v, key=lambda i: i.sweep.get("trial", 0)) for k, v in groups.items()}


def trial_label(info) -> str:
    """`trial 2: lr 0.003, batch 32` (what varies in a sweep, from the run's hyperparameters)."""
    h = info.hyperparameters
    parts = [info.arch] + [f"{k} {h[key]:g}" for k, key in (("lr", "learning_rate"), ("batch", "batch_size"))
                           if isinstance(h.get(key), (int, float)) and not isinstance(h.get(key), bool)]
    if isinstance(h.get("augment"), bool):
        parts.append("augmented" if h["augment"] else "plain")
    return f"trial {info.sweep.get('trial', '?')}: {', '.join(parts)}"


def sweeps_table(groups: dict[str, list]) -> pd.DataFrame:
    """One row a sweep: its trials in the store (of how many it ran), the best of them and when it ran."""
    rows = []
    for sweep_id, trials in groups.items():
        best = max(trials, key=lambda i: i.test_accuracy if i.test_accuracy is not None else -1.0)
        total = trials[0].sweep.get("trials")
        rows.append({"sweep": sweep_id, "trials stored": f"{len(trials)} of {total}" if total else str(len(trials)),
                     "archs": ", ".join(sorted({i.arch for i in trials})), "best test accuracy": best.test_accuracy,
                     "best model": best.name, "created": when(min(i.created_at for i in trials))})
    return pd.DataFrame(rows, columns=["sweep", "trials stored", "archs", "best test accuracy", "best model",
                                       "created"])


def sweep_curves(trials: Sequence) -> dict[str, dict[str, list]]:
    """A sweep's trials' per-epoch curves, for `curves_figure`, labelled by what each trial tried."""
    return {trial_label(i): i.history for i in trials}


def live_sweep_table(state: dict) -> pd.DataFrame:
    """A running sweep's trials (its progress file, `digitrec_core.sweep.SweepProgress`): one row a trial."""
    rows = []
    for t in state["trials"]:
        val = [v for v in t.get("val_accuracy") or [] if isinstance(v, (int, float))]
        rows.append({"trial": t.get("trial"), "tries": t.get("config"), "status": t.get("status"),
                     "epoch": f"{t.get('epoch', 0)} of {t.get('epochs', '?')}",
                     "validation accuracy": val[-1] if val else None, "test accuracy": t.get("test_accuracy")})
    return pd.DataFrame(rows, columns=["trial", "tries", "status", "epoch", "validation accuracy", "test accuracy"])


def sweep_done(state: dict) -> tuple[int, int]:
    """(trials finished, one way or another; trials in all)."""
    trials = state["trials"]
    return sum(t.get("status") in ("completed", "stopped", "failed") for t in trials), len(trials)


# ---- Streamlit pieces --------------------------------------------------------------------------

def watch(kind: str, result: Callable[[object], None], *, me: str) -> None:
    """The latest run of `kind` (live while it runs, then what it did), refreshed while it runs: every `FIRST_POLL`
    s until its first batch, then every `POLL[kind]` s.

    `result(job)` draws the page's own part of a finished, saved run, under the shared outcome.
    Only this part of the page reruns while polling; when the run ends while watched, the whole
    page reruns once (sidebar, run table, buttons).
    """
    job = resources.supervisor().job
    running = job is not None and job.running and job.kind == kind
    every = (FIRST_POLL if not job.events else POLL[kind]) if running else None

    def live(polling: bool) -> None:
        job = resources.supervisor().job
        if job is None or job.kind != kind:
            return
        live_view(job, me=me)
        if job.running:
            if every == FIRST_POLL and job.events:
                st.rerun()  # the first batch is on the page: poll at the usual pace from here
            return
        outcome(job)
        if job.saved is not None and not job.error:
            result(job)
        if polling:
            st.rerun()

    st.fragment(run_every=every)(live)(running)


def live_view(job, *, me: str) -> None:
    """Progress bar (while it runs) and the curves; Stop is at the top of the page (`stop_control`)."""
    events = list(job.events)  # a snapshot: the training thread keeps appending
    chart_key = KEYS[job.kind][1]
    if job.running:
        verb = VERB[job.kind]
        st.subheader(f"{verb}…" if job.owner == me else f"{verb} (started in another tab)…")
        if not events:
            st.progress(0.0, text="Starting (TensorFlow is warming up)…")
        else:
            st.progress(min(events[-1].fraction, 1.0), text=progress_text(events))
    # Until its first batch a run has no point to draw: say so rather than draw axes around nothing.
    curves_chart({"this run": epoch_history(events)}, curve_points(events), key=chart_key,
                 empty=WAITING if job.running else None)


def curves_chart(runs: dict[str, dict[str, list]], live_batches: Sequence = (), *, key: str,
                 empty: str | None) -> None:
    """`curves_figure` of these runs, or, with no point to draw, `empty` said in a box of the chart's size
    (nothing when `empty` is None): empty axes only show plotly's default ranges (loss 0.1 to 10k)."""
    if has_points(runs, live_batches):
        st.plotly_chart(curves_figure(runs, list(live_batches)), key=key, config={"displayModeBar": False})
    elif empty is not None:
        with st.container(border=True, height=CURVES_HEIGHT, horizontal_alignment="center",
                          vertical_alignment="center"):
            st.caption(empty, text_alignment="center")


def stop_control(kind: str, *, me: str) -> None:
    """Stop, while a run of `kind` goes, for the page to put where the eye is (under the button that started it):
    under the live curves it was below the fold at 1280x900 and on a phone. A visitor stops only their own run."""
    job = resources.supervisor().job
    if job is None or not job.running or job.kind != kind:
        return
    only_own = resources.visitor().stops_only_own_runs
    if only_own and job.owner != me:
        st.caption("One run at a time on this server: you can start yours when this one finishes.")
        return
    left, right = st.columns([3, 1], vertical_alignment="center")
    left.markdown(f"**{VERB[kind]}…** its progress and curves are below.")
    by = me if only_own else None  # the job checks it too: a replayed click cannot stop another's
    right.button("Stop", icon=":material/stop:", on_click=job.stop, kwargs={"by": by}, key=KEYS[kind][0],
                 disabled=job.stop_event.is_set(), width="stretch")


def outcome(job) -> None:
    """A finished run that saved nothing: it failed, or it was stopped."""
    if job.error:
        # A visitor sees no exception text: it can name server paths.
        why = job.error if resources.visitor().sees_details else "something went wrong on the server"
        st.error(f"{VERB[job.kind]} failed: {why}")
    elif job.result is not None and job.result.stopped:
        n = batches_run(job.events)
        cap = f" at the {job.max_seconds:.0f}-second limit" if job.timed_out else ""
        st.warning(f"Stopped{cap} after {plural(n, 'batch', 'batches')}. Nothing was saved; "
                   "the active model is unchanged.")


def saved_view(saved, *, key: str, compare: bool = True) -> None:
    """Saved as what, made active or not and why, the measures side by side, and "Make active" when it was not."""
    name = saved.info.name
    if saved.activated:
        st.success(f"Saved as `{name}` and made the active model.")
    else:
        st.warning(f"Saved as `{name}`; the active model is unchanged.")
    st.markdown(saved.reason)
    if saved.decided_by:
        st.caption(f"Decided by: {saved.decided_by}.")
    if compare and saved.previous is not None:
        st.table(comparison_table(saved))
    if saved.activated:
        return
    current = resources.active_info()  # in public mode, this visitor's model
    shared = resources.visitor().operator
    if current is not None and current.name == name:
        st.caption(f"`{name}` is {'the active model' if shared else 'your model'} now.")
    elif st.button("Make active" if shared else "Use it", key=f"make_active_{key}_{name}", type="primary",
                   help=f"Use {name} on every page instead of {current.name if current else 'no model'}"
                   + ("." if shared else ", for you only.")):
        resources.choose_model(name)
        st.rerun()  # the whole page: the sidebar names the active model


def running_sweep() -> None:
    """The sweep a `digitrec sweep` is running on this store, if any: its trials, refreshed every 2 s."""
    from digitrec_core.sweep import read_progress

    if not any(state["alive"] for state in read_progress(resources.store().root, newest=1)):
        return

    @st.fragment(run_every=2.0)
    def live() -> None:
        states = read_progress(resources.store().root, newest=1)
        if not states or not states[0]["alive"]:
            st.rerun()  # it ended: the whole page again, with its trials among the stored runs
        state = states[0]
        done, total = sweep_done(state)
        st.subheader("Sweep in progress")
        st.caption(f"`{state['id']}`, run from the command line: {done} of {plural(total, 'trial')} finished.")
        st.progress(done / total if total else 0.0)
        st.dataframe(live_sweep_table(state), hide_index=True,
                     column_config={"validation accuracy": st.column_config.NumberColumn(format="percent"),
                                    "test accuracy": st.column_config.NumberColumn(format="percent")})

    live()
