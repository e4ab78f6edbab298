"""Hyperparameter sweeps on Ray Tune: many training runs, the poor ones stopped early, the finished ones stored.

A sweep is a list of trials, each a `TrainConfig` drawn from a `SearchSpace` (every combination of
the values given for architecture, learning rate, batch size, epochs, augmentation and training
images). Trials run as Ray Tune function trainables on this machine (Ray started in-process with
its cores) or on an existing cluster (`address`, else `RAY_ADDRESS`), one CPU each by default. Each
reports its validation accuracy at every epoch end, and ASHA stops those that fall behind the
others at the same epoch (from `grace_period` epochs on).

Where the models go: a trial may run on another machine, which sees neither this machine's disk
nor its model store, and Tune's checkpoints would need storage that every node shares. So a trial
that finishes sends its weights (about 1 MB) and its results through Ray's object store to an
inbox actor the driver made, and only the driver writes the store, under the store's lock like
any run (`save_sweep`): one writer, no shared filesystem, and a stopped trial leaves nothing.

How data reaches the trials: the driver loads MNIST once and Ray hands the arrays to every trial
through its object store (`tune.with_parameters`), so a worker needs the package, not the data.

What a sweep killed hard leaves: nothing of a Ray it started here, within a few seconds (`ray_reaper`).

Ray and TensorFlow are imported only inside the functions that need them: this module's search
space and results are usable without either.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import secrets
import shutil
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from digitrec_core.data import Mnist
from digitrec_core.models import get_architecture
from digitrec_core.ray_reaper import SessionReaper
from digitrec_core.runs import TrainConfig, TrainResult
from digitrec_core.store import write_atomic
from digitrec_core.text import percent, plural

if TYPE_CHECKING:
    from digitrec_core.store import ActivatePolicy, ModelStore, Saved

METRIC = "val_accuracy"  # what ASHA compares and what picks the best trial: the test set stays for the verdict
ADDRESS_ENV = "RAY_ADDRESS"

# A space's dimensions in the order they vary in its grid (the last one fastest), with the names a
# TOML file uses for them (the CLI's flags without the dashes).
DIMENSIONS = {"arch": "arch", "learning_rate": "lr", "batch_size": "batch-size", "epochs": "epochs",
              "augment": "augment", "limit": "limit"}


@dataclass(frozen=True)
class SearchSpace:
    """The values to try for each hyperparameter; `None` takes the architecture's recipe (all images for `limit`)."""

    arch: tuple[str, ...] = ("default",)
    learning_rate: tuple[float | None, ...] = (None,)
    batch_size: tuple[int | None, ...] = (None,)
    epochs: tuple[int | None, ...] = (None,)
    augment: tuple[bool | None, ...] = (None,)
    limit: tuple[int | None, ...] = (None,)  # training images (before the validation split)

    def __post_init__(self) -> None:
        for name in DIMENSIONS:
            values = tuple(getattr(self, name))
            if not values:
                raise ValueError(f"The search space has no value for {DIMENSIONS[name]}.")
            object.__setattr__(self, name, tuple(dict.fromkeys(values)))  # duplicates would repeat trials
        for arch in self.arch:
            get_architecture(arch)  # an unknown name is said here, with the known ones
        checks = {"learning_rate": lambda v: _is_number(v) and math.isfinite(v) and v > 0,
                  "batch_size": lambda v: _is_int(v) and v >= 1, "epochs": lambda v: _is_int(v) and v >= 1,
                  "augment": lambda v: isinstance(v, bool), "limit": lambda v: _is_int(v) and v >= 2}
        for name, ok in checks.items():
            for v in getattr(self, name):
                if v is not None and not ok(v):
                    raise ValueError(f"{v!r} is not a valid {DIMENSIONS[name]} for a sweep.")

    @classmethod
    def from_mapping(cls, values: dict[str, Any], base: SearchSpace | None = None) -> SearchSpace:
        """`base` (default: the recipe everywhere) with the dimensions in `values` replaced; each value a
        scalar or a list, keyed by its TOML name (`lr`, `batch-size`; `learning_rate`, `batch_size` too)."""
        aliases = {**{k: k for k in DIMENSIONS}, **{v: k for k, v in DIMENSIONS.items()}, "batch_size": "batch_size"}
        unknown = sorted(set(values) - set(aliases))
        if unknown:
            raise ValueError(f"Unknown search-space key {', '.join(map(repr, unknown))}; "
                             f"use {', '.join(DIMENSIONS.values())}.")
        chosen = {aliases[k]: tuple(v) if isinstance(v, (list, tuple)) else (v,) for k, v in values.items()}
        return replace(base or cls(), **chosen)

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> SearchSpace:
        """A space from a small TOML file, e.g. `arch = ["default", "seed"]`, `lr = [1e-3, 3e-3]`, `epochs = 3`."""
        try:
            with open(path, "rb") as f:
                values = tomllib.load(f)
        except OSError as e:
            raise ValueError(f"The search space {path} could not be read ({e.strerror or e}).") from None
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"The search space {path} is not valid TOML ({e}).") from None
        return cls.from_mapping(values)

    @property
    def size(self) -> int:
        return math.prod(len(getattr(self, name)) for name in DIMENSIONS)

    def grid(self) -> list[dict[str, Any]]:
        """Every combination, the first dimension (arch) varying slowest."""
        return [dict(zip(DIMENSIONS, combo)) for combo in itertools.product(*(getattr(self, n) for n in DIMENSIONS))]

    def trials(self, n: int | None = None, *, seed: int = 0, validation_split: float | None = None,
               n_images: int | None = None) -> list[TrainConfig]:
        """`n` trials (default: the grid's size), every field resolved (`TrainConfig.resolved(n_images)`).

        `n` equal to the grid's size: each combination once, in grid order, all with `seed`. Fewer: a
        random choice of combinations (drawn with `seed`), in grid order. More: the whole grid again
        with `seed + 1`, and so on, then a random choice for the rest: a repeated combination is a new
        seed (another split, initialisation and order), never the same run twice.
        """
        grid = self.grid()
        n = len(grid) if n is None else n
        if n < 1:
            raise ValueError(f"A sweep needs at least 1 trial, not {n}.")
        rounds, rest = divmod(n, len(grid))
        picked = [(point, seed + r) for r in range(rounds) for point in grid]
        chosen = sorted(random.Random(seed).sample(range(len(grid)), rest))
        picked += [(grid[i], seed + rounds) for i in chosen]
        return [TrainConfig(**point, validation_split=validation_split, seed=s).resolved(n_images)
                for point, s in picked]


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def describe(cfg: TrainConfig) -> str:
    """A trial's hyperparameters in a few words, for progress lines."""
    images = "all images" if cfg.limit is None else plural(cfg.limit, "image")
    return (f"{cfg.arch}, lr {cfg.learning_rate:g}, batch {cfg.batch_size}, {plural(cfg.epochs, 'epoch')}, "
            f"{'augmented' if cfg.augment else 'no augmentation'}, {images}, seed {cfg.seed}")


