"""Words, numbers and times as every page and the CLI write them: "1 epoch", "99.47%", "2026-12-01 07:45 UTC"."""

from __future__ import annotations

import math
from datetime import UTC, datetime


def plural(n: int, noun: str, many: str | None = None) -> str:
    """`1 epoch`, `2 epochs`, `1,800 images`; `many` for nouns that do not just take an s ("batch" -> "batches")."""
    word = noun if n == 1 else (many or noun + "s")
    return f"{n:,} {word}"


def a_digit(digit: int) -> str:
    """`a 7`, `an 8`: a digit with its article, as the digit is said."""
    return f"{'an' if digit == 8 else 'a'} {digit}"


def when(iso: str | None) -> str:
    """An ISO 8601 time (the store writes UTC) as `2026-12-01 07:45 UTC`: one format on every page,
    in UTC because the server's clock zone is not the reader's. Text that is not a time comes back as it is."""
    if not iso:
        return "–"
    try:
        t = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return str(iso)
    if t.tzinfo is None:  # the store has always written UTC; an old file without an offset is UTC too
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def percent(v: float | None, places: int = 2) -> str:
    """`99.47%` (`places` decimals), or `–` for a figure that is not there or not a fraction (NaN, 1e33):
    never `nan%` or a 34-digit percentage."""
    if v is None or not math.isfinite(v) or not 0 <= v <= 1:
        return "–"
    return f"{v:.{places}%}"
