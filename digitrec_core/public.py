"""Public mode: a dashboard that strangers reach (`DIGITREC_PUBLIC=1`), and the bounds that keep it shareable.

In public mode each visitor's model choice, personal digits and Stop button belong to their own
session; visitors train only bounded runs whose models never become the shared active one and are
pruned to the newest few; changing the shared store needs the operator password, whose guessing is
throttled; and a visitor is told what went wrong without the server's paths. This module holds the
switch, the bounds and the bookkeeping (no Streamlit, no TensorFlow); the dashboard applies them.
"""

from __future__ import annotations

import errno
import hmac
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from digitrec_core.data import MnistError
from digitrec_core.files import write_atomic
from digitrec_core.jobs import TrainingBusy
from digitrec_core.personal import FOLDER as PERSONAL_FOLDER
from digitrec_core.personal import MAX_SAMPLE_BYTES, PersonalDigits, PersonalDigitsError
from digitrec_core.store import ModelStore, ModelStoreError

log = logging.getLogger("digitrec")

ENV_PUBLIC = "DIGITREC_PUBLIC"
ENV_PASSWORD = "DIGITREC_OPERATOR_PASSWORD"

# Bounds on a visitor's run. 5,000 images x 3 epochs trains the default CNN in well under a minute on
# two cores (~98% test accuracy): enough to see training work, too little to hog the server.
MAX_IMAGES = 5_000
MAX_EPOCHS = 3
MAX_SECONDS = 180  # a run still going after this is stopped (and, being stopped, not saved)
MAX_FINE_TUNE_EPOCHS = 3
KEEP_VISITOR_MODELS = 5  # visitors' models kept in the store, newest first; older ones are deleted
MAX_MODEL_BYTES = 20_000_000  # a stored model (keras + onnx + meta): ~2 MB for the default CNN; 10x room (not enforced)

# Bounds on visitors' digits. A visitor's folder exists only once they store a digit. Sessions cost
# nothing, so the server-wide bounds are what hold: all visitors together keep at most MAX_VISITOR_DIGITS
# digits in at most KEEP_SESSIONS folders (worst case in bytes: `visitor_storage_bound()`). Room for a new
# digit is made by deleting the least recently used folders, but only those unused for PROTECT_SECONDS:
# one client opening many sessions fills the free room and is then refused, and never deletes the digits of
# a visitor who used theirs within the hour. A visitor's session (and with it the way back to their folder)
# ends two minutes after they close the tab (Streamlit's disconnectedSessionTTL), so an hour is generous.
MAX_SESSION_DIGITS = 300  # personal digits one visitor may keep: enough to fine-tune on their own hand
MAX_VISITOR_DIGITS = 3_000  # all visitors together: 10 visitors at the most each, or 100 with 30 each
KEEP_SESSIONS = 200  # visitors' digit folders, all together
PROTECT_SECONDS = 3600  # a folder used (a digit stored or removed, My digits opened) within this is never deleted
FOLDER_BYTES = 8192  # what one visitor's two folders take on disk, beyond their files
PUBLIC_DIR = "public"  # under the store root: visitors' digits and the list of visitors' models
VISITOR_MODELS = "visitor_models.json"

SERVER_FULL = ("the server keeps no more visitors' digits right now (other visitors' recent digits fill its room); "
               "try again in an hour.")

_TRUE = {"1", "true", "yes", "on"}


def _truthy(value: object) -> bool:
    return value is True or str(value).strip().lower() in _TRUE


def is_public(secrets: Mapping | None = None) -> bool:
    """`DIGITREC_PUBLIC` set to 1/true/yes/on in the environment or, when given, in `secrets`."""
    if _truthy(os.environ.get(ENV_PUBLIC, "")):
        return True
    return secrets is not None and _truthy(secrets.get(ENV_PUBLIC, ""))


def operator_password(secrets: Mapping | None = None) -> str | None:
    """The configured operator password (secrets first, then the environment), or None: then nobody is operator."""
    value = secrets.get(ENV_PASSWORD) if secrets is not None else None
    value = value if isinstance(value, str) and value else os.environ.get(ENV_PASSWORD) or None
    return value


