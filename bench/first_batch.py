"""Training starts at once (issue 22): seconds from the click on Train, or from the CLI command, to the first batch,
for 2,000 images x 1 epoch of the `default` architecture.

**Train page in chromium.** Each of `--runs` runs per mode, warm training worker on (DIGITREC_WARM_WORKER unset in
the server's environment) and off (set to 0) in turn, on first: a fresh temporary DIGITREC_HOME (an empty store) and
a fresh `streamlit run app.py` (chromium.Server, with DIGITREC_MNIST_DIR); Debian's chromium opens Home,
goes to **Train** through the sidebar, waits until its script has finished and `--idle` seconds more (a user sets a
run up; a warm worker gets ready meanwhile), sets *Epochs* to 1 and *Training images* to 2,000, clicks **Train** and
times, in page time (performance.now() in chromium, from the click event), the click to:
  - *live view*: the "Training…" heading (the page has rerun with the live view polling);
  - *first batch*: the first `Epoch 1/1 · batch …` progress line. The live view polls every
    digitrec_app.ui.run_views.FIRST_POLL s until then, so this is the first poll after the child's first batch;
  - *result*: the result's caption, "… in N s of training, M s from the click to the result." (N: `train`'s fit in
    the child; M: `TrainingJob.waited`, the server's clock), drawn by the poll that finds the run finished.
The worker column says what the server had at the click (chromium.idle_worker_state). The ETA column
checks the progress line's ETA (ui.run_views.time_left: the batches left): the first one shown, and how much
later the batches in fact ended (the first `validating` line's elapsed time) and the fit (validation included), all
whole seconds of the child's clock as the page writes them.

**CLI.** `python -m digitrec_cli train --epochs 1 --limit 2000` (the `digitrec` command) in `--cli-dir` with a fresh
temporary DIGITREC_HOME and PYTHONUNBUFFERED=1, stdout and stderr read line by line as they come: seconds from the
command's start to its first line (the `Training … on …` header: arguments, the store's lock, MNIST), to its first
progress line (`Epoch 1/1`, printed at the end of the first batch) and to its exit (the test set, the comparison with
the active model, the save), with its CPU seconds (a shared machine stretches wall times, not these). And the
parts, each in a fresh interpreter: `python -c pass`; `import tensorflow, keras`
(from the command's start to its exit); and, timed inside the interpreter, `import digitrec_cli.main`, `load_mnist()`
and drawing the run's generated non-digits (`digitrec_core.learning.negatives.as_mnist`, what `train` adds for the
default recipe's `negatives`).

    DIGITREC_MNIST_DIR=../shared/mnist python bench/first_batch.py [--runs 2] [--idle 15] [--only page|cli]
        [--cli-dir DIR] [--screenshot /tmp/first_batch.png]

Prints markdown tables, the medians and the command line behind them. Target: click (or command) -> first batch
<= 4 s.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from chromium import (  # noqa: E402
    arm_marks,
    command_line,
    idle_worker_state,
    launch,
    main_area,
    open_dashboard,
    require_chromium,
    script_done,
    seconds,
    server_options,
    training_server,
    wait_marks,
)
from playwright.sync_api import expect, sync_playwright  # noqa: E402

from digitrec_app.ui.run_views import FIRST_POLL, POLL  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EPOCHS, IMAGES = 1, 2000
TARGET = 4.0  # seconds from the click (or the command) to the first batch
PAGE_DEADLINE = 180_000  # ms: Home, then Train, rendered and their scripts finished
RESULT_DEADLINE = 600_000  # ms: from the click to the result (or a failure) on the page
CLI_DEADLINE = 600  # s: one CLI run or one part
MARKS = {
    "live": ("h1, h2, h3", "^Training…"),
    "progress": ("[data-testid=stProgress]", r"^Epoch \d+/\d+ · batch"),
    "result": ("[data-testid=stCaptionContainer]", r"from the click to the result\.$"),
    "failed": ("[data-testid=stAlert]", "^(Training failed|Stopped)"),
}
CAPTION = re.compile(r"(\d+) epochs? on ([\d,]+) images in (\d+) s of training, (\d+) s from the click to the result")
PROGRESS = re.compile(r"(\d+):(\d\d) elapsed(?: · ETA (\d+):(\d\d))?")


# ---- the Train page --------------------------------------------------------------------------------------

def first_eta(seen: list, fit: int) -> str:
    """The first ETA the page showed (it counts the batches), at which elapsed time, and when the batches in fact
    ended (the elapsed time on the first `validating` line) and the fit (validation included): whole seconds of
    the child's clock, as the page writes them."""
    times = [(int(m[1]) * 60 + int(m[2]), m[3] and int(m[3]) * 60 + int(m[4]), "validating" in text)
             for text in (text for _, text in seen) if (m := PROGRESS.search(text))]
    shown = next(((k, at, eta) for k, (at, eta, _) in enumerate(times, 1) if eta is not None), None)
    if shown is None:
        return "none shown"
    k, at, eta = shown
    ended = next((f"{end - at} s later" for end, _, validating in times if validating), "not seen")
    return f"{eta} s at {at} s (line {k}); batches ended {ended}, the fit {fit - at} s later"


