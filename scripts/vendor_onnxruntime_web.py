"""Refresh the onnxruntime-web files the Draw page runs, from the npm registry, at the version pinned in
`digitrec/web/ort/VERSION` (the one place it is written): `python scripts/vendor_onnxruntime_web.py`.

Only what a single-threaded WASM session needs is kept: the ES module of the WASM build, its Emscripten
loader, and the WASM itself, gzipped (14 MB -> 3.7 MB in the wheel; the page inflates it with the browser's
DecompressionStream, and Streamlit serves a .gz as is instead of compressing 14 MB for every visitor).
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

ORT = Path(__file__).resolve().parent.parent / "digitrec" / "web" / "ort"
FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs")
WASM = "ort-wasm-simd-threaded.wasm"
LICENSE = """MIT License

Copyright (c) Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def main() -> None:
    version = (ORT / "VERSION").read_text().strip()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", f"onnxruntime-web@{version}", "--silent"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        with tarfile.open(next(Path(tmp).glob("onnxruntime-web-*.tgz"))) as tar:
            tar.extractall(tmp, filter="data")
        dist = Path(tmp) / "package" / "dist"
        for name in FILES:
            shutil.copyfile(dist / name, ORT / name)
        with open(dist / WASM, "rb") as src, open(ORT / f"{WASM}.gz", "wb") as out:
            # mtime 0 and no file name: the same bytes on every refresh, so git sees no change without one
            with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=out, mtime=0) as gz:
                shutil.copyfileobj(src, gz)
    (ORT / "LICENSE").write_text(LICENSE)
    print(f"onnxruntime-web {version}: " + ", ".join(f"{p.name} {p.stat().st_size:,} B" for p in sorted(ORT.iterdir())))


if __name__ == "__main__":
    main()
