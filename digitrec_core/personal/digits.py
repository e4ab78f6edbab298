"""The personal digit set: digits the user drew or corrected, kept in the model store to learn their hand.

Layout under the store root (`DIGITREC_HOME`): one self-contained entry per sample, three files,
and no shared index that one torn write could spoil for every sample (an append-only index would
need locking between processes and a repair pass; separate entries need neither, and relabel and
remove touch one sample's files only):

    personal/<id>.json      the metadata, and the commit point: a sample exists once this file does
                            (personal.sample)
    personal/<id>.png       the raw image: 8-bit, lossless, its longer side at most RAW_SIDE (280, the canvas's
                            size: a canvas drawing is kept as drawn, a bigger image averaged down to it)
    personal/<id>.28.png    the 28x28 digit exactly as the model saw it (personal.codec)

One sample, its three files together, takes at most MAX_SAMPLE_BYTES (320,000 bytes: a 280x280 RGBA
PNG of pure noise, which no compression shrinks, is 314 KB); tests/test_personal.py stores the worst
case of every way in and checks it. An id is taken by creating `<id>.png` exclusively (O_EXCL): tabs,
threads or processes adding at once never share one.

Writes and crashes. Every file is written atomically (digitrec_core.files: a temporary dot-name,
fsync, rename); the images come first and the JSON last, so a crash or a kill in the middle of
a save leaves at most that sample's images without their JSON, which nothing reads: that sample is
lost, never another. Removing deletes the JSON first (the sample is gone at once), then the images;
relabelling replaces the JSON in one rename. Images without a JSON, and temporary files, are
deleted by a later read once they are an hour old (ORPHAN_AGE), the JSON's absence checked on disk
just before: a save takes milliseconds, so an hour-old leftover is certainly a crash's, and the
margin keeps a read from ever racing a writer, even a stalled one (on a read-only folder they stay).
Not guarded: a relabel racing a remove of the same sample can bring its JSON back without images,
which the next read reports like any damage.

Damage. Every read checks every entry (the JSON's fields and types, the 28x28 PNG decoded, the raw
PNG present); an entry that fails is skipped and described in a plain sentence in `problems`, and
all the others load. Nothing is cached, so every object on the folder sees the same set; reading
300 samples (`arrays()`) took 20 ms (median of 20) on the project's 2-core machine, an `add` 6 ms.

Exchange: `export_zip` and `import_zip` (personal.exchange).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from digitrec_core.files import atomic_file, read_capped, write_atomic
from digitrec_core.personal.codec import MAX_DIGIT_BYTES, MAX_RAW_BYTES, decode_digit, encode_input, encode_pair
from digitrec_core.personal.exchange import ImportReport, import_rows, open_zip, write_zip
from digitrec_core.personal.sample import (
    DIGIT,
    FORMAT,
    ID_RE,
    META,
    RAW,
    PersonalDigitsError,
    Sample,
    brief,
    check_digit,
    parse_meta,
    sample_meta,
)
from digitrec_core.preprocess import SIZE, read_drawing
from digitrec_core.store.home import default_home

FOLDER = "personal"
ORPHAN_AGE = 3600.0  # seconds before an image without its JSON counts as a crash's leftover
MAX_META_BYTES = 64_000  # a sample's JSON is ~200 bytes; a bigger one is not ours
# The most one sample's files take together: a RAW_SIDE x RAW_SIDE RGBA PNG of noise (313,880 bytes of rows,
# which zlib stores as they are, ~314,000 with the PNG's chunks), a 28x28 16-bit PNG of noise (~1,700) and
# the JSON with the longest model name (~2,900). Checked with the worst case of each way in by the tests.
MAX_SAMPLE_BYTES = 320_000


@dataclass
class _Entry:
    sample: Sample
    digit: np.ndarray


class PersonalDigits:
    """The personal digit set in `root/personal` (`root`: the model store's, DIGITREC_HOME by default).

    Nothing is cached: every read looks at the folder, so several objects (tabs, threads, processes)
    on the same folder always agree. `problems` lists, in sentences, the entries the last read skipped.
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_home()
        self.folder = self.root / FOLDER
        self.problems: list[str] = []
        self.last_import: ImportReport | None = None

    # -- reading ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._scan())

    def samples(self) -> list[Sample]:
        """Every readable sample, oldest first."""
        return [e.sample for e in self._scan()]

    def with_digits(self) -> list[tuple[Sample, np.ndarray]]:
        """Every readable sample with its 28x28 digit, oldest first, from one read of the folder."""
        return [(e.sample, e.digit) for e in self._scan()]

    def arrays(self, *, with_ids: bool = False):
        """`(x, y)`: x `(N, 28, 28)` float32 in [0, 1], y `(N,)` int64, in the order of `samples()`.

        With `with_ids=True`, `(x, y, ids)`: the ids in the same order, for recording what a
        fine-tune used.
        """
        entries = self._scan()
        x = np.stack([e.digit for e in entries]) if entries else np.zeros((0, SIZE, SIZE), np.float32)
        y = np.array([e.sample.label for e in entries], np.int64)
        return (x, y, [e.sample.id for e in entries]) if with_ids else (x, y)

    def digit(self, sample_id: str) -> np.ndarray:
        """The sample's 28x28 float32 digit, as the model saw it (within 1/65535)."""
        return self._decoded(sample_id, DIGIT, MAX_DIGIT_BYTES, decode_digit)

    def raw(self, sample_id: str) -> np.ndarray:
        """The sample's raw image as a uint8 array (L, RGB or RGBA), ready for `canvas_to_mnist`."""
        return self._decoded(sample_id, RAW, MAX_RAW_BYTES, read_drawing)

    def _decoded(self, sample_id: str, suffix: str, cap: int, decode: Callable[[bytes], np.ndarray]) -> np.ndarray:
        data = self._read_file(sample_id, suffix, cap)
        try:
            return decode(data)
        except ValueError as e:
            raise PersonalDigitsError(f"The {_KIND[suffix]} of sample {sample_id} is damaged ({e}).") from e

    # -- writing ----------------------------------------------------------------------------

    def add(
        self,
        image: Any,
        label: int,
        *,
        predicted: int | None = None,
        probability: float | None = None,
        model: str | None = None,
        digit: np.ndarray | None = None,
    ) -> str:
        """Store a sample and return its id.

        `image`: anything `canvas_to_mnist` accepts (a 280x280 RGBA canvas, an RGB or grey photo),
        or a 28x28 float digit in [0, 1], which is stored as it is (as the raw image too).
        `digit`: the 28x28 the model saw, when the caller has it (the Draw page's browser prepared it from
        `image`): stored as it is instead of preparing `image` again.
        Raises PersonalDigitsError (a ValueError) for a blank image, a label that is not 0-9 (a bool
        or a float is refused too), bad prediction details, or a write that failed (disk full...).
        """
        meta = sample_meta(label, predicted, probability, model)
        raw_png, digit_png = encode_input(image) if digit is None else encode_pair(image, digit)
        now = datetime.now(UTC)
        meta["created_at"] = now.isoformat(timespec="seconds")
        self._mkdir()
        sample_id = self._reserve_id(now)
        meta["id"] = sample_id
        self._commit(sample_id, raw_png, digit_png, meta)
        return sample_id

    def remove(self, sample_id: str) -> None:
        """Delete a sample (a damaged one too); its JSON goes first, so it disappears at once."""
        if not self._any_file(sample_id):
            raise self._unknown(sample_id)
        try:
            for suffix in (META, DIGIT, RAW):
                self._path(sample_id, suffix).unlink(missing_ok=True)
        except OSError as e:
            raise PersonalDigitsError(f"Could not delete sample {sample_id} in {self.folder}: {brief(e)}.") from e

    def relabel(self, sample_id: str, label: int) -> None:
        """Change a sample's label; the JSON is replaced in one rename, the rest is kept."""
        label = check_digit(label, "label")
        path = self._path(sample_id, META)
        if not path.is_file():
            raise self._unknown(sample_id)
        try:
            meta = json.loads(read_capped(path, MAX_META_BYTES))
            sample = parse_meta(meta, sample_id)
        except (OSError, ValueError, RecursionError) as e:
            raise PersonalDigitsError(f"Sample {sample_id} is damaged and cannot be relabelled; remove it.") from e
        meta = sample_meta(label, sample.predicted, sample.probability, sample.model)
        meta.update(id=sample_id, created_at=sample.created_at)
        self._write(path, _json_bytes(meta))

    # -- exchange (personal.exchange) -------------------------------------------------------

    def export_zip(self, path: str | os.PathLike | IO[bytes]) -> int:
        """Write every readable sample to a zip (`index.csv` + PNGs); returns how many.

        `path` is a file name (written to a temporary file, then renamed into place) or a binary
        file object (for a download button, say). Samples the read skipped are in `problems`.
        """
        entries = [(e.sample, e.digit) for e in self._scan()]
        read_raw = lambda sample_id: self._read_file(sample_id, RAW, MAX_RAW_BYTES)  # noqa: E731
        if not isinstance(path, (str, os.PathLike)):
            return write_zip(path, entries, read_raw, self.problems)
        target = Path(path)
        try:
            with atomic_file(target) as f:  # the zip gets the mode open() gives, like every file DigitRec writes
                return write_zip(f, entries, read_raw, self.problems)
        except OSError as e:
            raise PersonalDigitsError(f"Could not write {target}: {e.strerror or e}.") from e

    def import_zip(self, source: str | os.PathLike | bytes | IO[bytes]) -> int:
        """Add the samples of a zip made by `export_zip`; returns how many were added.

        Ids are kept and an id already in the set is skipped, so importing twice adds nothing.
        Rows that fail validation are skipped; `last_import` says which and why. A file that is
        not a usable zip raises PersonalDigitsError.
        """
        with open_zip(source) as zf:
            report = import_rows(zf, lambda sample_id: self._path(sample_id, META).exists(), self._add_imported)
        self.last_import = report
        return report.added

    def _add_imported(self, sample_id: str, raw_png: bytes, digit_png: bytes, meta: dict) -> None:
        self._mkdir()
        self._commit(sample_id, raw_png, digit_png, meta)

    # -- internals --------------------------------------------------------------------------

    def _path(self, sample_id: str, suffix: str) -> Path:
        if not isinstance(sample_id, str) or not ID_RE.fullmatch(sample_id):
            raise self._unknown(sample_id)
        return self.folder / f"{sample_id}{suffix}"

    def _unknown(self, sample_id: object) -> PersonalDigitsError:
        return PersonalDigitsError(f"There is no personal sample with id {sample_id!r} in {self.folder}.")

    def _any_file(self, sample_id: str) -> bool:
        return any(self._path(sample_id, s).exists() for s in (META, DIGIT, RAW))

    def _read_file(self, sample_id: str, suffix: str, cap: int) -> bytes:
        if not self._path(sample_id, META).is_file():
            raise self._unknown(sample_id)
        try:
            return read_capped(self._path(sample_id, suffix), cap)
        except (OSError, ValueError) as e:
            kind = _KIND[suffix]
            raise PersonalDigitsError(f"The {kind} of sample {sample_id} could not be read ({brief(e)}).") from e

    def _mkdir(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise PersonalDigitsError(f"Could not create {self.folder}: {e.strerror or e}.") from e

    def _reserve_id(self, now: datetime) -> str:
        """A fresh id, taken by creating its raw PNG exclusively: no other writer can get it."""
        stamp = f"{now:%Y%m%d-%H%M%S}-{now.microsecond // 1000:03d}"
        while True:
            sample_id = f"{stamp}-{secrets.token_hex(2)}"
            if self._path(sample_id, META).exists():
                continue
            try:
                os.close(os.open(self._path(sample_id, RAW), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                return sample_id
            except FileExistsError:
                continue
            except OSError as e:
                raise PersonalDigitsError(f"Could not save the digit in {self.folder}: {e.strerror or e}.") from e

    def _commit(self, sample_id: str, raw_png: bytes, digit_png: bytes, meta: dict) -> None:
        """Images first, JSON last: until the JSON lands the sample does not exist."""
        meta = {"format": FORMAT, "id": sample_id, **meta}
        try:
            self._write(self._path(sample_id, DIGIT), digit_png)
            self._write(self._path(sample_id, RAW), raw_png)
            self._write(self._path(sample_id, META), _json_bytes(meta))
        except BaseException:
            if not self._path(sample_id, META).exists():  # best effort; a hard kill leaves them to the cleaner
                for suffix in (DIGIT, RAW):
                    self._path(sample_id, suffix).unlink(missing_ok=True)
            raise

    def _write(self, path: Path, data: bytes) -> None:
        try:
            write_atomic(path, data)
        except OSError as e:
            raise PersonalDigitsError(f"Could not write {path}: {e.strerror or e}.") from e

    def _scan(self) -> list[_Entry]:
        """Read and check every entry; damaged ones go to `problems`, crash leftovers are cleaned."""
        problems: list[str] = []
        try:
            names = [d.name for d in os.scandir(self.folder)]
        except FileNotFoundError:
            self.problems = []
            return []
        except OSError as e:
            self.problems = [f"The personal digit folder {self.folder} could not be read ({e.strerror or e})."]
            return []
        files: dict[str, set[str]] = {}
        for name in names:
            if name.startswith("."):
                if name.endswith(".tmp"):
                    self._clean(name)
                continue
            for suffix in (META, DIGIT, RAW):  # DIGIT before RAW: ".28.png" also ends in ".png"
                if name.endswith(suffix) and ID_RE.fullmatch(name[: -len(suffix)]):
                    files.setdefault(name[: -len(suffix)], set()).add(suffix)
                    break
        entries = []
        for sample_id in sorted(files):
            present = files[sample_id]
            if META not in present:
                for suffix in present:
                    self._clean(sample_id + suffix, sample_id)
                continue
            try:
                entries.append(self._load(sample_id))
            except PersonalDigitsError as e:
                problems.append(f"Sample {sample_id} was skipped: {e}")
        self.problems = problems
        return entries

    def clean_leftovers(self) -> list[Path]:
        """Remove the temporary files (`.<name>.*.tmp`) a killed write left, on `_clean`'s age rule
        (ORPHAN_AGE: personal writes do not take the store's lock); returns what was removed. Reads
        do this too; `ModelStore` calls it once per process, so leftovers go even if nobody reads."""
        try:
            names = [d.name for d in os.scandir(self.folder) if d.name.startswith(".") and d.name.endswith(".tmp")]
        except OSError:
            return []
        for name in names:
            self._clean(name)
        return [self.folder / n for n in names if not (self.folder / n).exists()]

    def _load(self, sample_id: str) -> _Entry:
        try:
            meta = json.loads(read_capped(self.folder / f"{sample_id}{META}", MAX_META_BYTES))
        except (OSError, ValueError, RecursionError) as e:  # deeply nested JSON raises RecursionError
            raise PersonalDigitsError(f"its metadata {sample_id}{META} could not be read ({brief(e)}).") from e
        sample = parse_meta(meta, sample_id)
        # The images are looked for on disk, not in the listing: a listing taken while a save runs
        # can show its new JSON and miss the image written just before it.
        if not (self.folder / f"{sample_id}{RAW}").is_file():
            raise PersonalDigitsError(f"its {_KIND[RAW]} {sample_id}{RAW} is missing.")
        try:
            digit = decode_digit(read_capped(self.folder / f"{sample_id}{DIGIT}", MAX_DIGIT_BYTES))
        except FileNotFoundError as e:
            raise PersonalDigitsError(f"its {_KIND[DIGIT]} {sample_id}{DIGIT} is missing.") from e
        except (OSError, ValueError) as e:
            raise PersonalDigitsError(f"its {_KIND[DIGIT]} {sample_id}{DIGIT} is damaged ({brief(e)}).") from e
        return _Entry(sample, digit)

    def _clean(self, name: str, sample_id: str | None = None) -> None:
        """Delete a crash's leftover once it is old enough not to be a save in progress. An image is
        deleted only if its JSON is really absent, asked of the disk just before: a listing taken
        during a relabel's rename could have missed it."""
        path = self.folder / name
        try:
            if time.time() - path.stat().st_mtime > ORPHAN_AGE and not (
                sample_id and (self.folder / f"{sample_id}{META}").exists()
            ):
                path.unlink()
        except OSError:  # gone already, or a read-only folder: harmless either way
            pass


_KIND = {RAW: "raw image", DIGIT: "28x28 image", META: "metadata"}


def _json_bytes(meta: dict) -> bytes:
    return (json.dumps(meta, indent=2) + "\n").encode()