def page_run(browser, args, warm: bool, shoot: Path | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="digitrec_first_batch_") as home:
        server = training_server(args.app_dir, args.server_arg, warm=warm, home=Path(home),
                                 env={"DIGITREC_MNIST_DIR": os.environ["DIGITREC_MNIST_DIR"]})
        page = None
        try:
            server.wait_healthy(timeout=120)
            page, errors = open_dashboard(browser, server, "Train", PAGE_DEADLINE)
            main = main_area(page)
            button = main.get_by_role("button", name="Train", exact=True)
            expect(button).to_be_enabled(timeout=PAGE_DEADLINE)
            script_done(page, timeout=PAGE_DEADLINE)
            shown = time.perf_counter() - server.started
            state = idle_worker_state(server, args.idle)
            # No Enter in these fields: Enter inside a Streamlit form submits it.
            for name, value in (("Epochs", EPOCHS), ("Training images", IMAGES)):
                field = page.get_by_role("spinbutton", name=name)
                field.fill(str(value))
                expect(field).to_have_value(str(value))
            arm_marks(page, MARKS)
            clicked = time.perf_counter()
            button.click()
            m = wait_marks(page, "at.failed !== null || at.result !== null", RESULT_DEADLINE)
            wall = time.perf_counter() - clicked
            if m["at"]["failed"] is not None:
                raise RuntimeError(f"the run did not save: {m['text']['failed']}\n{server.log_text()}")
            caption = CAPTION.search(m["text"]["result"])
            if caption is None or int(caption[1]) != EPOCHS or caption[2] != f"{round(IMAGES * 0.9):,}":
                raise RuntimeError(f"not a {EPOCHS}-epoch run on {IMAGES:,} images: {m['text']['result']!r}")
            fit, waited = int(caption[3]), int(caption[4])
            at = m["at"]
            result = {"warm": warm, "worker": state, "shown": shown, "live": at["live"], "progress": at["progress"],
                      "result": at["result"], "wall": wall, "fit": fit, "waited": waited,
                      "caption": m["text"]["result"], "lines": m["seen"]["progress"],
                      "eta": first_eta(m["seen"]["progress"], fit)}
            script_done(page, timeout=PAGE_DEADLINE)  # the whole page's rerun once the run ended
            if shoot is not None:
                main.get_by_text(CAPTION).first.scroll_into_view_if_needed()
                page.wait_for_timeout(500)
                page.screenshot(path=str(shoot))
            result["errors"] = errors
            result["tracebacks"] = server.log.read_text(errors="replace").count("Traceback (most recent call last)")
            return result
        finally:
            if page is not None:
                page.context.close()
            server.stop()
            server.log.unlink(missing_ok=True)


def page_runs(args) -> list[dict]:
    runs = []
    with sync_playwright() as p:
        browser = launch(p)
        try:
            for r in range(2 * args.runs):
                warm = r % 2 == 0
                res = page_run(browser, args, warm, args.screenshot if r == 2 * args.runs - 1 else None)
                runs.append(res)
                lines = " | ".join(f"{ms / 1000:.1f} s: {text}" for ms, text in res["lines"])
                print(f"page run {r + 1}/{2 * args.runs} (warm worker {'on' if warm else 'off'}): worker "
                      f"{res['worker']}, live view {seconds(res['live'])}, first batch {seconds(res['progress'])}, "
                      f"result {seconds(res['result'])} (wall {res['wall']:.1f} s); {res['caption']!r}; "
                      f"progress lines: {lines}; {len(res['errors'])} page errors, {res['tracebacks']} server "
                      "tracebacks", file=sys.stderr, flush=True)
                for e in res["errors"]:
                    print(f"  {e}", file=sys.stderr)
        finally:
            browser.close()
    return runs


