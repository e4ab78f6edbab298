"""Benchmarks: each prints its figures and the command behind them. Most run as scripts (`python bench/X.py`,
importing their siblings by name); the two that reuse the tests' helpers run as modules from the repository root
(`python -m bench.explain`, `python -m bench.fuzz_store`), which puts the root, and so `tests.support`, on the path.
This file makes `bench` a package of its own, which tests import (`from bench import fuzz_inputs`)."""
