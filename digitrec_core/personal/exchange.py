"""Exchanging a personal digit set as a zip: `index.csv` plus the PNGs, and an untrusted zip read safely.

`export_zip` writes `index.csv` (id, label, predicted, probability, model, created_at, raw_file,
digit_file) and the PNGs `<id>.png`, `<id>.28.png`. `import_zip` treats the zip as untrusted: nothing is
extracted under its own name, every member is read with a per-file cap and the whole zip with a total cap
(declared sizes checked first, the bytes actually inflated counted too), every row and image is
validated, bad rows are skipped and described in the report, and an id already in the set is skipped, so
importing the same zip twice adds nothing. A row whose 28x28 PNG is missing or unusable gets it
recomputed from the raw image with `canvas_to_mnist`; a row whose raw image is unusable keeps its 28x28
as the raw image. A raw image comes in through `read_drawing`'s gate (PNG only, bounded bytes, pixels
and decoding work) and is stored re-encoded as `add` stores it, never as the zip's bytes.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, Any

import numpy as np

from digitrec_core.personal.codec import (
    MAX_DIGIT_BYTES,
    MAX_RAW_BYTES,
    PNG_SIGNATURE,
    check_not_blank,
    decode_digit,
    encode_digit,
    encode_raw,
)
from digitrec_core.personal.sample import (
    DIGIT,
    ID_RE,
    RAW,
    PersonalDigitsError,
    Sample,
    check_time,
    sample_meta,
    time_from_id,
)
from digitrec_core.preprocess import canvas_to_mnist, read_drawing

INDEX = "index.csv"
COLUMNS = ("id", "label", "predicted", "probability", "model", "created_at", "raw_file", "digit_file")
MAX_INDEX_BYTES = 8_000_000
MAX_ROWS = 20_000
MAX_MEMBERS = 3 * MAX_ROWS + 10
MAX_TOTAL_BYTES = 512_000_000  # uncompressed bytes read from one zip, all members together


@dataclass(frozen=True)
class ImportReport:
    """What the last `import_zip` did: samples added, ids already in the set, rows skipped and why."""

    added: int
    already_present: int
    problems: tuple[str, ...]


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


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
    meta = sample_meta(label, number("predicted", int), number("probability", float),
                 (row.get("model") or "").strip() or None)
    created = (row.get("created_at") or "").strip()
    meta.update(id=sample_id, created_at=check_time(created) if created else time_from_id(sample_id))
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
                digit = decode_digit(self.read(prefix + digit_name, MAX_DIGIT_BYTES))
            except ValueError as e:  # PersonalDigitsError, or the decoder's ValueError
                digit_error = f"the 28x28 image {digit_name} is unusable: {e}"
        if raw_name:
            try:
                raw_png = self.read(prefix + raw_name, MAX_RAW_BYTES)
                if not raw_png.startswith(PNG_SIGNATURE):
                    raise PersonalDigitsError("it is not a PNG.")
                raw = read_drawing(raw_png)
                raw_png = encode_raw(raw)  # stored as add stores it, never as the zip's bytes
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
        check_not_blank(digit)
        notes = []
        if digit_error:
            notes.append(f"{digit_error}; it was recomputed from the raw image.")
        if raw_error:
            notes.append(f"{raw_error}; the 28x28 image stands in for it.")
        digit_png = encode_digit(digit)
        return raw_png or digit_png, digit_png, " ".join(notes) or None


def write_zip(f: IO[bytes], entries: Iterable[tuple[Sample, np.ndarray]], read_raw: Callable[[str], bytes],
              problems: list[str]) -> int:
    """Write `entries` (each sample with its 28x28 digit) to `f` as a zip; returns how many were written.
    `read_raw(id)` gives a sample's raw PNG; one that fails (removed by another tab since the listing, say)
    is left out and said in `problems`."""
    index = io.StringIO()
    writer = csv.writer(index, lineterminator="\n")
    writer.writerow(COLUMNS)
    n = 0
    with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as zf:
        for s, digit in entries:
            raw_name, digit_name = f"{s.id}{RAW}", f"{s.id}{DIGIT}"
            try:
                raw = read_raw(s.id)
            except PersonalDigitsError as err:
                problems.append(f"Sample {s.id} was not exported: {err}")
                continue
            zf.writestr(raw_name, raw)
            zf.writestr(digit_name, encode_digit(digit))
            writer.writerow([s.id, s.label, _cell(s.predicted), _cell(s.probability), _cell(s.model),
                             s.created_at, raw_name, digit_name])
            n += 1
        zf.writestr(INDEX, index.getvalue())
    return n


def open_zip(source: str | os.PathLike | bytes | IO[bytes]) -> zipfile.ZipFile:
    """`source` (a path, bytes or a binary file) as a ZipFile; PersonalDigitsError if it is not one."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    try:
        return zipfile.ZipFile(source)
    except FileNotFoundError as e:
        raise PersonalDigitsError(f"{os.fspath(source)} does not exist.") from e
    except Exception as e:  # BadZipFile, OSError, EOFError, ValueError...: all mean "not a zip we can read"
        raise PersonalDigitsError("That file is not a zip archive that could be read.") from e


def import_rows(zf: zipfile.ZipFile, present: Callable[[str], bool],
                add: Callable[[str, bytes, bytes, dict], None]) -> ImportReport:
    """Read `zf`'s rows and images, checked, and `add(id, raw PNG, 28x28 PNG, metadata)` each new sample;
    one whose id is `present` already, or repeated in the zip, is counted and skipped."""
    reader = _ZipReader(zf)
    prefix, rows = reader.index()
    added, already, problems = 0, 0, []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        try:
            sample_id, files, meta = _parse_row(row)
            if sample_id in seen or present(sample_id):
                already += 1
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
        add(sample_id, raw_png, digit_png, meta)
        seen.add(sample_id)
        added += 1
    return ImportReport(added, already, tuple(problems))