def report_page(runs: list[dict]) -> None:
    print(f"\n### Train page, {IMAGES:,} images x {EPOCHS} epoch, `default`\n")
    print("| run | warm worker | worker at the click | click → live view | click → first batch | click → result | "
          "page says: training / from the click | first ETA, and what was in fact left | Train shown after launch |")
    print("| ---: | --- | --- | ---: | ---: | ---: | ---: | --- | ---: |")
    for k, r in enumerate(runs, 1):
        print(f"| {k} | {'on' if r['warm'] else 'off'} | {r['worker']} | {seconds(r['live'])} | "
              f"**{seconds(r['progress'])}** | {seconds(r['result'])} | {r['fit']} s / {r['waited']} s | {r['eta']} | "
              f"{r['shown']:.1f} s |")
    print()
    for warm in (True, False):
        mine = [r for r in runs if r["warm"] == warm]
        if mine:
            med = {k: statistics.median(r[k] for r in mine) for k in ("live", "progress", "result")}
            met = "met" if med["progress"] <= TARGET * 1000 else "not met"
            print(f"- warm worker {'on' if warm else 'off'} (n = {len(mine)}): click → live view "
                  f"{seconds(med['live'])}, → first batch **{seconds(med['progress'])}** (target <= {TARGET:g} s: "
                  f"{met}), → result {seconds(med['result'])}")
    print(f"\nPage time (performance.now() in chromium, from the click event). The live view polls every "
          f"{FIRST_POLL:g} s until the first batch, then every {POLL['train']:g} s: the first batch and the result "
          "show up to that long after the run reaches them.")


# ---- the CLI ---------------------------------------------------------------------------------------------

def timed_command(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, list[tuple[float, str, str]]]:
    """Run `argv`; seconds to its exit, the CPU seconds it used (user and system: on a shared machine, what it cost
    without the wait for the cores), and each line of its output as it came: (seconds, stream, text)."""
    cpu = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: list[tuple[float, str, str]] = []

    def read(stream, name: str) -> None:
        for raw in iter(stream.readline, b""):
            lines.append((time.perf_counter() - started, name, raw.decode(errors="replace").rstrip()))

    readers = [threading.Thread(target=read, args=(s, n), daemon=True)
               for s, n in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))]
    for t in readers:
        t.start()
    try:
        code = proc.wait(timeout=CLI_DEADLINE)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    took, cpu = time.perf_counter() - started, _children_cpu() - cpu
    for t in readers:
        t.join(timeout=10)
    if code != 0:
        tail = "\n".join(text for _, _, text in lines[-20:])
        raise RuntimeError(f"{' '.join(argv)} exited with {code}:\n{tail}")
    return took, cpu, sorted(lines)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cli_env(home: str) -> dict[str, str]:
    return {**os.environ, "DIGITREC_HOME": home, "PYTHONUNBUFFERED": "1"}


def cli_run(cli_dir: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="digitrec_first_batch_cli_") as home:
        argv = [sys.executable, "-m", "digitrec_cli", "train", "--epochs", str(EPOCHS), "--limit", str(IMAGES)]
        took, cpu, lines = timed_command(argv, cli_dir, cli_env(home))
    first = next((t for t, _, text in lines if text.startswith("Training ")), None)
    batch = next((t for t, _, text in lines if re.match(r"Epoch \d+/\d+$", text)), None)
    trained = next((text for _, _, text in lines if text.startswith("Trained ")), "")
    if first is None or batch is None:
        raise RuntimeError("no `Training …` header or `Epoch 1/1` line in:\n" + "\n".join(t for _, _, t in lines))
    return {"header": first, "batch": batch, "exit": took, "cpu": cpu, "trained": trained}


# Each part in a fresh interpreter: whole commands from their start to their exit ...
COMMANDS = {
    "`python -c pass` (start to exit)": "pass",
    "`python -c 'import tensorflow, keras'` (start to exit)": "import tensorflow, keras",
}
# ... and code timed inside the interpreter, its own start not counted.
PARTS = {
    "`import digitrec_cli.main`": "import digitrec_cli.main",
    "`load_mnist()`": "from digitrec_core.data import load_mnist; load_mnist()",
    "the run's non-digits (`as_mnist`)": (
        "from digitrec_core.models import get_architecture; "
        "from digitrec_core.learning.negatives import KINDS, as_mnist; "
        f"as_mnist(round(get_architecture('default').recipe.negatives * {round(IMAGES * 0.9)} / len(KINDS)), "
        "split='train', seed=0)"
    ),
}


