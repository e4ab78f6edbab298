"""Fuzz the model store's metadata at scale: mutated `meta.json` (and sometimes `active.json`) files
through `ModelInfo.from_json`, `ModelStore.list`, `active_info` (and every 50th case `load`), counting
the cases that raised anything but a documented ModelStoreError or handed out a record the pages
cannot show. The mutations and the checks are tests/support/fuzz_store.py's (tests/test_fuzz_store.py runs a
few hundred of them in CI); run as a module from the repository root, so that `tests.support` imports:

    python -m bench.fuzz_store [--files 10000] [--seed 0]

Prints how many files were tried, how many failed, the first failures, and the command line.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

from digitrec_core.store import META_FILE, ModelInfo, ModelStoreError
from tests.support.fuzz_store import damage, exercise, make_store, mutated_meta, valid_meta


def from_json_once(rng: random.Random, folder: Path) -> bool:
    """One mutated document straight through from_json: a ModelInfo or a ModelStoreError naming the file."""
    data = mutated_meta(valid_meta(folder.name, rng), rng)
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return True  # the store's reader refuses it before from_json (exercised through list() below)
    try:
        ModelInfo.from_json(doc, folder)
    except ModelStoreError as e:
        return f"models/{folder.name}/{META_FILE}" in str(e)
    return True


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=10_000, help="mutated metadata files to try (at least)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = random.Random(args.seed)
    tried = failed = cases = 0
    failures: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "direct" / "models" / "seed-20261201-100000-aaaa"
        while tried < args.files:
            tried += 1
            if not from_json_once(rng, folder):
                failed += 1
                failures.append(f"from_json, case {cases}: a ModelStoreError that does not name the file")
            root = Path(tmp) / f"s{cases % 8}"
            if not root.exists():
                metas = make_store(root, rng)
            else:
                metas = sorted((root / "models").glob(f"*/{META_FILE}"))
                (root / "active.json").write_text(json.dumps({"name": metas[0].parent.name}))
            before = {m: m.read_bytes() for m in metas}
            damage(root, metas, rng)
            tried += sum(m.read_bytes() != before[m] for m in metas)
            try:
                exercise(root, load=cases % 50 == 0)
            except BaseException as e:  # noqa: BLE001 - every failure is counted and shown
                failed += 1
                if len(failures) < 10:
                    failures.append(f"store, case {cases}: {type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}")
            for m in metas:  # back to valid records for the next case on this store
                m.write_text(json.dumps(valid_meta(m.parent.name, rng)))
            cases += 1
    seconds = time.perf_counter() - started
    print(f"tried {tried:,} mutated metadata files ({cases:,} stores listed and read, 1 direct from_json each), "
          f"failed {failed:,}, in {seconds:.0f} s")
    for f in failures[:10]:
        print("  " + f)
    print("command: " + " ".join([Path(sys.executable).name, "-m", "bench.fuzz_store", *sys.argv[1:]]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