def check_password(given: str, expected: str | None) -> bool:
    """Constant-time comparison; an unset password refuses everyone."""
    if not expected or not isinstance(given, str):
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


# ---- operator sign-in: a delay growing with failures, per session and server-wide ---------------------

SIGN_IN_FIRST_DELAY = 1.0  # seconds a session waits after its first wrong password; doubled each time after
SERVER_FIRST_DELAY = 0.5  # every session waits after the server's first wrong password (any session's)
MAX_SIGN_IN_DELAY = 60.0  # neither delay grows beyond this: an operator who mistyped waits a minute at most
FORGET_SECONDS = 900  # failures are forgotten after 15 minutes without one (and by a correct password)


def backoff(failures: int, first: float) -> float:
    """The wait after `failures` wrong passwords in a row: none, then `first`, doubling, at most MAX_SIGN_IN_DELAY."""
    return 0.0 if failures <= 0 else min(MAX_SIGN_IN_DELAY, first * 2.0 ** min(failures - 1, 30))


@dataclass
class SignInTries:
    """One session's failed sign-ins (kept in the session, so it goes with the session)."""

    failures: int = 0
    last: float = 0.0  # clock time of the last failure


@dataclass(frozen=True)
class SignIn:
    """What became of a try: `ok`; or, when not, `retry_in` seconds before the next one is taken
    (`checked` False: it came too early and the password was not even compared)."""

    ok: bool
    checked: bool
    retry_in: float


class SignInThrottle:
    """Operator sign-in, throttled: each wrong password makes its session wait `backoff(n, 1 s)`, and every
    session wait `backoff(N, 0.5 s)`, n and N the session's and the server's failures in a row. Sessions
    cost nothing, so the server-wide delay is what bounds guessing: at most one try a minute, from any
    number of tabs, once the delays have grown. A try made before its time is refused without comparing
    the password, so it tells nothing; nobody sleeps (a lock is held for the comparison only, microseconds),
    so other visitors' pages never wait. Each failure is logged with the counts, never the password.

    `clock` is injectable for tests; `enabled=False` takes every try at once (bench/sign_in.py, before)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, *, enabled: bool = True):
        self.clock, self.enabled = clock, enabled
        self._lock = threading.Lock()
        self._server = SignInTries()

    def retry_in(self, tries: SignInTries) -> float:
        """Seconds before this session's next try is taken (0: now)."""
        with self._lock:
            return self._wait(tries, self.clock())

    def _wait(self, tries: SignInTries, now: float) -> float:
        if not self.enabled:
            return 0.0
        for t in (tries, self._server):
            if t.failures and now - t.last > FORGET_SECONDS:
                t.failures = 0
        allowed = max(tries.last + backoff(tries.failures, SIGN_IN_FIRST_DELAY),
                      self._server.last + backoff(self._server.failures, SERVER_FIRST_DELAY))
        return max(0.0, allowed - now)

    def attempt(self, tries: SignInTries, given: str, expected: str | None) -> SignIn:
        """Check `given` unless this session must wait; count a failure for the session and the server."""
        with self._lock:
            now = self.clock()
            wait = self._wait(tries, now)
            if wait > 0:
                return SignIn(False, False, wait)
            if check_password(given, expected):
                tries.failures = self._server.failures = 0
                return SignIn(True, True, 0.0)
            for t in (tries, self._server):
                t.failures, t.last = t.failures + 1, now
            wait = self._wait(tries, now)
            server = self._server.failures
        log.warning("Operator sign-in failed: a wrong password (%d in a row from this session, %d on the server); "
                    "next try taken in %.1f s.", tries.failures, server, wait)
        return SignIn(False, True, wait)


# ---- visitors' digits: bounded per visitor and server-wide -------------------------------------------

def visitor_root(store_root: Path, session: str) -> Path:
    """Where one visitor's personal digits live (a `PersonalDigits` root): `<store>/public/<session>/`."""
    if not session.isalnum():  # session ids are ours (hex), never a path
        raise ValueError(f"Not a session id: {session!r}")
    return Path(store_root) / PUBLIC_DIR / session