def part_seconds(code: str, cli_dir: Path) -> tuple[float, float]:
    """`code`'s seconds and CPU seconds inside a fresh interpreter (the interpreter's start not counted)."""
    with tempfile.TemporaryDirectory(prefix="digitrec_first_batch_part_") as home:
        argv = [sys.executable, "-c", "import time; t, c = time.perf_counter(), time.process_time(); " + code
                + "; print('took', time.perf_counter() - t, time.process_time() - c)"]
        _, _, lines = timed_command(argv, cli_dir, cli_env(home))
    _, wall, cpu = next(text for _, _, text in lines if text.startswith("took ")).split()
    return float(wall), float(cpu)


def cli_runs(args) -> tuple[list[dict], dict[str, list[tuple[float, float]]]]:
    """The CLI's runs, and each part's (seconds, CPU seconds) per run."""
    runs, parts = [], {name: [] for name in (*COMMANDS, *PARTS)}
    for r in range(args.runs):
        res = cli_run(args.cli_dir)
        runs.append(res)
        print(f"cli run {r + 1}/{args.runs}: header {res['header']:.1f} s, first batch {res['batch']:.1f} s, exit "
              f"{res['exit']:.1f} s ({res['cpu']:.1f} CPU s); {res['trained']!r}", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="digitrec_first_batch_part_") as home:
            for name, code in COMMANDS.items():
                parts[name].append(timed_command([sys.executable, "-c", code], args.cli_dir, cli_env(home))[:2])
        for name, code in PARTS.items():
            parts[name].append(part_seconds(code, args.cli_dir))
    return runs, parts


def report_cli(runs: list[dict], parts: dict[str, list[tuple[float, float]]], cli_dir: Path) -> None:
    print(f"\n### CLI: `digitrec train --epochs {EPOCHS} --limit {IMAGES}` (`python -m digitrec_cli`, in {cli_dir})\n")
    print("| run | start → header | start → first batch (`Epoch 1/1`) | start → exit | CPU s to the exit | trained |")
    print("| ---: | ---: | ---: | ---: | ---: | --- |")
    for k, r in enumerate(runs, 1):
        print(f"| {k} | {r['header']:.1f} s | **{r['batch']:.1f} s** | {r['exit']:.1f} s | {r['cpu']:.1f} s | "
              f"{r['trained']} |")
    med = {k: statistics.median(r[k] for r in runs) for k in ("header", "batch", "exit")}
    met = "met" if med["batch"] <= TARGET else "not met"
    print(f"\n- median (n = {len(runs)}): header {med['header']:.1f} s, first batch **{med['batch']:.1f} s** "
          f"(target <= {TARGET:g} s: {met}), exit {med['exit']:.1f} s")
    print("\n| part, each in a fresh interpreter | seconds, each run | median | median CPU s |")
    print("| --- | --- | ---: | ---: |")
    for name, values in parts.items():
        walls, cpus = zip(*values)
        print(f"| {name} | {', '.join(f'{v:.2f}' for v in walls)} | {statistics.median(walls):.2f} s | "
              f"{statistics.median(cpus):.2f} s |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=2, help="runs per mode: warm worker on, off; and CLI runs (default 2)")
    ap.add_argument("--idle", type=float, default=15, help="seconds on the idle Train page before the click "
                    "(default 15)")
    ap.add_argument("--only", choices=("page", "cli"), default=None, help="time only the Train page or the CLI")
    ap.add_argument("--cli-dir", type=Path, default=ROOT, help="the checkout whose CLI to time (default: this one)")
    ap.add_argument("--screenshot", type=Path, default=None, help="a PNG of the last page run's result")
    server_options(ap, ROOT)
    args = ap.parse_args()
    if not os.environ.get("DIGITREC_MNIST_DIR"):
        raise SystemExit("needs DIGITREC_MNIST_DIR (training reads MNIST)")
    if args.only != "cli":
        require_chromium()
    load = os.getloadavg()[0]
    page = page_runs(args) if args.only != "cli" else []
    cli = cli_runs(args) if args.only != "page" else None
    print(f"\nLoad average (1 min) on this machine's {os.cpu_count()} cores: {load:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end (other work shares the cores: wall times stretch with it).")
    if page:
        report_page(page)
    if cli:
        report_cli(*cli, args.cli_dir)
    print("\n" + command_line("bench/first_batch.py", args.server_arg))


if __name__ == "__main__":
    main()
