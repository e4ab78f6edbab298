"""A sweep's trials run on Ray Tune, here or on a cluster, the poor ones stopped early by ASHA (the package's
docstring says how the models and the data travel). Ray and TensorFlow are imported only inside the functions that
need them."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from typing import Any

from digitrec_core.data import Mnist
from digitrec_core.learning.runs import HISTORY_KEYS, TrainConfig, TrainResult
from digitrec_core.ray_reaper import SessionReaper
from digitrec_core.sweep.results import METRIC, Sweep, SweepTrialResult, Trial, TrialEvent, new_sweep_id

ADDRESS_ENV = "RAY_ADDRESS"


class _Inbox:
    """Holds finished trials' results and weights for the driver (a Ray actor, see the module's docstring)."""

    def __init__(self):
        self.items: dict[int, tuple] = {}

    def put(self, index: int, result: TrainResult, weights: list) -> None:
        self.items[index] = (result, weights)

    def take(self) -> dict[int, tuple]:
        items, self.items = self.items, {}
        return items


def _limit_threads() -> None:
    """TensorFlow sized to the CPUs Ray gave this trial: two trials on two cores, each with its own core,
    rather than each spreading over both. Only possible before TensorFlow starts in this worker."""
    import ray
    import tensorflow as tf

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    n = max(1, math.ceil(cpus))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:  # TensorFlow already initialised in this worker process: keep its pools
        pass


def _epoch_metrics(history: dict[str, list], epoch: int) -> dict[str, Any]:
    return {"epoch": epoch, **{k: history[k][-1] for k in HISTORY_KEYS}}


def _trial(config: dict, *, data: Mnist, configs: list[dict], inbox) -> None:
    """One trial, on whichever node Ray chose: train, reporting each epoch but the last to Tune; then send
    the result to the driver's inbox and only then report the last epoch, so a trial the scheduler stops
    there (ASHA stops every trial at its final epoch) has already handed in its model."""
    import ray
    from ray import tune

    _limit_threads()
    from digitrec_core.learning.training import train

    index, node = config["index"], ray.get_runtime_context().get_node_id()
    cfg = TrainConfig(**configs[index])
    history: dict[str, list] = {k: [] for k in HISTORY_KEYS}

    def on_progress(p) -> None:
        if p.kind != "epoch":
            return
        for k in history:
            history[k].append(getattr(p, k))
        if p.epoch < p.epochs:
            tune.report({**_epoch_metrics(history, p.epoch), "finished": False, "node": node})

    result = train(cfg, data=data, on_progress=on_progress)
    ray.get(inbox.put.remote(index, replace(result, model=None), result.model.get_weights()))
    tune.report({**_epoch_metrics(history, result.epochs_run), "finished": True, "node": node,
                 "test_accuracy": result.test_accuracy})


def _callback(configs: list[TrainConfig], on_event: Callable[[TrialEvent], None] | None):
    """A Tune callback (it runs on the driver) that turns trial results into `TrialEvent`s."""
    from ray import tune

    class Events(tune.Callback):
        def __init__(self):
            self.reports: dict[int, list[dict]] = {}  # by trial index: every result it reported

        def _send(self, kind, trial, **extra):
            if on_event is not None:
                index = trial.config["index"]
                on_event(TrialEvent(kind, index, len(configs), configs[index], **extra))

        def on_trial_start(self, iteration, trials, trial, **info):
            self._send("started", trial)

        def on_trial_result(self, iteration, trials, trial, result, **info):
            self.reports.setdefault(trial.config["index"], []).append(dict(result))
            self._send("epoch", trial, epoch=result["epoch"], val_accuracy=result.get(METRIC),
                       test_accuracy=result.get("test_accuracy"))

        def on_trial_complete(self, iteration, trials, trial, **info):
            last = (self.reports.get(trial.config["index"]) or [{}])[-1]
            kind = "completed" if last.get("finished") else "stopped"
            self._send(kind, trial, epoch=last.get("epoch", 0), val_accuracy=last.get(METRIC),
                       test_accuracy=last.get("test_accuracy"))

        def on_trial_error(self, iteration, trials, trial, **info):
            self._send("failed", trial, error=_last_line(trial.get_error()))

    return Events()


def _last_line(error: BaseException | None) -> str | None:
    """The failing exception's own line: the last non-empty line of a trial's error (Tune's has the traceback)."""
    lines = [line.strip() for line in str(error or "").splitlines() if line.strip()]
    return lines[-1] if lines else None


def _connect(address: str | None) -> tuple[str, SessionReaper | None]:
    """Connect to the cluster at `address` (else RAY_ADDRESS), or start Ray here with this machine's cores;
    where it runs, and for a Ray started here the reaper that stops its processes when this one ends."""
    import logging

    import ray

    address = address or os.environ.get(ADDRESS_ENV) or None
    # Trials' own output (TensorFlow's start-up lines, from every trial) stays in Ray's logs: what the
    # driver says comes from the trials' reports, and a failing trial's error comes back through Tune.
    common = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": False,
              "runtime_env": {"env_vars": {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}}}
    if address:
        try:
            ray.init(address=address, **common)
        except (ConnectionError, RuntimeError, ValueError) as e:
            hint = "" if os.environ.get("RAY_AUTH_MODE") else (" (a cluster with token authentication, Ray's default, "
                                                               "also needs RAY_AUTH_MODE=token here)")
            raise SweepError(f"Could not connect to the Ray cluster at {address}: {str(e).splitlines()[0]}{hint}"
                             ) from None
        return address, None
    context = ray.init(address="local", num_cpus=os.cpu_count() or 1, **common)  # "local": never join one by chance
    return "local", SessionReaper.start(context.address_info["session_dir"], os.path.dirname(ray.__file__))


