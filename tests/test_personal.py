"""The personal digit set: what is stored, that it survives crashes and damage, and the zip exchange.

No real data: digits are pen strokes drawn with Pillow on a 280x280 canvas, as the Draw page gets them.
"""

import csv
import dataclasses
import functools
import io
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitrec_core import personal
from digitrec_core.personal import ID_RE, PersonalDigits, PersonalDigitsError, Sample, codec, exchange
from digitrec_core.preprocess import SIZE, canvas_to_mnist
from tests.support.corrupt import mutate
from tests.support.drawings import canvas
from tests.support.personal import fill

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1 / 65535  # what the 16-bit digit PNG promises


def ids_on_disk(folder: Path) -> set[str]:
    return {p.name.split(".")[0] for p in folder.iterdir()}


@pytest.fixture
def pd(tmp_path) -> PersonalDigits:
    return PersonalDigits(tmp_path / "home")


# -- adding, listing, changing -----------------------------------------------------------------


def test_add_list_relabel_remove(pd, store_home):
    assert len(pd) == 0 and pd.samples() == [] and pd.problems == []
    x, y = pd.arrays()
    assert x.shape == (0, 28, 28) and x.dtype == np.float32 and y.shape == (0,) and y.dtype == np.int64

    first = pd.add(canvas(1), 4, predicted=9, probability=0.61, model="default-x")
    second = pd.add(canvas(2), np.int64(7))
    third = pd.add(canvas(3), 0, predicted=np.int32(0), probability=np.float32(0.5))
    assert all(ID_RE.fullmatch(i) for i in (first, second, third)) and len({first, second, third}) == 3
    assert len(pd) == 3 and [s.id for s in pd.samples()] == [first, second, third]  # oldest first

    s = pd.samples()[0]
    assert s == Sample(first, 4, 9, 0.61, "default-x", s.created_at)
    assert datetime.fromisoformat(s.created_at).utcoffset().total_seconds() == 0 and len(s.created_at) == 25
    assert pd.samples()[1].predicted is None and pd.samples()[1].model is None

    x, y, ids = pd.arrays(with_ids=True)
    assert x.shape == (3, 28, 28) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert y.tolist() == [4, 7, 0] and y.dtype == np.int64 and ids == [first, second, third]
    np.testing.assert_array_equal(x[1], pd.digit(second))
    paired = pd.with_digits()  # one read: each sample with its digit, in the same order
    assert [sample for sample, _ in paired] == pd.samples()
    np.testing.assert_array_equal(np.stack([digit for _, digit in paired]), x)

    before = pd.samples()[1]
    pd.relabel(second, 1)
    assert [s.label for s in pd.samples()] == [4, 1, 0]
    assert pd.samples()[1] == dataclasses.replace(before, label=1)  # only the label changed
    pd.remove(first)
    assert [s.id for s in pd.samples()] == [second, third] and pd.arrays()[1].tolist() == [1, 0]
    assert ids_on_disk(pd.folder) == {second, third}

    other = PersonalDigits(pd.root)  # a second tab on the same folder sees the same set
    assert other.samples() == pd.samples()
    for call in (pd.remove, pd.digit, pd.raw, lambda i: pd.relabel(i, 3)):
        for bad in (first, "../../etc/passwd", "nope", 42):
            with pytest.raises(PersonalDigitsError, match="^There is no personal sample"):
                call(bad)
    assert issubclass(PersonalDigitsError, ValueError)
    assert PersonalDigits().folder == store_home / "personal"  # the default root is DIGITREC_HOME


def test_the_28x28_and_the_raw_image_round_trip(pd):
    drawing = canvas(5)
    sample_id = pd.add(drawing, 2)
    seen = canvas_to_mnist(drawing)
    assert np.abs(pd.digit(sample_id) - seen).max() <= TOLERANCE
    assert pd.digit(sample_id).dtype == np.float32
    np.testing.assert_array_equal(pd.raw(sample_id), drawing)  # lossless PNG, RGBA kept
    with Image.open(pd.folder / f"{sample_id}.28.png") as im:
        assert im.mode == "I;16" and im.size == (28, 28)

    digit = np.random.default_rng(0).random((28, 28)).astype(np.float32)  # already a 28x28: stored as is
    as_is = pd.add(digit, 3)
    assert np.abs(pd.digit(as_is) - digit).max() <= TOLERANCE
    assert np.abs(pd.arrays()[0][1] - digit).max() <= TOLERANCE
    assert np.abs(pd.raw(as_is) / 255 - digit).max() <= 1 / 255