def visitor_storage_bound() -> int:
    """The most bytes visitors can make the store hold, worst case: every digit at the largest a stored
    sample can be, every folder there, every visitor model at its largest. docs/public-mode.md quotes it."""
    return MAX_VISITOR_DIGITS * MAX_SAMPLE_BYTES + KEEP_SESSIONS * FOLDER_BYTES + KEEP_VISITOR_MODELS * MAX_MODEL_BYTES


@dataclass(frozen=True)
class VisitorFolder:
    name: str
    path: Path
    digits: int
    last_used: float


def visitor_folders(store_root: Path) -> list[VisitorFolder]:
    """Every visitor's folder with how many digits it holds (its committed samples: one JSON each)."""
    base = Path(store_root) / PUBLIC_DIR
    try:
        entries = [d for d in os.scandir(base) if d.is_dir(follow_symlinks=False)]
    except OSError:
        return []
    found = []
    for d in entries:
        folder = Path(d.path)
        try:
            digits = sum(1 for f in os.scandir(folder / PERSONAL_FOLDER) if f.name.endswith(".json"))
        except OSError:
            digits = 0
        found.append(VisitorFolder(d.name, folder, digits, _last_used(folder)))
    return found


def _last_used(folder: Path) -> float:
    """When a visitor last used their digits: storing or removing one touches `personal/`, opening My digits
    touches the folder (`touch`)."""
    times = []
    for p in (folder, folder / PERSONAL_FOLDER):
        try:
            times.append(p.stat().st_mtime)
        except OSError:
            pass
    return max(times, default=0.0)


def touch(store_root: Path, session: str) -> None:
    """Mark a visitor's folder as used now (when it exists: a visitor who stored nothing keeps nothing)."""
    try:
        os.utime(visitor_root(store_root, session))
    except OSError:
        pass


def make_room(store_root: Path, session: str, adding: int = 1, *, now: float | None = None) -> list[str]:
    """Make room for `adding` more digits of `session`, or refuse (PersonalDigitsError, for the visitor).

    Refused: a visitor already at MAX_SESSION_DIGITS. Otherwise, while all visitors' digits would exceed
    MAX_VISITOR_DIGITS or their folders KEEP_SESSIONS, the least recently used other folder unused for
    PROTECT_SECONDS is deleted; when only protected ones are left, refused (SERVER_FULL). Returns the
    sessions whose folders were deleted."""
    now = time.time() if now is None else now
    folders = visitor_folders(store_root)
    mine = next((f for f in folders if f.name == session), None)
    if mine is not None and mine.digits + adding > MAX_SESSION_DIGITS:
        raise PersonalDigitsError(f"you have kept {MAX_SESSION_DIGITS} digits, the most a visitor may keep "
                                  "here; delete some on My digits first.")
    others = [f for f in folders if f.name != session]
    total, count = sum(f.digits for f in folders) + adding, len(others) + 1
    idle = sorted((f for f in others if now - f.last_used > PROTECT_SECONDS), key=lambda f: f.last_used)
    gone = []
    while (total > MAX_VISITOR_DIGITS or count > KEEP_SESSIONS) and idle:
        f = idle.pop(0)
        shutil.rmtree(f.path, ignore_errors=True)
        total, count = total - f.digits, count - 1
        gone.append(f.name)
    if gone:
        log.info("Deleted %d visitors' digit folders unused for an hour to make room.", len(gone))
    if total > MAX_VISITOR_DIGITS or count > KEEP_SESSIONS:
        log.warning("A visitor's digit was refused: visitors keep %d digits in %d folders, all used lately.",
                    total - adding, count - 1)
        raise PersonalDigitsError(SERVER_FULL)
    return gone


_ROOM = threading.Lock()  # one save at a time makes room and writes: two saves never share the last place


