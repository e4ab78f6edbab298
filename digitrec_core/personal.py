"""The personal digit set: digits the user drew or corrected, kept in the model store to learn their hand.

Layout under the store root (`DIGITREC_HOME`): one self-contained entry per sample, three files,
and no shared index that one torn write could spoil for every sample (an append-only index would
need locking between processes and a repair pass; separate entries need neither, and relabel and
remove touch one sample's files only):

    personal/<id>.json      the metadata, and the commit point: a sample exists once this file does
    personal/<id>.png       the raw image: 8-bit, lossless, its longer side at most RAW_SIDE (280, the canvas's
                            size: a canvas drawing is kept as drawn, a bigger image averaged down to it)
    personal/<id>.28.png    the 28x28 digit exactly as the model saw it: 16-bit greyscale PNG holding
                            round(value * 65535), so it reads back within 1/65535 of `canvas_to_mnist`'s output

`<id>.json` is `{"format": 1, "id", "label", "predicted", "probability", "model", "created_at"}`:
the label (0-9), what the model predicted and with which probability (or null), the model's name
(or null), and when the sample was stored (UTC, ISO 8601 to the second, as `store.py` writes it).
Unknown keys are ignored, so a later version can add some. A 28x28 float digit given to `add` is
stored as it is, as the raw image too. The 28x28 is always made from the image as given, before the
raw image is shrunk, so a photo is recognised as well as ever while it keeps at most ~310 KB.
One sample, its three files together, takes at most MAX_SAMPLE_BYTES (320,000 bytes: a 280x280 RGBA
PNG of pure noise, which no compression shrinks, is 314 KB); tests/test_personal.py stores the worst
case of every way in and checks it.

Ids look like `20261201-074512-123-3f9a`: UTC date, time, milliseconds and a random suffix, so they
sort by time (the set lists oldest first) and are short enough to show. An id is taken by creating
`<id>.png` exclusively (O_EXCL): tabs, threads or processes adding at once never share one.

Writes and crashes. Every file is written under a temporary dot-name, flushed to disk (fsync) and
renamed into place; the images come first and the JSON last, so a crash or a kill in the middle of
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

Exchange. `export_zip` writes `index.csv` (id, label, predicted, probability, model, created_at,
raw_file, digit_file) and the PNGs `<id>.png`, `<id>.28.png`, to a temporary file renamed into
place. `import_zip` treats the zip as untrusted: nothing is extracted under its own name, every
member is read with a per-file cap and the whole zip with a total cap (declared sizes checked first,
the bytes actually inflated counted too), every row and image is validated, bad rows are skipped
and described in `last_import`, and an id already in the set is skipped, so importing the same zip
twice adds nothing. A row whose 28x28 PNG is missing or unusable gets it recomputed from the raw
image with `canvas_to_mnist`; a row whose raw image is unusable keeps its 28x28 as the raw image.
A raw image comes in through `read_drawing`'s gate (PNG only, bounded bytes, pixels and decoding
work) and is stored re-encoded as `add` stores it, never as the zip's bytes.
"""

from __future__ import annotations

import csv
import io
import json
import numbers
import os
import re
import secrets
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

import numpy as np
from PIL import Image

from digitrec_core.preprocess import (
    MAX_DRAWING_BYTES,
    MIN_CONTRAST,
    SIZE,
    as_uint8,
    canvas_to_mnist,
    check_decode_cost,
    read_drawing,
)
from digitrec_core.store import atomic_file, default_home, write_atomic

FOLDER = "personal"
FORMAT = 1
META, RAW, DIGIT = ".json", ".png", ".28.png"
ID_RE = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9]{3}-[0-9a-f]{4,32}")
INDEX = "index.csv"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLUMNS = ("id", "label", "predicted", "probability", "model", "created_at", "raw_file", "digit_file")
ORPHAN_AGE = 3600.0  # seconds before an image without its JSON counts as a crash's leftover
MAX_META_BYTES = 64_000  # a sample's JSON is ~200 bytes; a bigger one is not ours
MAX_DIGIT_BYTES = 64_000  # a 28x28 16-bit PNG is at most ~1.6 KB (noise)
MAX_MODEL_NAME = 200
RAW_SIDE = 280  # a stored raw image's longer side at most: the Draw page's canvas
# The most one sample's files take together: a RAW_SIDE x RAW_SIDE RGBA PNG of noise (313,880 bytes of rows,
# which zlib stores as they are, ~314,000 with the PNG's chunks), a 28x28 16-bit PNG of noise (~1,700) and
# the JSON with the longest model name (~2,900). Checked with the worst case of each way in by the tests.
MAX_SAMPLE_BYTES = 320_000
# Import limits: an exported 280x280 canvas PNG is ~5-15 KB, and earlier versions stored photos up to
# 600x600 (<= 1.5 MB even as RGBA noise): a raw image is read through `read_drawing`'s gate.
MAX_RAW_BYTES = MAX_DRAWING_BYTES
MAX_INDEX_BYTES = 8_000_000
MAX_ROWS = 20_000
MAX_MEMBERS = 3 * MAX_ROWS + 10
MAX_TOTAL_BYTES = 512_000_000  # uncompressed bytes read from one zip, all members together