@pytest.mark.parametrize(
    "image",
    [
        canvas(7, rgba=False),  # grey uint8
        255 - np.repeat(canvas(8, rgba=False)[..., None], 3, axis=2),  # dark ink on white paper, RGB
        canvas(9, rgba=False) > 128,  # bool
        canvas(10, rgba=False).astype(np.float64) / 255,  # float photo
        canvas(11, rgba=False).astype(np.uint16) * 257,  # 16-bit
        canvas(12, size=1500, pen=60, rgba=False),  # a photo: stored shrunk, same digit
    ],
)
def test_every_kind_of_image_is_stored_with_the_digit_it_gives(pd, image):
    sample_id = pd.add(image, 5)
    # canvas_to_mnist reads a bool array's True as 1 of 255 (too faint: blank); add() stores it as 255
    expected = canvas_to_mnist(image.astype(np.uint8) * 255 if image.dtype == bool else image)
    assert np.abs(pd.digit(sample_id) - expected).max() <= TOLERANCE
    raw = pd.raw(sample_id)
    assert max(raw.shape[:2]) <= personal.RAW_SIDE
    again = canvas_to_mnist(raw)
    if image.dtype in (np.uint8, bool) and max(image.shape) <= personal.RAW_SIDE:  # kept as given: the same digit
        assert np.abs(again - expected).max() <= TOLERANCE
    else:  # averaged down (the photo) or made 8-bit: still plainly the same digit
        assert np.corrcoef(again.ravel(), expected.ravel())[0, 1] > 0.9


def blank_canvas() -> np.ndarray:
    c = np.zeros((280, 280, 4), np.uint8)
    c[..., 3] = 255
    return c


@pytest.mark.parametrize("label", [10, -1, 3.0, "3", True, False, None, np.bool_(True), 1.5])
def test_a_label_outside_0_9_is_refused(pd, label):
    with pytest.raises(ValueError, match="label must be a whole number from 0 to 9"):
        pd.add(canvas(0), label)
    assert len(pd) == 0 and not pd.folder.exists()


@pytest.mark.parametrize(
    "image, message",
    [
        (blank_canvas(), "blank"),
        (np.zeros((28, 28), np.float32), "blank"),
        (np.full((280, 280), 0.5), "blank"),
        (np.array(["not", "an image"]), "numbers"),
        (np.zeros(5), "Expected an image array"),
        (np.full((28, 28), np.nan, np.float32), "NaN"),
        (np.zeros((50, 50, 6), np.uint8) + np.eye(50, dtype=np.uint8)[..., None] * 255, "channels"),
    ],
)
def test_an_image_without_a_digit_is_refused(pd, image, message):
    with pytest.raises(ValueError, match=message):
        pd.add(image, 1)
    assert len(pd) == 0


@pytest.mark.parametrize(
    "options, message",
    [
        ({"predicted": 10}, "predicted digit"),
        ({"predicted": "7"}, "predicted digit"),
        ({"probability": 1.5}, "probability"),
        ({"probability": float("nan")}, "probability"),
        ({"probability": True}, "probability"),
        ({"model": ""}, "model name"),
        ({"model": 3}, "model name"),
    ],
)
def test_bad_prediction_details_are_refused(pd, options, message):
    with pytest.raises(ValueError, match=message):
        pd.add(canvas(0), 1, **options)
    with pytest.raises(ValueError, match="label"):
        pd.relabel(pd.add(canvas(0), 1), 12)
    assert [s.label for s in pd.samples()] == [1]


# -- crashes, damage, leftovers ------------------------------------------------------------------


@pytest.mark.parametrize("dies_at", [0, 1, 2])  # the rename of the 1st, 2nd or 3rd file of the sample
def test_a_crash_in_the_middle_of_an_append_loses_nothing_else(pd, monkeypatch, dies_at):
    kept = fill(pd, 3)
    before = pd.arrays()
    real_replace = os.replace
    renames = []

    def die(src, dst):
        renames.append(dst)
        if len(renames) > dies_at:
            raise KeyboardInterrupt  # the process "dies" with this file written but not renamed
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", die)
    with pytest.raises(KeyboardInterrupt):
        pd.add(canvas(50), 8)
    monkeypatch.undo()

    after = PersonalDigits(pd.root)
    assert [s.id for s in after.samples()] == kept and after.problems == []
    np.testing.assert_array_equal(after.arrays()[0], before[0])
    assert sorted(os.listdir(pd.folder)) == sorted(f"{i}{s}" for i in kept for s in (".json", ".png", ".28.png"))
    assert after.add(canvas(52), 9) and len(after) == 4  # and the set still takes new samples


