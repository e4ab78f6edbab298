"""What a crafted image costs the server, through every way an image comes in: time and peak memory.

Each file below goes through each path the core has: `read_image` (an upload, `digitrec predict --image`),
`read_drawing` (the canvas's drawing) and `PersonalDigits.import_zip` (a one-row zip naming it as the raw
image; `read_drawing`'s gate). Each case runs in a fresh interpreter, which reports the time taken and its
peak RSS above what it held before (VmHWM, reset first: Linux), the file's bytes already in memory; medians of
`--runs`. The "before" column runs `read_image` as it was at `--before` (default HEAD, via `git show`),
with a `--timeout`.
Then the wait an ordinary 4 Mpx photo suffers while another thread decodes a costly file (the issue's 9.6 s).

    python bench/hostile_images.py [--runs 3] [--before HEAD] [--timeout 20]

Prints a markdown table and the command line. The files are bench/fuzz_inputs.py's hostile ones.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import fuzz_inputs as f
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _jpeg(w: int, h: int, noise: int, **options) -> bytes:
    """A photo-like JPEG: a gradient with noise (the more noise, the more bytes)."""
    y, x = np.mgrid[0:h, 0:w]
    base = ((x * 255 // w + y * 255 // h) // 2).astype(np.int16)[..., None]
    pixels = base + np.random.default_rng(0).integers(-noise, noise + 1, (h, w, 3), dtype=np.int16)
    buf = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buf, "JPEG", **options)
    return buf.getvalue()


CASES = {  # name: a function making the file
    "progressive JPEG 1200x1200, one scan 23,000 times": lambda: f.jpeg_scans(1200, 23_000),
    "progressive JPEG 4800x4800, one scan 20,000 times": lambda: f.jpeg_scans(4800, 20_000, "RGB"),
    "JPEG of 2.5 million empty comments": lambda: f.jpeg_segments(2_500_000),
    "JPEG with 10 MB of junk between segments": lambda: f.jpeg_junk(10_000_000),
    "JPEG claiming 65535x65535": lambda: f._jpeg_with_size(f._encode(np.zeros((8, 8), np.uint8), "JPEG"), 65535, 65535),
    "PNG of 800,000 empty chunks": lambda: f.png_rows(64, 64, extra=(f.png_chunk(b"abCd", b""),) * 800_000),
    "PNG 3000x3000 in 1-byte chunks": lambda: f.png_rows(3000, 3000, chunk=1),
    "PNG of 40 zTXt chunks of 1 MB each": lambda: f.png_texts(40),
    "PNG 5000x5000 RGBA (bomb)": lambda: f.png_rows(5000, 5000),
    "PNG 5000x5000 16-bit RGBA, interlaced": lambda: f.png_rows(5000, 5000, 6, 16, 1),
    "PNG 65535x65535 grey (bomb)": lambda: f._png_with_size(f.png_rows(64, 64, 0), 65535, 65535),
    "PNG 3162x3162 16-bit RGBA, interlaced (the PNG limit)": lambda: f.png_rows(3162, 3162, 6, 16, 1),
    "PNG 3162x3162 palette": lambda: f.png_rows(3162, 3162, 3),
    "PNG 3162x3162 16-bit grey": lambda: f.png_rows(3162, 3162, 0, 16),
    "a BMP renamed .png": lambda: f._encode(np.zeros((2000, 2000, 3), np.uint8), "BMP"),
    "ordinary: baseline JPEG 5000x5000, 10 MB": lambda: _jpeg(5000, 5000, 30, quality=88),
    "ordinary: progressive JPEG 5000x5000 (4:2:0, 10 scans)": lambda: _jpeg(5000, 5000, 12, quality=90,
                                                                              progressive=True),
}
PHOTO = "ordinary 4 Mpx photo (baseline JPEG 2448x1632)"

CHILD = """
import importlib.util, sys, threading, time, zipfile, io, tempfile
path, way, module = sys.argv[1], sys.argv[2], sys.argv[3]
if module == "now":
    from digitrec_core import preprocess
else:
    spec = importlib.util.spec_from_file_location("before", module)
    preprocess = importlib.util.module_from_spec(spec); spec.loader.exec_module(preprocess)
