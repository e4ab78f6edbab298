"""What the tests share, one concept a module: import it as `tests.support.<module>`, never from a test file.

Under pytest the repository root is on the import path (pyproject.toml's `pythonpath`). A script a test starts
with `python -c` from the root imports these too; the serve-only script gets them through PYTHONPATH
(test_serve_only.py says how); the benchmarks that reuse them run as modules from the repository root
(`python -m bench.explain`).
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