def test_a_failed_write_is_a_clear_error_and_leaves_nothing(pd, monkeypatch):
    kept = fill(pd, 1)

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(PersonalDigitsError, match="No space left on device"):
        pd.add(canvas(51), 8)
    monkeypatch.undo()
    assert [s.id for s in pd.samples()] == kept and pd.problems == [] and len(os.listdir(pd.folder)) == 3


def test_a_process_killed_while_saving_leaves_a_loadable_set(tmp_path):
    """Kill a real writer at some point of its loop: whatever it was doing, every sample it
    reported saved is there and nothing is reported damaged."""
    code = (
        "import sys, numpy as np\n"
        "from digitrec_core.personal import PersonalDigits\n"
        "pd = PersonalDigits(sys.argv[1])\n"
        "rng = np.random.default_rng(0)\n"
        "for i in range(10_000):\n"
        "    img = np.zeros((280, 280), np.uint8)\n"
        "    r, c = rng.integers(20, 180, 2)\n"
        "    img[r:r + 80, c:c + 12] = 255\n"
        "    print(pd.add(img, i % 10), flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    saved = []
    try:
        for _ in range(12):
            saved.append(proc.stdout.readline().strip())
        time.sleep(random.Random(1).uniform(0, 0.05))  # land somewhere inside a later save
    finally:
        proc.kill()
        proc.wait(30)
        proc.stdout.close()
    pd = PersonalDigits(tmp_path)
    ids = [s.id for s in pd.samples()]
    assert pd.problems == [] and set(saved) <= set(ids) and len(pd.arrays()[0]) == len(ids)

    for p in pd.folder.iterdir():  # leftovers, if the kill left any, are cleaned once they are old
        os.utime(p, (time.time() - 2 * personal.ORPHAN_AGE,) * 2)
    pd.samples()
    assert ids_on_disk(pd.folder) == set(ids) and not any(p.name.startswith(".") for p in pd.folder.iterdir())


def test_damaged_entries_are_skipped_with_a_message(pd):
    ids = fill(pd, 6)
    folder = pd.folder
    (folder / f"{ids[0]}.json").write_text("{not json")
    digit = folder / f"{ids[1]}.28.png"
    digit.write_bytes(digit.read_bytes()[:40])  # truncated
    (folder / f"{ids[2]}.png").unlink()  # missing raw image
    meta = json.loads((folder / f"{ids[3]}.json").read_text())
    (folder / f"{ids[3]}.json").write_text(json.dumps({**meta, "label": 12}))
    (folder / f"{ids[4]}.json").write_text("[" * 60_000)  # nested too deep for the parser

    assert [s.id for s in pd.samples()] == [ids[5]] and len(pd) == 1 and pd.arrays()[1].tolist() == [5]
    assert len(pd.problems) == 5
    for sample_id, words in zip(ids, ["metadata", "28x28 image", "raw image", "label", "metadata"]):
        assert any(sample_id in p and words in p and "skipped" in p for p in pd.problems), (sample_id, pd.problems)
    with pytest.raises(PersonalDigitsError, match="damaged"):
        pd.relabel(ids[0], 3)
    with pytest.raises(PersonalDigitsError, match="28x28 image"):
        pd.digit(ids[1])
    for sample_id in ids[:5]:  # a damaged sample can still be removed
        pd.remove(sample_id)
    assert pd.samples()[0].id == ids[5] and pd.problems == []


def test_leftovers_are_ignored_then_cleaned_when_old(pd):
    (kept,) = fill(pd, 1)
    orphan = "20200101-000000-000-abcd"
    for name in (f"{orphan}.png", f"{orphan}.28.png", f".{kept}.json.x1.tmp"):
        (pd.folder / name).write_bytes(b"half")
    (pd.folder / "notes.txt").write_text("mine")  # not ours: never touched
    assert [s.id for s in pd.samples()] == [kept] and pd.problems == []
    assert len(os.listdir(pd.folder)) == 7  # fresh leftovers may be a save in progress: left alone
    for name in os.listdir(pd.folder):
        os.utime(pd.folder / name, (time.time() - 2 * personal.ORPHAN_AGE,) * 2)
    assert len(pd) == 1
    assert sorted(os.listdir(pd.folder)) == sorted([f"{kept}.json", f"{kept}.png", f"{kept}.28.png", "notes.txt"])


def test_concurrent_adds_from_threads_and_tabs_all_land(tmp_path):
    tabs = [PersonalDigits(tmp_path), PersonalDigits(tmp_path)]
    seen_problems, reads = [], []
    done = threading.Event()

    def writer(k):
        return [tabs[k % 2].add(canvas(10 * k + i), i) for i in range(8)]

    def reader():  # a reader never sees a sample half-written
        other = PersonalDigits(tmp_path)
        while not done.is_set():
            reads.append(len(other.samples()))
            seen_problems.extend(other.problems)

    watcher = threading.Thread(target=reader)
    watcher.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            added = [i for ids in pool.map(writer, range(4)) for i in ids]  # re-raises a writer's error
    finally:
        done.set()
        watcher.join()
    assert seen_problems == [] and len(reads) > 1
    assert len(set(added)) == 32 and sorted(added) == [s.id for s in tabs[1].samples()]


# -- zip export and import --------------------------------------------------------------------


def test_zip_round_trip_into_a_fresh_store(pd, tmp_path):
    ids = fill(pd, 4)
    pd.add(np.random.default_rng(3).random((28, 28)).astype(np.float32), 6)
    path = tmp_path / "mine.zip"
    assert pd.export_zip(path) == 5
    with zipfile.ZipFile(path) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("index.csv").decode())))
        assert list(rows[0]) == list(personal.COLUMNS) and [r["id"] for r in rows[:4]] == ids
        assert {f"{ids[0]}.png", f"{ids[0]}.28.png"} <= set(zf.namelist())

    fresh = PersonalDigits(tmp_path / "elsewhere")
    assert fresh.import_zip(path) == 5 and fresh.last_import.problems == ()
    assert fresh.samples() == pd.samples()  # same ids, labels, predictions, models, times
    for a, b in zip(fresh.arrays(), pd.arrays()):
        np.testing.assert_array_equal(a, b)
    for sample_id in ids:
        np.testing.assert_array_equal(fresh.raw(sample_id), pd.raw(sample_id))

    assert fresh.import_zip(path) == 0 and len(fresh) == 5  # importing twice adds nothing
    assert fresh.last_import.already_present == 5

    buffer = io.BytesIO()  # a download button wants bytes, an upload gives bytes
    assert pd.export_zip(buffer) == 5
    fresh.add(canvas(99), 1)
    assert fresh.import_zip(buffer.getvalue()) == 0 and len(fresh) == 6


