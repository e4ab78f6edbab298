"""`digitrec models`, `activate`, `export` and `digits`: the model store and your digits, listed, switched and
carried in and out."""

from __future__ import annotations

import argparse
import sys
import time

from digitrec_cli.classify import load
from digitrec_cli.terminal import warn
from digitrec_core.optional import require_tensorflow
from digitrec_core.serving.exports import DIGITS_ZIP, FORMATS, check_target
from digitrec_core.store import ModelInfo, open_store, shipped_info
from digitrec_core.text import plural


def cmd_models(args: argparse.Namespace) -> int:
    store = open_store()
    active = store.active_info()
    rows = store.list()
    if (shipped := shipped_info()) is not None:
        rows.append(shipped)  # always there to go back to
    if not rows:
        print(f"No models in {store.root}, and no pretrained model. Train one: digitrec train")
        warn(store)
        return 0
    # The name is what `activate`, `export` and `--model` take; the label is how a person tells the runs apart
    # (what it is, its test accuracy, when it was made, in UTC).
    labels = ModelInfo.labels(rows)
    name_width, label_width = max(len(i.name) for i in rows), max(map(len, labels.values()))
    print(f"{'':2}{'name':{name_width}}  {'label':{label_width}}  {'params':>8} {'epochs':>6} {'images':>7} "
          f"{'seconds':>8}")
    for i in rows:
        mark = "* " if active and i.name == active.name else "  "
        print(f"{mark}{i.name:{name_width}}  {labels[i.name]:{label_width}}  {i.params:>8,} {i.epochs_run:>6} "
              f"{i.n_train:>7,} {i.train_seconds:>8.1f}")
    print("* active")
    warn(store)
    return 0


def cmd_activate(args: argparse.Namespace) -> int:
    open_store().activate(args.name)
    print(f"{args.name} is now the active model.")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    fmt = FORMATS[args.format]
    out = check_target(args.out, fmt, force=args.force)  # a bad --out is said before any work
    store = open_store()
    if args.name is not None:
        store.info(args.name)  # an unknown name, too
    require_tensorflow("Exporting")
    loaded = load(args.name, runtime="keras")
    from digitrec_core.serving.exports import export_model

    started = time.perf_counter()
    try:
        export_model(loaded.model, fmt.name, out, force=args.force)
    except OSError as e:  # a full disk, a folder that went away: what was at --out is untouched
        print(f"Error: writing {out} failed ({e}); nothing was replaced.", file=sys.stderr)
        return 2
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) if out.is_dir() else out.stat().st_size
    print(f"Exported {loaded.info.name} as {fmt.label} to {out} ({size / 1e6:.1f} MB, "
          f"{time.perf_counter() - started:.1f} s).")
    return 0


def cmd_digits(args: argparse.Namespace) -> int:
    """Your digits (the My digits page's set) to or from a zip: the page's uploader takes zips up to the
    server's upload limit, this takes any the import limits allow."""
    from digitrec_core.personal import PersonalDigits, PersonalDigitsError

    if args.action == "export":  # never over a file that is not an earlier export, unless --force
        check_target(args.zip, DIGITS_ZIP, force=args.force)
    personal = PersonalDigits(open_store().root)
    try:
        if args.action == "export":
            n = personal.export_zip(args.zip)
            print(f"Exported {plural(n, 'digit')} to {args.zip}.")
        else:
            n = personal.import_zip(args.zip)
            report = personal.last_import
            print(f"Imported {plural(n, 'digit')} from {args.zip}; {plural(report.already_present, 'was', 'were')} "
                  "already in your set.")
            for problem in report.problems:
                print(f"Warning: {problem}", file=sys.stderr)
    except (PersonalDigitsError, OSError) as e:
        print(f"Error: {e}" if args.zip in str(e) else f"Error: {args.zip}: {e}", file=sys.stderr)
        return 2
    for problem in personal.problems:
        print(f"Warning: {problem}", file=sys.stderr)
    return 0