from digitrec_core.personal import COLUMNS, PersonalDigits
data = open(path, "rb").read()
if way == "read_image":
    run = lambda: preprocess.read_image(data)
elif way == "read_drawing":
    run = lambda: preprocess.read_drawing(data)
elif way == "import_zip":
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.csv", ",".join(COLUMNS) + "\\n20260101-000000-000-abcd,3,,,,,x.png,\\n")
        zf.writestr("x.png", data)
    store = PersonalDigits(tempfile.mkdtemp())
    run = lambda: store.import_zip(buf.getvalue()) or (_ for _ in ()).throw(ValueError(store.last_import.problems))
else:  # wait: the photo (sys.argv[4]), read while another thread reads the file
    photo = open(sys.argv[4], "rb").read()
    preprocess.read_image(photo)
    def costly():
        try: preprocess.read_image(data)
        except Exception: pass
    t = threading.Thread(target=costly); t.start(); time.sleep(0.02)
    start = time.perf_counter(); preprocess.read_image(photo); took = time.perf_counter() - start
    t.join(); print(0, took, "read"); sys.exit()
def status(key):  # kB
    return int(next(line for line in open("/proc/self/status") if line.startswith(key)).split()[1])
open("/proc/self/clear_refs", "w").write("5")  # the peak so far (imports) forgotten: VmHWM restarts from here
base = status("VmRSS:")
start = time.perf_counter()
try:
    run(); outcome = "read"
except Exception as e:
    outcome = "refused"
took = time.perf_counter() - start
print((status("VmHWM:") - base) / 1024, took, outcome)
"""


def measure(path: Path, way: str, module: str, runs: int, timeout: float, *extra: str) -> str:
    out = []
    for _ in range(runs):
        try:
            done = subprocess.run([sys.executable, "-c", CHILD, str(path), way, module, *extra], capture_output=True,
                                  text=True, timeout=timeout, cwd=ROOT, check=True)
        except subprocess.TimeoutExpired:
            return f"> {timeout:.0f} s"
        out.append(done.stdout.split())
    mb, s = statistics.median(float(o[0]) for o in out), statistics.median(float(o[1]) for o in out)
    return f"{out[0][2]}, {s:.2f} s, {mb:.0f} MB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--before", default="HEAD", help="the git revision whose read_image is the 'before' column")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds before a 'before' run is stopped")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "preprocess_before.py"
        before.write_text(subprocess.run(["git", "show", f"{args.before}:digitrec_core/preprocess.py"], cwd=ROOT,
                                         capture_output=True, text=True, check=True).stdout)
        print("| file (size) | read_image (upload, CLI) | read_drawing (canvas) | import_zip (zip) "
              f"| read_image at {args.before} |")
        print("| --- | --- | --- | --- | --- |")
        paths = {}
        for i, (name, make) in enumerate(CASES.items()):
            paths[name] = path = Path(tmp) / f"{i}.img"
            path.write_bytes(make())
            cells = [measure(path, way, "now", args.runs, 60) for way in ("read_image", "read_drawing", "import_zip")]
            cells.append(measure(path, "read_image", str(before), args.runs, args.timeout))
            print(f"| {name} ({path.stat().st_size / 1e6:.2f} MB) | " + " | ".join(cells) + " |", flush=True)
        photo = Path(tmp) / "photo.jpg"
        photo.write_bytes(_jpeg(2448, 1632, 12, quality=90))
        print(f"\n| {PHOTO}, read while another thread reads ... | now | at {args.before} |")
        print("| --- | --- | --- |")
        for name in ("progressive JPEG 1200x1200, one scan 23,000 times", "PNG 5000x5000 RGBA (bomb)",
                     "PNG 3162x3162 16-bit RGBA, interlaced (the PNG limit)",
                     "ordinary: progressive JPEG 5000x5000 (4:2:0, 10 scans)"):
            now = measure(paths[name], "wait", "now", args.runs, 60, str(photo))
            old = measure(paths[name], "wait", str(before), args.runs, args.timeout * 3, str(photo))
            print(f"| {name} | {now.split(', ')[1]} | {old.split(', ')[1] if ',' in old else old} |", flush=True)
    print(f"\n`python bench/hostile_images.py --runs {args.runs} --before {args.before} --timeout {args.timeout:g}`")


if __name__ == "__main__":
    main()