def rezip(source: Path, target: Path, *, drop=(), edit_index=None, extra=()):
    """Copy an exported zip, leaving out some members, editing index.csv or adding members."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for name in zin.namelist():
            if name in drop:
                continue
            data = zin.read(name)
            if name == "index.csv" and edit_index:
                data = edit_index(data.decode()).encode()
            zout.writestr(name, data)
        for name, data in extra:
            zout.writestr(name, data)
    return target


def test_a_missing_28x28_is_recomputed_from_the_raw_image(pd, tmp_path):
    ids = fill(pd, 2)
    pd.export_zip(tmp_path / "a.zip")
    zipped = rezip(tmp_path / "a.zip", tmp_path / "b.zip", drop={f"{ids[0]}.28.png"},
                   edit_index=lambda t: t.replace(f"{ids[1]}.28.png", ""))
    fresh = PersonalDigits(tmp_path / "fresh")
    assert fresh.import_zip(zipped) == 2
    for sample_id in ids:
        assert np.abs(fresh.digit(sample_id) - pd.digit(sample_id)).max() <= TOLERANCE
    assert any(ids[0] in p and "recomputed" in p for p in fresh.last_import.problems)


def test_bad_rows_are_skipped_and_reported_good_ones_added(pd, tmp_path):
    ids = fill(pd, 3)
    pd.export_zip(tmp_path / "a.zip")
    good = f"{ids[0]},3,,,,,{ids[0]}.png,{ids[0]}.28.png"
    template = f"{ids[1]},{{label}},{{predicted}},{{probability}},m,{{created}},{{raw}},{{digit}}"
    cases = {  # words the problem must contain: what the row has wrong
        "label": {"label": "12"},
        "not a number": {"label": "x"},
        "no label": {"label": ""},
        "predicted": {"predicted": "11"},
        "probability": {"probability": "2"},
        "time": {"created": "yesterday"},
        "safe name": {"raw": "../../evil.png", "digit": "/etc/passwd"},
        "not in the zip": {"digit": "gone.28.png", "raw": ""},
        "28x28": {"digit": "junk.png", "raw": ""},
        "raw image": {"digit": "", "raw": "junk.png"},
    }
    defaults = {"label": "4", "predicted": "", "probability": "", "created": "",
                "raw": f"{ids[1]}.png", "digit": f"{ids[1]}.28.png"}
    bad_rows = [template.format(**{**defaults, **case}) for case in cases.values()]
    weird_ids = [f"../{ids[2]},1,,,,,{ids[2]}.png,", f"{ids[2][:-4]}zzzz,1,,,,,{ids[2]}.png,",
                 "20261399-250000-000-abcd,1,,,,,x.png,"]
    index = ",".join(personal.COLUMNS) + "\n" + "\n".join([good, *bad_rows, *weird_ids, good]) + "\n"
    zipped = rezip(tmp_path / "a.zip", tmp_path / "b.zip", edit_index=lambda _: index,
                   extra=[("junk.png", b"\x89PNG\r\n\x1a\n not really")])
    fresh = PersonalDigits(tmp_path / "fresh")
    assert fresh.import_zip(zipped) == 1
    report = fresh.last_import
    assert report.added == 1 and report.already_present == 1  # the repeated good row
    assert len(report.problems) == len(cases) + len(weird_ids)
    for problem, words in zip(report.problems, cases):
        assert "was skipped" in problem and words in problem, (words, problem)
    assert [s.label for s in fresh.samples()] == [3] and fresh.samples()[0].created_at.startswith(ids[0][:4])
    assert fresh.problems == [] and ids_on_disk(fresh.folder) == {ids[0]}


def write_zip(path: Path, members: dict) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_files_that_are_not_an_export_are_refused(pd, tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(bytes(random.Random(0).randrange(256) for _ in range(3000)))
    cases = {
        "not a zip archive": [junk, b"", b"plain text", tmp_path],
        "does not exist": [tmp_path / "missing.zip"],
        "no index.csv": [write_zip(tmp_path / "empty.zip", {}), write_zip(tmp_path / "pics.zip", {"a.png": b"x"})],
        "lacks the columns": [write_zip(tmp_path / "cols.zip", {"index.csv": "name,digit\na,1\n"})],
        "not a readable CSV": [write_zip(tmp_path / "bin.zip", {"index.csv": b"\xff\xfe\x00bad"})],
        "safe name": [write_zip(tmp_path / "slip.zip", {"../index.csv": "id,label,raw_file\n"})],
    }
    for message, sources in cases.items():
        for source in sources:
            with pytest.raises(PersonalDigitsError, match=message):
                pd.import_zip(source)
    assert not pd.folder.exists()


def test_zip_bombs_and_absurd_sizes_are_refused(pd, tmp_path, monkeypatch):
    ids = fill(pd, 2)
    pd.export_zip(tmp_path / "a.zip")
    zeros = b"\0" * 3_000_000  # deflates to ~3 KB
    bomb = rezip(tmp_path / "a.zip", tmp_path / "bomb.zip", edit_index=lambda t: t.replace(f"{ids[0]}.png", "bomb.png"),
                 extra=[("bomb.png", zeros)])
    monkeypatch.setattr(exchange, "MAX_RAW_BYTES", 1_000_000)
    fresh = PersonalDigits(tmp_path / "fresh")
    assert fresh.import_zip(bomb) == 2  # the 28x28 stands in for the refused raw image
    assert any("bomb.png would unpack to 3,000,000 bytes" in p for p in fresh.last_import.problems)

    monkeypatch.setattr(exchange, "MAX_TOTAL_BYTES", 2_000_000)
    with pytest.raises(PersonalDigitsError, match="would unpack to"):
        PersonalDigits(tmp_path / "other").import_zip(bomb)
    monkeypatch.setattr(exchange, "MAX_MEMBERS", 3)
    with pytest.raises(PersonalDigitsError, match="the limit is 3"):
        PersonalDigits(tmp_path / "other").import_zip(bomb)


def test_rows_naming_one_image_many_times_stop_at_the_total_cap(pd, tmp_path, monkeypatch):
    """Declared sizes count a member once; ten rows naming it read it ten times: the reads are capped."""
    (sample_id,) = fill(pd, 1)
    raw = (pd.folder / f"{sample_id}.png").read_bytes()
    rows = [f"20260101-000000-00{k}-abcd,{k},,,,,same.png," for k in range(10)]
    index = ",".join(personal.COLUMNS) + "\n" + "\n".join(rows) + "\n"
    zipped = write_zip(tmp_path / "many.zip", {"index.csv": index, "same.png": raw})
    monkeypatch.setattr(exchange, "MAX_TOTAL_BYTES", len(index) + 3 * len(raw) + len(raw) // 2)
    fresh = PersonalDigits(tmp_path / "fresh")
    assert fresh.import_zip(zipped) == 3 and [s.label for s in fresh.samples()] == [0, 1, 2]
    expected = (f"Row 5 of index.csv and the rows after it were skipped: the zip unpacks to more than "
                f"{exchange.MAX_TOTAL_BYTES:,} bytes in all.")
    assert fresh.last_import.problems == (expected,)


def test_a_re_zipped_export_in_a_folder_imports(pd, tmp_path):
    ids = fill(pd, 2)
    pd.export_zip(tmp_path / "a.zip")
    with zipfile.ZipFile(tmp_path / "a.zip") as zin:
        members = {f"my digits/{n}": zin.read(n) for n in zin.namelist()}
    fresh = PersonalDigits(tmp_path / "fresh")
    assert fresh.import_zip(write_zip(tmp_path / "b.zip", members)) == 2
    assert [s.id for s in fresh.samples()] == ids


def test_export_is_atomic(pd, tmp_path, monkeypatch):
    fill(pd, 3)
    path = tmp_path / "mine.zip"
    pd.export_zip(path)
    before = path.read_bytes()
    pd.add(canvas(40), 2)
    real = zipfile.ZipFile.writestr
    calls = []

    def fail_later(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 3:
            raise OSError(5, "Input/output error")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", fail_later)
    with pytest.raises(PersonalDigitsError, match="Input/output error"):
        pd.export_zip(path)
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["home", "mine.zip"]
    with pytest.raises(PersonalDigitsError, match="Could not write"):
        pd.export_zip(tmp_path / "no such folder" / "x.zip")


# -- fuzzing: damaged stored files and damaged zips -------------------------------------------


JSON_JUNK = [None, 3, "x", [], {}, -1, 1e300, True, {"a": [1]}, "2026-13-45T99:00:00"]


def damage_metadata(path: Path, rng: random.Random) -> None:
    """Well-formed JSON with a wrong field: what a hand edit or another version might leave."""
    meta = json.loads(path.read_text())
    meta[rng.choice(["id", "label", "predicted", "probability", "model", "created_at"])] = rng.choice(JSON_JUNK)
    if rng.random() < 0.2:
        meta = rng.choice(JSON_JUNK)
    path.write_text(json.dumps(meta))


@pytest.fixture
def no_fsync(monkeypatch):
    """Durability is not what a fuzz test checks, and fsync on a busy shared disk takes ~5 ms."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)


