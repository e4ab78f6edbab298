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

The modules: space (the search space and its trials), results (a sweep's trials, events and saving), progress
(the file the dashboard follows a running sweep by), runner (Ray Tune). Ray and TensorFlow are imported only
inside the runner's functions that need them: the rest is usable without either.
"""

from digitrec_core.sweep.progress import PROGRESS_FOLDER, SweepProgress, read_progress
from digitrec_core.sweep.results import (
    METRIC,
    Sweep,
    SweepTrialResult,
    Trial,
    TrialEvent,
    TrialStatus,
    new_sweep_id,
    save_sweep,
)
from digitrec_core.sweep.runner import ADDRESS_ENV, SweepError, run_sweep
from digitrec_core.sweep.space import DIMENSIONS, SearchSpace, describe

__all__ = [
    "ADDRESS_ENV", "DIMENSIONS", "METRIC", "PROGRESS_FOLDER", "SearchSpace", "Sweep", "SweepError", "SweepProgress",
    "SweepTrialResult", "Trial", "TrialEvent", "TrialStatus", "describe", "new_sweep_id", "read_progress",
    "run_sweep", "save_sweep",
]