class VisitorDigits(PersonalDigits):
    """One public-mode visitor's digits, under `<store>/public/<session>/`: every sample written (by `add`
    and by `import_zip`) first gets its place from `make_room`, so the per-visitor and server-wide bounds
    hold whatever the way in. Nothing is on disk until the first digit is stored."""

    def __init__(self, store_root: Path, session: str):
        super().__init__(visitor_root(store_root, session))
        self.store_root, self.session = Path(store_root), session

    def _commit(self, sample_id: str, raw_png: bytes, digit_png: bytes, meta: dict) -> None:
        with _ROOM:
            try:
                make_room(self.store_root, self.session)
            except PersonalDigitsError:
                self._path(sample_id, ".png").unlink(missing_ok=True)  # `add` took the id with an empty file
                for folder in (self.folder, self.root):  # a first digit refused leaves no folder behind
                    try:
                        folder.rmdir()
                    except OSError:
                        pass
                raise
            super()._commit(sample_id, raw_png, digit_png, meta)


# ---- what a visitor is told ----------------------------------------------------------------------------

DISK_FULL = "The server's disk is full, so nothing was saved; try again later."
SERVER_FILES = "The server could not read or write its files; the details are in its log."
SERVER_FAULT = "Something went wrong on the server; the details are in its log."
MODEL_FAULT = "The model could not be loaded; the details are in the server's log."
BUSY = "A training run is in progress on this server; you can start yours when it finishes."
# An absolute path (POSIX, `~/`, or Windows), not a fraction like 1/65535: not preceded by a word character.
_PATH = re.compile(r"(?<![\w.~/])(?:~?/|[A-Za-z]:[\\/])[^\s'\"`]*[^\s'\"`.,;:)\]]")


def without_paths(text: str) -> str:
    """`text` with every absolute path in it replaced by "the server"."""
    return _PATH.sub("the server", text)


def visitor_message(e: BaseException) -> str:
    """What a visitor is told of `e`: in plain words, with no server path, setting or exception text.

    The visitor's own doing (a ValueError: a blank drawing, a full quota, a file that is not an image, a bad
    zip, a model whose outputs are not probabilities) is said as the error says it, any path in it
    replaced; a server fault (a disk, a damaged model, missing data) by what it means for them."""
    chain = []
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or (None if e.__suppress_context__ else e.__context__)
    if any(isinstance(c, OSError) and c.errno in (errno.ENOSPC, errno.EDQUOT) for c in chain):
        return DISK_FULL
    if any(isinstance(c, OSError) for c in chain):
        return SERVER_FILES
    first = chain[0]
    if isinstance(first, MnistError):  # the pages say what MNIST was needed for
        return "The details are in the server's log."
    if isinstance(first, ModelStoreError):
        return MODEL_FAULT
    if isinstance(first, TrainingBusy):
        return BUSY
    if isinstance(first, ValueError):
        return without_paths(str(first))
    return SERVER_FAULT


# ---- visitors' models ----------------------------------------------------------------------------------

def visitor_models(store_root: Path) -> list[str]:
    """Names of the models visitors trained, oldest first."""
    try:
        names = json.loads((Path(store_root) / PUBLIC_DIR / VISITOR_MODELS).read_text())
    except (OSError, ValueError):
        return []
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def record_visitor_model(store: ModelStore, name: str, keep: int = KEEP_VISITOR_MODELS) -> list[str]:
    """Note that a visitor trained `name`, and delete the visitors' models beyond the newest `keep`
    (never the shared active one). Returns the names deleted."""
    names = [n for n in visitor_models(store.root) if n != name] + [name]
    old, names = names[:-keep], names[-keep:]
    active = store.active_name()
    gone = []
    for n in old:
        if n == active:  # the operator made it the shared model: it is theirs now
            continue
        try:
            folder = store.info(n).path
        except ModelStoreError:
            continue  # already gone
        if folder is not None and folder.parent == store.models_dir:
            shutil.rmtree(folder, ignore_errors=True)
            gone.append(n)
    path = Path(store.root) / PUBLIC_DIR / VISITOR_MODELS
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(names).encode())
    return gone