@dataclass
class SweepTrialResult(TrainResult):
    """A finished trial's run, as the store saves it: `sweep` goes to the model's metadata."""

    sweep: dict[str, Any] = field(default_factory=dict)  # {"id": sweep id, "trial": 1-based, "trials": count}


TrialStatus = Literal["completed", "stopped", "failed"]


@dataclass
class Trial:
    index: int  # 0-based; the store's metadata counts from 1
    config: TrainConfig
    status: TrialStatus  # completed: every epoch run and tested; stopped: by the scheduler; failed: an error
    epochs_run: int
    val_accuracy: float | None  # at its last epoch
    history: dict[str, list[float]] = field(default_factory=dict)  # per epoch as reported, stopped trials too
    node: str | None = None  # the Ray node it ran on
    result: SweepTrialResult | None = field(default=None, repr=False)  # completed trials only
    error: str | None = None


@dataclass
class Sweep:
    id: str
    trials: list[Trial]
    seconds: float
    address: str  # where it ran: "local" or the cluster's address

    def count(self, status: TrialStatus) -> int:
        return sum(t.status == status for t in self.trials)

    @property
    def nodes(self) -> int:
        """How many Ray nodes ran its trials."""
        return len({t.node for t in self.trials if t.node})

    @property
    def best(self) -> Trial | None:
        """The completed trial with the highest validation accuracy (test accuracy breaks ties)."""
        done = [t for t in self.trials if t.status == "completed"]
        return max(done, key=lambda t: (t.val_accuracy or 0.0, t.result.test_accuracy or 0.0), default=None)


