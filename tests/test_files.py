"""digitrec_core.files: atomic writes (a reader sees the old file or the new, never half; a failure leaves no
temporary) and capped reads."""

import errno
import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from digitrec_core import files
from digitrec_core.files import atomic_file, is_number, read_capped, replace_dir, replace_file, write_atomic


def test_write_atomic_writes_bytes_and_text_and_leaves_nothing_else(tmp_path):
    path = tmp_path / "a.json"
    write_atomic(path, b"old")
    write_atomic(path, "néw")
    assert path.read_bytes() == "néw".encode() and list(tmp_path.iterdir()) == [path]


def test_a_file_gets_the_mode_open_gives_it_unless_asked(tmp_path):
    umask = os.umask(0o022)
    try:
        write_atomic(tmp_path / "shared", b"x")
        with atomic_file(tmp_path / "private", mode=0o600) as f:
            f.write(b"x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o600


def test_a_kill_in_the_middle_of_a_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "active.json"
    path.write_bytes(b'{"name": "old"}')
    killed = subprocess.run(
        [sys.executable, "-c", "import os, signal, sys\nfrom digitrec_core.files import atomic_file\n"
         "with atomic_file(sys.argv[1]) as f:\n    f.write(b'{\"na')\n    f.flush()\n"
         "    os.kill(os.getpid(), signal.SIGKILL)\n", str(path)],
        cwd=Path(__file__).resolve().parents[1], timeout=60)
    assert killed.returncode == -9
    assert path.read_bytes() == b'{"name": "old"}'
    (left,) = [p for p in tmp_path.iterdir() if p != path]  # what the store's clean-up removes later
    assert left.name.startswith(".active.json.") and left.name.endswith(".tmp")


class _FullDisk(io.FileIO):
    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "meta.json"
    path.write_bytes(b"old")
    monkeypatch.setattr(files.os, "fdopen", lambda fd, mode: _FullDisk(fd, "wb"))
    with pytest.raises(OSError) as failed:
        write_atomic(path, b"new" * 100_000)
    assert failed.value.errno == errno.ENOSPC and failed.value.filename == str(path)  # names the file, not its tmp
    assert path.read_bytes() == b"old" and list(tmp_path.iterdir()) == [path]


def test_an_atomic_write_that_fails_names_the_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError) as failed:
        write_atomic(tmp_path / "active.json", b"{}")
    assert failed.value.errno == errno.ENOSPC and failed.value.filename == str(tmp_path / "active.json")
    assert list(tmp_path.iterdir()) == []


def test_an_error_in_the_block_leaves_the_old_file(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_file(path) as f:
        f.write(b"half")
        raise KeyboardInterrupt
    assert path.read_bytes() == b"old" and list(tmp_path.iterdir()) == [path]


def test_replace_file_gives_the_writer_the_suffix_and_cleans_up_on_failure(tmp_path):
    path = tmp_path / "model.onnx"
    seen = []
    replace_file(path, lambda tmp: seen.append(tmp.suffix) or tmp.write_bytes(b"new"))
    assert seen == [".onnx"] and path.read_bytes() == b"new"

    def fails(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        replace_file(path, fails)
    assert path.read_bytes() == b"new" and list(tmp_path.iterdir()) == [path]


def test_replace_dir_keeps_the_old_folder_when_filling_fails(tmp_path):
    folder = tmp_path / "out"
    replace_dir(folder, lambda tmp: (tmp / "a").write_text("1"))
    replace_dir(folder, lambda tmp: (tmp / "b").write_text("2"))
    assert [p.name for p in folder.iterdir()] == ["b"]

    def fails(tmp: Path) -> None:
        (tmp / "c").write_text("3")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        replace_dir(folder, fails)
    assert [p.name for p in folder.iterdir()] == ["b"] and list(tmp_path.iterdir()) == [folder]


def test_read_capped_refuses_more_than_the_cap(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    assert read_capped(path, 10) == b"x" * 10
    with pytest.raises(ValueError, match="larger than 9 bytes"):
        read_capped(path, 9)


def test_is_number_takes_figures_not_booleans():
    assert is_number(1) and is_number(0.5) and is_number(float("nan"))
    assert not is_number(True) and not is_number("1") and not is_number(None)
