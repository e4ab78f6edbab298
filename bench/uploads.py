"""What a big upload costs the server: peak memory and time of `read_image` + `canvas_to_mnist`.

Uploads are capped at 10 MB, but a PNG of a few hundred KB can hold 10 Mpx (40 MB as RGBA; preprocess's
MAX_PNG_PIXELS, a PNG being decoded whole), and a phone's JPEG 24 Mpx (MAX_PIXELS: decoded at 1/8 scale).
For each image below, a fresh interpreter reads it once and reports its peak RSS above what it held before
(ru_maxrss) and the time taken, two ways in the same run:
- **whole**: decode the whole image, then canvas_to_mnist (which averages it down to 600 px itself);
- **read_image**: DigitRec's path (a JPEG decoded by libjpeg at 1/2-1/8 scale, other images averaged
  down right after decoding, big decodes one at a time).
Then four uploads of the biggest PNG at once on four threads, read_image's way (the decodes queue).

    python bench/uploads.py [--runs 3]

Medians over `--runs`; prints a markdown table and the command line.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

IMAGES = {  # name: (width, height, mode, format)
    "PNG 3162x3162 RGBA (10 Mpx, the PNG limit)": (3162, 3162, "RGBA", "PNG"),
    "PNG 3162x3162 RGB": (3162, 3162, "RGB", "PNG"),
    "JPEG 6000x4000 (24 Mpx photo)": (6000, 4000, "RGB", "JPEG"),
}

CHILD = """
import resource, sys, threading, time
import numpy as np
from PIL import Image, ImageOps
from digitrec_core.preprocess import canvas_to_mnist, read_image
path, way, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def whole():
    with Image.open(path) as im:
        a = np.asarray(ImageOps.exif_transpose(im).convert("RGBA" if im.mode == "RGBA" else "RGB"))
    return canvas_to_mnist(a)
read = whole if way == "whole" else (lambda: canvas_to_mnist(read_image(path)))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
threads = [threading.Thread(target=read) for _ in range(n)]
for th in threads: th.start()
for th in threads: th.join()
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024, time.perf_counter() - t)
"""


def make(path: Path, width: int, height: int, mode: str, fmt: str) -> int:
    im = Image.new(mode, (width, height), "white")
    ImageDraw.Draw(im).line([(width // 2, height // 5), (width // 2, 4 * height // 5)], fill="black", width=width // 30)
    buf = io.BytesIO()
    im.save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    path.write_bytes(buf.getvalue())
    return len(buf.getvalue())


def measure(path: Path, way: str, n: int, runs: int) -> tuple[float, float]:
    out = [subprocess.run([sys.executable, "-c", CHILD, str(path), way, str(n)], capture_output=True, text=True,
                          check=True).stdout.split() for _ in range(runs)]
    return statistics.median(float(mb) for mb, _ in out), statistics.median(float(s) for _, s in out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    print("| upload (file size) | whole image: peak, time | read_image: peak, time | peak ratio |")
    print("| --- | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name, (w, h, mode, fmt) in IMAGES.items():
            paths[name] = path = Path(tmp) / f"{len(paths)}.{fmt.lower()}"
            size = make(path, w, h, mode, fmt)
            (wm, ws), (rm, rs) = measure(path, "whole", 1, args.runs), measure(path, "read", 1, args.runs)
            print(f"| {name} ({size / 1024:.0f} KB) | +{wm:.0f} MB, {ws * 1000:.0f} ms | **+{rm:.0f} MB**, "
                  f"{rs * 1000:.0f} ms | {wm / max(rm, 1):.1f}x |")
        name = next(iter(IMAGES))
        (wm, ws), (rm, rs) = measure(paths[name], "whole", 4, args.runs), measure(paths[name], "read", 4, args.runs)
        print(f"| 4 at once: {name} | +{wm:.0f} MB, {ws * 1000:.0f} ms | **+{rm:.0f} MB**, {rs * 1000:.0f} ms "
              f"| {wm / max(rm, 1):.1f}x |")
    print(f"\n`python bench/uploads.py --runs {args.runs}` (medians of {args.runs} fresh interpreters each)")


if __name__ == "__main__":
    main()