@dataclass(frozen=True)
class TrialEvent:
    """What the driver hears about a trial while the sweep runs (`run_sweep`'s `on_event`)."""

    kind: Literal["started", "epoch", "completed", "stopped", "failed"]
    index: int
    trials: int
    config: TrainConfig
    epoch: int = 0
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    error: str | None = None


PROGRESS_FOLDER = "sweeps"  # under the store root: one JSON a sweep, what its trials are doing


class SweepProgress:
    """A running sweep's trials as the driver hears of them, in `<store>/sweeps/<id>.json` (rewritten
    atomically at every event), so that the dashboard, another process, shows them live.

    {"format": 1, "id", "pid", "started_at", "finished_at": null until the sweep ends, "trials": [{"trial",
    "config", "status": "pending"|"running"|"completed"|"stopped"|"failed", "epoch", "epochs",
    "val_accuracy": [per epoch], "test_accuracy"}]}"""

    def __init__(self, root, sweep_id: str, configs: Sequence[TrainConfig]):
        self.path = Path(root) / PROGRESS_FOLDER / f"{sweep_id}.json"
        self.state = {"format": 1, "id": sweep_id, "pid": os.getpid(), "started_at": datetime.now(UTC).isoformat(),
                      "finished_at": None,
                      "trials": [{"trial": k + 1, "config": describe(c), "status": "pending", "epoch": 0,
                                  "epochs": c.epochs, "val_accuracy": [], "test_accuracy": None}
                                 for k, c in enumerate(configs)]}
        self._write()

    def on_event(self, e: TrialEvent) -> None:
        t = self.state["trials"][e.index]
        t["status"] = "running" if e.kind in ("started", "epoch") else e.kind
        if e.epoch:
            t["epoch"] = e.epoch
        if e.kind == "epoch":
            t["val_accuracy"] = [*t["val_accuracy"][: e.epoch - 1], e.val_accuracy]
        elif e.val_accuracy is not None and len(t["val_accuracy"]) < e.epoch:  # its last epoch's, when not heard yet
            t["val_accuracy"] = [*t["val_accuracy"], e.val_accuracy]
        if e.test_accuracy is not None:
            t["test_accuracy"] = e.test_accuracy
        self._write()

    def finish(self) -> None:
        self.state["finished_at"] = datetime.now(UTC).isoformat()
        for t in self.state["trials"]:
            if t["status"] in ("pending", "running"):  # the sweep ended without a word of them (an error)
                t["status"] = "failed"
        self._write()

    def _write(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(self.state).encode())
        except OSError:  # a progress view is a courtesy: never worth failing a sweep over
            pass


def read_progress(root, *, newest: int = 5) -> list[dict]:
    """The newest sweeps' progress files (newest first), each with "alive": whether its driver still runs.
    Unreadable or foreign files are skipped."""
    folder = Path(root) / PROGRESS_FOLDER
    try:
        files = sorted(folder.glob("sweep-*.json"), reverse=True)[:newest]  # ids sort by time
    except OSError:
        return []
    out = []
    for f in files:
        try:
            state = json.loads(f.read_text())
            trials = state["trials"]
            if state.get("format") != 1 or not isinstance(trials, list) or not all(isinstance(t, dict) for t in trials):
                continue
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            continue
        state["alive"] = state.get("finished_at") is None and _running(state.get("pid"))
        out.append(state)
    return out