BLANK = "The image is blank: there is no digit to store. Draw one first."


class PersonalDigitsError(ValueError):
    """A sample or a zip that cannot be used, said in words a user can act on."""


@dataclass(frozen=True)
class Sample:
    id: str
    label: int
    predicted: int | None
    probability: float | None
    model: str | None
    created_at: str  # ISO 8601, UTC


@dataclass(frozen=True)
class ImportReport:
    """What the last `import_zip` did: samples added, ids already in the set, rows skipped and why."""

    added: int
    already_present: int
    problems: tuple[str, ...]


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
        data = self._read_file(sample_id, DIGIT, MAX_DIGIT_BYTES)
        try:
            return _decode_digit(data)
        except ValueError as e:
            raise PersonalDigitsError(f"The 28x28 image of sample {sample_id} is damaged ({e}).") from e

    def raw(self, sample_id: str) -> np.ndarray:
        """The sample's raw image as a uint8 array (L, RGB or RGBA), ready for `canvas_to_mnist`."""
        data = self._read_file(sample_id, RAW, MAX_RAW_BYTES)
        try:
            return read_drawing(data)
        except ValueError as e:
            raise PersonalDigitsError(f"The raw image of sample {sample_id} is damaged ({e}).") from e

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
        meta = _meta(label, predicted, probability, model)
        raw_png, digit_png = _encode_input(image) if digit is None else _encode_pair(image, digit)
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
            raise PersonalDigitsError(f"Could not delete sample {sample_id} in {self.folder}: {_brief(e)}.") from e

    def relabel(self, sample_id: str, label: int) -> None:
        """Change a sample's label; the JSON is replaced in one rename, the rest is kept."""
        label = _check_digit(label, "label")
        path = self._path(sample_id, META)
        if not path.is_file():
            raise self._unknown(sample_id)
        try:
            meta = json.loads(_read_capped(path, MAX_META_BYTES))
            sample = _parse_meta(meta, sample_id)
        except (OSError, ValueError, RecursionError) as e:
            raise PersonalDigitsError(f"Sample {sample_id} is damaged and cannot be relabelled; remove it.") from e
        meta = _meta(label, sample.predicted, sample.probability, sample.model)
        meta.update(id=sample_id, created_at=sample.created_at)
        self._write(path, _json_bytes(meta))

    # -- exchange ---------------------------------------------------------------------------

    def export_zip(self, path: str | os.PathLike | IO[bytes]) -> int:
        """Write every readable sample to a zip (`index.csv` + PNGs); returns how many.

        `path` is a file name (written to a temporary file, then renamed into place) or a binary
        file object (for a download button, say). Samples the read skipped are in `problems`.
        """
        entries = self._scan()
        if not isinstance(path, (str, os.PathLike)):
            return self._write_zip(path, entries)
        target = Path(path)
        try:
            with atomic_file(target) as f:  # the zip gets the mode open() gives, like every file DigitRec writes
                return self._write_zip(f, entries)
        except OSError as e:
            raise PersonalDigitsError(f"Could not write {target}: {e.strerror or e}.") from e

    def import_zip(self, source: str | os.PathLike | bytes | IO[bytes]) -> int:
        """Add the samples of a zip made by `export_zip`; returns how many were added.

        Ids are kept and an id already in the set is skipped, so importing twice adds nothing.
        Rows that fail validation are skipped; `last_import` says which and why. A file that is
        not a usable zip raises PersonalDigitsError.
        """
        if isinstance(source, (bytes, bytearray, memoryview)):
            source = io.BytesIO(bytes(source))
        try:
            zf = zipfile.ZipFile(source)
        except FileNotFoundError as e:
            raise PersonalDigitsError(f"{os.fspath(source)} does not exist.") from e
        except Exception as e:  # BadZipFile, OSError, EOFError, ValueError...: all mean "not a zip we can read"
            raise PersonalDigitsError("That file is not a zip archive that could be read.") from e
        with zf:
            reader = _ZipReader(zf)
            prefix, rows = reader.index()
            added, present, problems = 0, 0, []
            seen: set[str] = set()
            for number, row in enumerate(rows, start=2):  # row 1 is the header
                try:
                    sample_id, files, meta = _parse_row(row)
                    if sample_id in seen or self._path(sample_id, META).exists():
                        present += 1
                        seen.add(sample_id)
                        continue
                    raw_png, digit_png, note = reader.images(prefix, files)
                except PersonalDigitsError as e:
                    problems.append(f"Row {number} of {INDEX} was skipped: {e}")
                    continue
                except _Exhausted as e:
                    problems.append(f"Row {number} of {INDEX} and the rows after it were skipped: {e}")
                    break
                if note:
                    problems.append(f"Row {number} of {INDEX}: {note}")
                self._mkdir()
                self._commit(sample_id, raw_png, digit_png, meta)
                seen.add(sample_id)
                added += 1
        self.last_import = ImportReport(added, present, tuple(problems))
        return added

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
            return _read_capped(self._path(sample_id, suffix), cap)
        except (OSError, ValueError) as e:
            kind = _KIND[suffix]
            raise PersonalDigitsError(f"The {kind} of sample {sample_id} could not be read ({_brief(e)}).") from e

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
            meta = json.loads(_read_capped(self.folder / f"{sample_id}{META}", MAX_META_BYTES))
        except (OSError, ValueError, RecursionError) as e:  # deeply nested JSON raises RecursionError
            raise PersonalDigitsError(f"its metadata {sample_id}{META} could not be read ({_brief(e)}).") from e
        sample = _parse_meta(meta, sample_id)
        # The images are looked for on disk, not in the listing: a listing taken while a save runs
        # can show its new JSON and miss the image written just before it.
        if not (self.folder / f"{sample_id}{RAW}").is_file():
            raise PersonalDigitsError(f"its {_KIND[RAW]} {sample_id}{RAW} is missing.")
        try:
            digit = _decode_digit(_read_capped(self.folder / f"{sample_id}{DIGIT}", MAX_DIGIT_BYTES))
        except FileNotFoundError as e:
            raise PersonalDigitsError(f"its {_KIND[DIGIT]} {sample_id}{DIGIT} is missing.") from e
        except (OSError, ValueError) as e:
            raise PersonalDigitsError(f"its {_KIND[DIGIT]} {sample_id}{DIGIT} is damaged ({_brief(e)}).") from e
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

    def _write_zip(self, f: IO[bytes], entries: list[_Entry]) -> int:
        index = io.StringIO()
        writer = csv.writer(index, lineterminator="\n")
        writer.writerow(COLUMNS)
        n = 0
        with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as zf:
            for e in entries:
                s = e.sample
                raw_name, digit_name = f"{s.id}{RAW}", f"{s.id}{DIGIT}"
                try:
                    raw = self._read_file(s.id, RAW, MAX_RAW_BYTES)
                except PersonalDigitsError as err:  # removed by another tab since the scan, say
                    self.problems.append(f"Sample {s.id} was not exported: {err}")
                    continue
                zf.writestr(raw_name, raw)
                zf.writestr(digit_name, _encode_digit(e.digit))
                writer.writerow([s.id, s.label, _cell(s.predicted), _cell(s.probability), _cell(s.model),
                                 s.created_at, raw_name, digit_name])
                n += 1
            zf.writestr(INDEX, index.getvalue())
        return n