class SweepError(RuntimeError):
    """A sweep that cannot run (no cluster at the address, no CPUs for a trial); the message says why."""


def _check(configs: list[TrainConfig], cpus_per_trial: float, grace_period: int, reduction_factor: float) -> None:
    """ValueError, before Ray starts, for a sweep that could not pick a best trial or schedule one."""
    if not configs:
        raise ValueError("A sweep needs at least 1 trial.")
    for c in configs:
        if not c.validation_split:
            raise ValueError("A sweep needs a validation split > 0: trials are compared on validation accuracy.")
    if cpus_per_trial <= 0 or grace_period < 1 or reduction_factor <= 1:
        raise ValueError(f"Invalid scheduler settings: cpus_per_trial={cpus_per_trial} grace_period={grace_period} "
                         f"reduction_factor={reduction_factor}")


def _tune(configs: list[TrainConfig], *, data: Mnist, where: str, storage: str, cpus_per_trial: float,
          grace_period: int, reduction_factor: float, on_event: Callable[[TrialEvent], None] | None,
          sweep_id: str) -> list[Trial]:
    """The trials run by Tune on the Ray this process is connected to (`where`), as `Trial`s."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    cpus = ray.cluster_resources().get("CPU", 0)
    if cpus < cpus_per_trial:
        raise SweepError(f"The Ray cluster ({where}) has {cpus:g} CPUs, fewer than the {cpus_per_trial:g} "
                         "each trial asks for (--cpus-per-trial).")
    inbox = ray.remote(num_cpus=0)(_Inbox).remote()
    max_t = max(c.epochs for c in configs)
    scheduler = ASHAScheduler(time_attr="epoch", metric=METRIC, mode="max", max_t=max_t,
                              grace_period=min(grace_period, max_t), reduction_factor=reduction_factor)
    trainable = tune.with_resources(
        tune.with_parameters(_trial, data=data, configs=[_as_dict(c) for c in configs], inbox=inbox),
        {"cpu": cpus_per_trial},
    )
    events = _callback(configs, on_event)
    tuner = tune.Tuner(
        trainable,
        param_space={"index": tune.grid_search(list(range(len(configs))))},
        tune_config=tune.TuneConfig(scheduler=scheduler, num_samples=1),
        run_config=tune.RunConfig(name=sweep_id, storage_path=storage, verbose=0, callbacks=[events]),
    )
    grid = tuner.fit()
    handed_in = ray.get(inbox.take.remote())
    return [_trial_outcome(r.config["index"], configs, events.reports.get(r.config["index"], []), handed_in,
                           sweep_id, r.error) for r in grid]


def run_sweep(
    configs: Sequence[TrainConfig],
    *,
    data: Mnist,
    address: str | None = None,
    cpus_per_trial: float = 1.0,
    grace_period: int = 1,
    reduction_factor: float = 2.0,
    on_event: Callable[[TrialEvent], None] | None = None,
    sweep_id: str | None = None,
) -> Sweep:
    """Train every config as a Ray Tune trial, ASHA stopping those behind the others on validation accuracy.

    `configs` should be resolved (`SearchSpace.trials`), each with a validation split: the scheduler
    and the choice of the best need validation accuracy. Completed trials' results carry their models
    (rebuilt here from the weights the trials sent back) and the sweep's metadata; nothing is saved
    (`save_sweep` does that). Ray is started here, or joined at `address`, and shut down at the end
    unless it was already running in this process.
    """
    configs = [c.resolved(len(data.x_train)) for c in configs]
    _check(configs, cpus_per_trial, grace_period, reduction_factor)
    # Tune's newer console output prints a banner and paths even when told to be silent; the older is quiet.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    import ray

    sweep_id = sweep_id or new_sweep_id()
    started_here = not ray.is_initialized()
    where, reaper = _connect(address) if started_here else ("this process's Ray", None)
    storage = tempfile.mkdtemp(prefix="digitrec-sweep-")  # Tune's own bookkeeping; the models go to the store
    started = time.perf_counter()
    try:
        trials = _tune(configs, data=data, where=where, storage=storage, cpus_per_trial=cpus_per_trial,
                       grace_period=grace_period, reduction_factor=reduction_factor, on_event=on_event,
                       sweep_id=sweep_id)
    finally:
        if started_here:
            ray.shutdown()
        if reaper is not None:
            reaper.close()
        shutil.rmtree(storage, ignore_errors=True)
    trials.sort(key=lambda t: t.index)
    return Sweep(sweep_id, trials, time.perf_counter() - started, where)


def _as_dict(cfg: TrainConfig) -> dict[str, Any]:
    return {f.name: getattr(cfg, f.name) for f in fields(TrainConfig)}


def _trial_outcome(index: int, configs: list[TrainConfig], reports: list[dict], handed_in: dict[int, tuple],
                   sweep_id: str, error: BaseException | None) -> Trial:
    """A trial's reports and what it handed in as a `Trial`: completed when it handed in its model, else
    failed (an error) or stopped (by the scheduler)."""
    last = reports[-1] if reports else {}
    history = {k: [r.get(k) for r in reports] for k in HISTORY_KEYS}
    trial = Trial(index, configs[index], "stopped", int(last.get("epoch", 0)), last.get(METRIC), history,
                  node=last.get("node"))
    if index in handed_in:
        result, weights = handed_in[index]
        trial.status, trial.result = "completed", _with_model(result, weights, sweep_id, index, len(configs))
        trial.epochs_run = result.epochs_run
        trial.history = {k: list(result.history[k]) for k in history}
    elif error is not None:
        trial.status, trial.error = "failed", _last_line(error)
    return trial


def _with_model(result: TrainResult, weights: list, sweep_id: str, index: int, n: int) -> SweepTrialResult:
    """The trial's result with its network rebuilt here from the weights it sent (TensorFlow is imported now)."""
    from digitrec_core.models import build_model

    model = build_model(result.config.arch)
    model.set_weights(weights)
    values = {f.name: getattr(result, f.name) for f in fields(TrainResult)}
    return SweepTrialResult(**{**values, "model": model}, sweep={"id": sweep_id, "trial": index + 1, "trials": n})