def test_fuzz_damaged_stored_files_never_break_reading(tmp_path, no_fsync):
    template = PersonalDigits(tmp_path / "template")
    ids = fill(template, 4)
    rng = random.Random(1234)
    for trial in range(80):
        root = tmp_path / f"t{trial}"
        shutil.copytree(template.folder, root / "personal")
        pd = PersonalDigits(root)
        files = sorted((root / "personal").iterdir())
        hit = set()
        for path in rng.sample(files, rng.randint(1, 3)):
            hit.add(path.name.split(".")[0])
            if path.suffix == ".json" and rng.random() < 0.5:
                damage_metadata(path, rng)
            elif rng.random() < 0.1:
                path.unlink()
            else:
                path.write_bytes(mutate(path.read_bytes(), rng))

        samples = pd.samples()
        x, y, order = pd.arrays(with_ids=True)
        loaded = {s.id for s in samples}
        assert set(ids) - hit <= loaded and order == [s.id for s in samples] and len(pd) == len(samples)
        assert len(samples) + len(pd.problems) <= 4 and all(any(i in p for i in hit) for p in pd.problems)
        assert x.shape == (len(samples), 28, 28) and np.all((0 <= x) & (x <= 1)) and set(y.tolist()) <= set(range(10))
        for s in samples:
            assert 0 <= s.label <= 9 and isinstance(s.created_at, str)
        for sample_id in ids:
            for call in (pd.digit, pd.raw, functools.partial(pd.relabel, label=1)):
                try:
                    call(sample_id)
                except PersonalDigitsError:
                    pass
        exported = pd.export_zip(root / "out.zip")
        fresh = PersonalDigits(root / "fresh")
        assert fresh.import_zip(root / "out.zip") == exported == len(samples)  # a damaged raw image is replaced
        assert fresh.problems == [] and len(fresh) == exported
        try:  # any entry, damaged or not, can be removed; one whose JSON is gone is unknown
            pd.remove(ids[trial % 4])
        except PersonalDigitsError as e:
            assert "no personal sample" in str(e)
        assert ids[trial % 4] not in {s.id for s in pd.samples()}
        shutil.rmtree(root)