_KIND = {RAW: "raw image", DIGIT: "28x28 image", META: "metadata"}


# -- validation -------------------------------------------------------------------------------


def _check_digit(value: Any, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or not 0 <= value <= 9:
        raise PersonalDigitsError(f"The {what} must be a whole number from 0 to 9, not {value!r}.")
    return int(value)


def _meta(label: Any, predicted: Any, probability: Any, model: Any) -> dict:
    """The checked metadata fields; PersonalDigitsError names the first one that is wrong."""
    label = _check_digit(label, "label")
    if predicted is not None:
        predicted = _check_digit(predicted, "predicted digit")
    if probability is not None:
        if (isinstance(probability, (bool, np.bool_)) or not isinstance(probability, numbers.Real)
                or not 0 <= float(probability) <= 1):
            raise PersonalDigitsError(f"The probability must be a number from 0 to 1, not {probability!r}.")
        probability = float(probability)
    if model is not None and (not isinstance(model, str) or not 0 < len(model) <= MAX_MODEL_NAME):
        raise PersonalDigitsError(f"The model name must be a short text, not {model!r}.")
    return {"label": label, "predicted": predicted, "probability": probability, "model": model}


def _parse_meta(meta: Any, sample_id: str) -> Sample:
    """A Sample from stored metadata, checking every field: a hand-edited or damaged file fails here."""
    if not isinstance(meta, dict):
        raise PersonalDigitsError("its metadata is not a JSON object.")
    if meta.get("id") != sample_id:
        raise PersonalDigitsError(f"its metadata names another sample ({meta.get('id')!r}).")
    try:
        fields = _meta(meta.get("label"), meta.get("predicted"), meta.get("probability"), meta.get("model"))
        created = _check_time(meta.get("created_at"))
    except PersonalDigitsError as e:
        raise PersonalDigitsError(f"its metadata is invalid: {e}") from e
    return Sample(sample_id, created_at=created, **fields)


def _check_time(value: Any) -> str:
    try:
        if isinstance(value, str) and len(value) <= 40:
            datetime.fromisoformat(value)
            return value
    except ValueError:
        pass
    raise PersonalDigitsError(f"The time must be an ISO 8601 date and time, not {value!r}.")


def _time_from_id(sample_id: str) -> str:
    try:
        when = datetime.strptime(sample_id[:15], "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise PersonalDigitsError(f"{sample_id!r} does not start with a valid date and time.") from None
    return when.isoformat(timespec="seconds")


# -- images -----------------------------------------------------------------------------------


def _encode_input(image: Any) -> tuple[bytes, bytes]:
    """(raw PNG, 28x28 PNG) for what `add` was given; raises PersonalDigitsError for a blank image."""
    a = np.asarray(image)
    if a.dtype.kind not in "biuf":
        raise PersonalDigitsError(f"Expected an image array of numbers, got {a.dtype} values.")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise PersonalDigitsError("The image has NaN or infinite values.")
    if a.dtype == bool:  # canvas_to_mnist reads True as 1 of 255, too faint to be ink: make it 255
        a = a.view(np.uint8) * np.uint8(255)
    if a.shape == (SIZE, SIZE) and a.dtype.kind == "f" and a.min() >= 0 and a.max() <= 1:
        _check_not_blank(a)
        digit_png = _encode_digit(a)
        return digit_png, digit_png
    try:
        digit = canvas_to_mnist(a)
    except ValueError as e:
        raise PersonalDigitsError(str(e)) from e
    if digit is None:
        raise PersonalDigitsError(BLANK)
    return _encode_raw(a), _encode_digit(digit)


def _encode_pair(image: Any, digit: Any) -> tuple[bytes, bytes]:
    """(raw PNG, 28x28 PNG) for an image and the 28x28 already made from it."""
    d = np.asarray(digit)
    if d.shape != (SIZE, SIZE) or d.dtype.kind not in "iuf" or not np.isfinite(d).all() or d.min() < 0 or d.max() > 1:
        raise PersonalDigitsError(f"Expected the digit as {SIZE}x{SIZE} values from 0 to 1.")
    _check_not_blank(d)
    raw = np.asarray(image)
    if raw.dtype.kind not in "biu" or raw.ndim not in (2, 3):
        raise PersonalDigitsError("Expected the raw image as an array of 8-bit pixels.")
    return _encode_raw(as_uint8(raw)), _encode_digit(d.astype(np.float32))


def _check_not_blank(digit: np.ndarray) -> None:
    if digit.max() < MIN_CONTRAST:  # the bar canvas_to_mnist sets for a uniform image
        raise PersonalDigitsError(BLANK)


def _encode_digit(digit: np.ndarray) -> bytes:
    """16-bit greyscale PNG: value * 65535, so the digit reads back within 1/65535."""
    u16 = np.round(np.clip(digit, 0, 1) * 65535).astype(np.uint16)
    return _png(Image.fromarray(u16))


def _decode_digit(data: bytes) -> np.ndarray:
    """A stored 28x28 PNG as float32 in [0, 1]; 8-bit greyscale is accepted too (hand-made zips).
    Raises ValueError, whatever Pillow raised, for anything else."""
    try:
        check_decode_cost(data)
        with Image.open(io.BytesIO(data), formats=("PNG",)) as im:
            if im.format != "PNG" or im.size != (SIZE, SIZE):
                raise ValueError(f"not a {SIZE}x{SIZE} PNG")
            full = {"L": 255, "I;16": 65535, "I;16B": 65535, "I": 65535}.get(im.mode)
            if full is None:
                raise ValueError(f"not a greyscale PNG (mode {im.mode})")
            a = np.asarray(im)
    except ValueError:
        raise
    except Exception as e:  # Pillow raises many types (OSError, SyntaxError, struct.error, EOFError...) on bad data
        raise ValueError(f"not a readable PNG: {_brief(e)}") from e
    if a.shape != (SIZE, SIZE) or a.min() < 0 or a.max() > full:
        raise ValueError("values out of range")
    return a.astype(np.float32) / np.float32(full)


def _encode_raw(a: np.ndarray) -> bytes:
    """The raw image as an 8-bit PNG (L, LA, RGB or RGBA), averaged down to RAW_SIDE if it is larger.

    The 28x28 digit is made from the image before this, so shrinking it costs the model nothing; it keeps
    a sample within MAX_SAMPLE_BYTES whatever was drawn or uploaded.
    """
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 3 and a.shape[2] > 4:
        raise PersonalDigitsError(f"Expected an image with 1 to 4 channels, got {a.shape[2]}.")
    im = Image.fromarray(as_uint8(a))  # canvas_to_mnist's own rule for every dtype, so the stored image reads the same
    if max(im.size) > RAW_SIDE:
        scale = RAW_SIDE / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.BOX)
    return _png(im)


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


# -- files ------------------------------------------------------------------------------------


def _read_capped(path: Path, cap: int) -> bytes:
    with open(path, "rb") as f:
        data = f.read(cap + 1)
    if len(data) > cap:
        raise ValueError(f"larger than {cap:,} bytes")
    return data


def _json_bytes(meta: dict) -> bytes:
    return (json.dumps(meta, indent=2) + "\n").encode()


def _brief(e: Exception) -> str:
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


# -- zip import -------------------------------------------------------------------------------


def _parse_row(row: dict) -> tuple[str, tuple[str, str], dict]:
    """(id, (raw_file, digit_file), metadata) from one index row, or PersonalDigitsError saying why not."""
    sample_id = (row.get("id") or "").strip()
    if not ID_RE.fullmatch(sample_id):
        raise PersonalDigitsError(f"{sample_id!r} is not a sample id (like 20261201-074512-123-3f9a).")

    def number(key: str, kind: type):
        text = (row.get(key) or "").strip()
        try:
            return None if not text else kind(text)
        except ValueError:
            raise PersonalDigitsError(f"{key} {text!r} is not a number.") from None

    label = number("label", int)
    if label is None:
        raise PersonalDigitsError("it has no label.")
    meta = _meta(label, number("predicted", int), number("probability", float),
                 (row.get("model") or "").strip() or None)
    created = (row.get("created_at") or "").strip()
    meta.update(id=sample_id, created_at=_check_time(created) if created else _time_from_id(sample_id))
    return sample_id, ((row.get("raw_file") or "").strip(), (row.get("digit_file") or "").strip()), meta


def _safe_member(name: str) -> bool:
    """A relative name inside the zip: no absolute path, drive, backslash or '..' (zip-slip)."""
    p = PurePosixPath(name)
    return bool(name) and "\\" not in name and ":" not in name and not p.is_absolute() and ".." not in p.parts


class _Exhausted(Exception):
    """The zip's total unpacked size went over MAX_TOTAL_BYTES: stop reading it."""


class _ZipReader:
    """Reads members of an untrusted zip with per-file and total caps on the bytes it inflates."""

    def __init__(self, zf: zipfile.ZipFile):
        self.zf = zf
        self.total = 0
        try:
            infos = zf.infolist()
        except Exception as e:
            raise PersonalDigitsError("The zip's table of contents is damaged.") from e
        if len(infos) > MAX_MEMBERS:
            raise PersonalDigitsError(f"The zip holds {len(infos):,} files; the limit is {MAX_MEMBERS:,}.")
        self.members = {i.filename: i for i in infos if not i.is_dir()}
        declared = sum(i.file_size for i in self.members.values())
        if declared > MAX_TOTAL_BYTES:
            raise PersonalDigitsError(f"The zip would unpack to {declared:,} bytes; the limit is {MAX_TOTAL_BYTES:,}.")

    def read(self, name: str, cap: int) -> bytes:
        """A member's bytes, at most `cap`; the total read over all calls is capped too, because
        rows can name one member many times (the declared sizes, checked up front, count it once)."""
        if not _safe_member(name):
            raise PersonalDigitsError(f"{name!r} is not a safe name.")
        info = self.members.get(name)
        if info is None:
            raise PersonalDigitsError(f"{name} is not in the zip.")
        if info.file_size > cap:
            raise PersonalDigitsError(f"{name} would unpack to {info.file_size:,} bytes; the limit is {cap:,}.")
        try:
            with self.zf.open(info) as f:  # read at most one byte past the caps, whatever the headers say
                data = f.read(min(cap, MAX_TOTAL_BYTES - self.total) + 1)
        except Exception as e:  # zlib.error, BadZipFile (bad CRC), NotImplementedError, RuntimeError (encrypted)...
            raise PersonalDigitsError(f"{name} is damaged in the zip ({type(e).__name__}).") from e
        self.total += len(data)
        if len(data) > cap:
            raise PersonalDigitsError(f"{name} unpacks to more than {cap:,} bytes.")
        if self.total > MAX_TOTAL_BYTES:
            raise _Exhausted(f"the zip unpacks to more than {MAX_TOTAL_BYTES:,} bytes in all.")
        return data

    def index(self) -> tuple[str, list[dict]]:
        """The folder `index.csv` is in ('' or 'name/', for a re-zipped export) and its rows."""
        names = [n for n in self.members if PurePosixPath(n).name == INDEX and n.count("/") <= 1]
        if not names:
            raise PersonalDigitsError(f"The zip has no {INDEX}: it is not an export of a personal digit set.")
        name = min(names, key=len)
        try:
            text = self.read(name, MAX_INDEX_BYTES)
        except _Exhausted as e:
            raise PersonalDigitsError(f"{INDEX} is too large: {e}") from e
        try:
            rows = list(csv.DictReader(io.StringIO(text.decode("utf-8-sig"))))
        except (UnicodeDecodeError, csv.Error) as e:
            raise PersonalDigitsError(f"{INDEX} in the zip is not a readable CSV file ({e}).") from e
        if not rows:
            return name[: -len(INDEX)], []
        missing = {"id", "label"} - set(rows[0])
        if missing or not {"raw_file", "digit_file"} & set(rows[0]):
            raise PersonalDigitsError(f"{INDEX} lacks the columns id, label and raw_file or digit_file.")
        if len(rows) > MAX_ROWS:
            raise PersonalDigitsError(f"{INDEX} has {len(rows):,} rows; the limit is {MAX_ROWS:,}.")
        return name[: -len(INDEX)], rows

    def images(self, prefix: str, files: tuple[str, str]) -> tuple[bytes, bytes, str | None]:
        """(raw PNG, 28x28 PNG, a note or None), validated; a missing or unusable 28x28 image is
        recomputed from the raw one, a missing or unusable raw image is replaced by the 28x28 one."""
        raw_name, digit_name = files
        digit = raw = raw_png = None
        digit_error = raw_error = None
        if digit_name:
            try:
                digit = _decode_digit(self.read(prefix + digit_name, MAX_DIGIT_BYTES))
            except ValueError as e:  # PersonalDigitsError, or the decoder's ValueError
                digit_error = f"the 28x28 image {digit_name} is unusable: {e}"
        if raw_name:
            try:
                raw_png = self.read(prefix + raw_name, MAX_RAW_BYTES)
                if not raw_png.startswith(PNG_SIGNATURE):
                    raise PersonalDigitsError("it is not a PNG.")
                raw = read_drawing(raw_png)
                raw_png = _encode_raw(raw)  # stored as add stores it, never as the zip's bytes
            except ValueError as e:  # PersonalDigitsError and ImageError
                raw_error, raw_png = f"the raw image {raw_name} is unusable: {e}", None
        if digit is None and raw is not None:
            try:
                digit = canvas_to_mnist(raw)
            except ValueError as e:
                raise PersonalDigitsError(f"{raw_name} cannot be read as a digit ({e}).") from e
            if digit is None:
                raise PersonalDigitsError(f"{raw_name} shows no digit" + (f" ({digit_error})." if digit_error else "."))
        if digit is None:
            raise PersonalDigitsError("; ".join(e for e in (digit_error, raw_error) if e) or "it names no image files.")
        _check_not_blank(digit)
        notes = []
        if digit_error:
            notes.append(f"{digit_error}; it was recomputed from the raw image.")
        if raw_error:
            notes.append(f"{raw_error}; the 28x28 image stands in for it.")
        digit_png = _encode_digit(digit)
        return raw_png or digit_png, digit_png, " ".join(notes) or None