def _running(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, owned by another user
        return True
    return True


def new_sweep_id() -> str:
    return f"sweep-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


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
    return {"epoch": epoch, **{k: history[k][-1] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}}


def _trial(config: dict, *, data: Mnist, configs: list[dict], inbox) -> None:
    """One trial, on whichever node Ray chose: train, reporting each epoch but the last to Tune; then send
    the result to the driver's inbox and only then report the last epoch, so a trial the scheduler stops
    there (ASHA stops every trial at its final epoch) has already handed in its model."""
    import ray
    from ray import tune

    _limit_threads()
    from digitrec_core.training import train

    index, node = config["index"], ray.get_runtime_context().get_node_id()
    cfg = TrainConfig(**configs[index])
    history: dict[str, list] = {k: [] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}

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
    if not configs:
        raise ValueError("A sweep needs at least 1 trial.")
    for c in configs:
        if not c.validation_split:
            raise ValueError("A sweep needs a validation split > 0: trials are compared on validation accuracy.")
    if cpus_per_trial <= 0 or grace_period < 1 or reduction_factor <= 1:
        raise ValueError(f"Invalid scheduler settings: cpus_per_trial={cpus_per_trial} grace_period={grace_period} "
                         f"reduction_factor={reduction_factor}")
    # Tune's newer console output prints a banner and paths even when told to be silent; the older is quiet.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    sweep_id = sweep_id or new_sweep_id()
    started_here = not ray.is_initialized()
    where, reaper = _connect(address) if started_here else ("this process's Ray", None)
    storage = tempfile.mkdtemp(prefix="digitrec-sweep-")  # Tune's own bookkeeping; the models go to the store
    started = time.perf_counter()
    try:
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
        trials = [_trial_outcome(r.config["index"], configs, events.reports.get(r.config["index"], []), handed_in,
                                 sweep_id, r.error) for r in grid]
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
    history = {k: [r.get(k) for r in reports] for k in ("loss", "accuracy", "val_loss", METRIC)}
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


def save_sweep(sweep: Sweep, store: ModelStore, *, activate: ActivatePolicy = "if-better") -> list[Saved]:
    """Store every completed trial; only the best (by validation accuracy) may become active, by `activate`'s
    rule as for any run, the others are saved with "never". The best is saved last; returns what each save did,
    in that order (the best's `Saved` last)."""
    best = sweep.best
    done = [t for t in sweep.trials if t.status == "completed" and t is not best]
    saved = [store.save(t.result, activate="never") for t in done]
    if best is not None:
        saved.append(store.save(best.result, activate=activate))
    return saved


def summary(sweep: Sweep, saved: Sequence[Saved] = ()) -> str:
    """The sweep as a table, one row per trial, with the stored model's name for each saved trial."""
    names = {s.info.sweep.get("trial"): s.info.name for s in saved}
    head = (f"Sweep {sweep.id} on {sweep.address}: {plural(len(sweep.trials), 'trial')} on "
            f"{plural(sweep.nodes, 'node')} in {sweep.seconds:.0f} s "
            f"({sweep.count('completed')} completed, {sweep.count('stopped')} stopped early, "
            f"{sweep.count('failed')} failed)")
    rows = [f"{'trial':>5}  {'arch':8} {'lr':>8} {'batch':>5} {'epochs':>6} {'augment':7} {'images':>7} "
            f"{'val acc':>8} {'test acc':>8}  outcome"]
    for t in sweep.trials:
        c = t.config
        test = t.result.test_accuracy if t.result is not None else None
        if t.status == "completed":
            outcome = f"saved as {names[t.index + 1]}" if t.index + 1 in names else "completed"
        elif t.status == "stopped":
            outcome = f"stopped after {plural(t.epochs_run, 'epoch')}"
        else:
            outcome = f"failed: {t.error or 'no message'}"
        rows.append(f"{t.index + 1:>5}  {c.arch:8} {c.learning_rate:>8g} {c.batch_size:>5} {c.epochs:>6} "
                    f"{'yes' if c.augment else 'no':7} {'all' if c.limit is None else f'{c.limit:,}':>7} "
                    f"{percent(t.val_accuracy):>8} {percent(test):>8}  {outcome}")
    best = sweep.best
    tail = (f"Best by validation accuracy: trial {best.index + 1} ({percent(best.val_accuracy)})." if best else
            "No trial completed: nothing was saved.")
    return "\n".join([head, *rows, tail])