def test_fuzz_damaged_zips_only_raise_the_documented_error(tmp_path, no_fsync):
    pd = PersonalDigits(tmp_path / "home")
    fill(pd, 3)
    pd.export_zip(tmp_path / "good.zip")
    good = (tmp_path / "good.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "good.zip") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    rng = random.Random(99)
    outcomes = {"refused": 0, "imported": 0}
    for trial in range(150):
        if trial % 2:  # damage the archive's bytes
            data = mutate(good, rng)
        else:  # a valid archive with damaged contents: the index or an image
            name = rng.choice(sorted(members))
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as zf:
                for n, content in members.items():
                    zf.writestr(n, mutate(content, rng) if n == name else content)
            data = buffer.getvalue()
        fresh = PersonalDigits(tmp_path / f"f{trial}")
        try:
            added = fresh.import_zip(data)
        except PersonalDigitsError as e:
            assert str(e)
            outcomes["refused"] += 1
            continue
        outcomes["imported"] += 1
        assert 0 <= added <= 3 and len(fresh) == added and fresh.problems == []
        for s in fresh.samples():
            assert 0 <= s.label <= 9 and fresh.digit(s.id).shape == (28, 28)
        shutil.rmtree(fresh.root, ignore_errors=True)
    assert outcomes["refused"] > 10 and outcomes["imported"] > 10  # both paths were exercised


def test_digitrec_digits_exports_and_imports_a_set_from_the_command_line(pd, tmp_path, monkeypatch, capsys):
    from digitrec_cli import main as cli

    ids = fill(pd, 12)
    monkeypatch.setenv("DIGITREC_HOME", str(pd.root))
    zip_path = tmp_path / "mine.zip"
    assert cli.main(["digits", "export", str(zip_path)]) == 0
    assert "Exported 12 digits" in capsys.readouterr().out

    other = tmp_path / "other"
    monkeypatch.setenv("DIGITREC_HOME", str(other))
    assert cli.main(["digits", "import", str(zip_path)]) == 0
    assert "Imported 12 digits" in capsys.readouterr().out
    assert sorted(s.id for s in PersonalDigits(other).samples()) == sorted(ids)
    assert cli.main(["digits", "import", str(zip_path)]) == 0  # the same zip again adds nothing
    assert "Imported 0 digits from" in (out := capsys.readouterr().out) and "12 were already in your set" in out

    (tmp_path / "junk.zip").write_bytes(b"not a zip at all")
    assert cli.main(["digits", "import", str(tmp_path / "junk.zip")]) == 2
    assert "junk.zip: That file is not a zip archive" in capsys.readouterr().err
    assert cli.main(["digits", "import", str(tmp_path / "missing.zip")]) == 2
    err = capsys.readouterr().err
    assert err.count("missing.zip") == 1 and "does not exist" in err


# -- the bytes one sample can take (issue 19) -----------------------------------------------------


def noise_png(shape: tuple[int, ...], seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def sample_bytes(pd: PersonalDigits, sample_id: str) -> int:
    return sum(p.stat().st_size for p in pd.folder.glob(f"{sample_id}.*"))


LONGEST_MODEL = "\U0001f600" * personal.MAX_MODEL_NAME  # 12 bytes each in the JSON (\ud83d\ude00)


def test_no_sample_takes_more_than_max_sample_bytes_whatever_comes_in(pd, tmp_path):
    """The worst case of every way in: pure noise (which no compression shrinks) at the largest size each way
    takes, in every mode, with the longest model name: through add, add(digit=) and import_zip. The issue's
    600x600 noisy RGBA upload kept 1.17 MB."""
    rng = np.random.default_rng(0)
    details = dict(predicted=1, probability=1 / 3, model=LONGEST_MODEL)
    sizes = {}
    for side in (personal.RAW_SIDE, 600, 1500):
        for channels in (1, 2, 3, 4):
            noise = rng.integers(0, 256, (side, side, channels)[: 2 if channels == 1 else 3], dtype=np.uint8)
            if side <= 600:  # bigger noise averages down to grey: no digit there to add
                sizes[f"add {side} x{channels}"] = sample_bytes(pd, pd.add(noise, 3, **details))
            digit = rng.random((SIZE, SIZE)).astype(np.float32)
            sizes[f"add(digit=) {side} x{channels}"] = sample_bytes(pd, pd.add(noise, 3, digit=digit, **details))
    for dtype, scale in ((np.uint16, 65535), (np.float64, 1.0)):
        noise = (rng.random((600, 600)) * scale).astype(dtype)
        sizes[f"add {dtype.__name__}"] = sample_bytes(pd, pd.add(noise, 3, **details))
    sizes["add 28x28 float"] = sample_bytes(pd, pd.add(rng.random((SIZE, SIZE)).astype(np.float32), 3, **details))
    # import: raw members as big as the gate lets in (600x600 RGBA noise: 1.4 MB), a 16-bit noise 28x28
    members = {f"r{k}.png": noise_png(shape, k) for k, shape in enumerate([(600, 600, 4), (280, 280, 4), (600, 600)])}
    members["d.png"] = codec.encode_digit(rng.random((SIZE, SIZE)))
    rows = [f"20260101-000000-00{k}-abcd,{k},1,0.5,{LONGEST_MODEL},,r{k}.png,d.png" for k in range(3)]
    index = ",".join(personal.COLUMNS) + "\n" + "\n".join(rows) + "\n"
    fresh = PersonalDigits(tmp_path / "fresh")
    assert fresh.import_zip(write_zip(tmp_path / "noise.zip", {"index.csv": index, **members})) == 3
    sizes.update({f"import {s.id}": sample_bytes(fresh, s.id) for s in fresh.samples()})
    assert max(sizes.values()) <= personal.MAX_SAMPLE_BYTES, sizes
    assert max(sizes.values()) > 0.97 * personal.MAX_SAMPLE_BYTES, sizes  # the bound is the worst case, not a guess
    for store in (pd, fresh):
        for s in store.samples():
            assert max(store.raw(s.id).shape[:2]) <= personal.RAW_SIDE


def test_a_zip_naming_one_big_png_in_many_rows_stores_bounded_bytes(pd, tmp_path):
    """The issue's 14 KB zip named one 7.8 MB PNG in 200 rows and added 510 MB: each row's raw image goes
    through the gate and is stored re-encoded, never as the zip's bytes."""
    big = noise_png((600, 600, 4))
    rows = [f"20260101-000000-{k:03d}-abcd,{k % 10},,,,,big.png," for k in range(20)]
    index = ",".join(personal.COLUMNS) + "\n" + "\n".join(rows) + "\n"
    assert pd.import_zip(write_zip(tmp_path / "one.zip", {"index.csv": index, "big.png": big})) == 20
    stored = sum(p.stat().st_size for p in pd.folder.iterdir())
    assert stored <= 20 * personal.MAX_SAMPLE_BYTES < 20 * len(big) // 4
    raw = (pd.folder / f"{pd.samples()[0].id}.png").read_bytes()
    assert raw != big and Image.open(io.BytesIO(raw)).size == (personal.RAW_SIDE, personal.RAW_SIDE)
    too_big = noise_png((601, 601, 4))  # past the canvas's gate (600x600): its 28x28 is not there to stand in
    index = ",".join(personal.COLUMNS) + "\n20260101-000001-000-abcd,3,,,,,huge.png,\n"
    assert pd.import_zip(write_zip(tmp_path / "huge.zip", {"index.csv": index, "huge.png": too_big})) == 0
    assert "601x601 pixels; the limit is 360,000" in pd.last_import.problems[0]


def test_an_exported_zip_gets_the_mode_open_gives(pd, tmp_path):
    """It was written through mkstemp, so the user's zip came out 0600 whatever their umask."""
    fill(pd, 2)
    old = os.umask(0o022)
    try:
        pd.export_zip(tmp_path / "mine.zip")
    finally:
        os.umask(old)
    assert (tmp_path / "mine.zip").stat().st_mode & 0o777 == 0o644
