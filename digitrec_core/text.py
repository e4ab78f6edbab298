"""Words, numbers and times as every page and the CLI write them: "1 epoch", "an 8", "99.47%",
"2026-12-01 07:45 UTC"."""

from __future__ import annotations

import math
from datetime import UTC, datetime


def plural(n: int, noun: str, many: str | None = None) -> str:
    """`1 epoch`, `2 epochs`, `1,800 images`; `many` for nouns that do not just take an s ("batch" -> "batches")."""
    word = noun if n == 1 else (many or noun + "s")
    return f"{n:,} {word}"


def a_digit(digit: int, shown: str = "{}") -> str:
    """`a 7`, `an 8`: a digit with its article, as the digit is said; `shown` formats the digit alone
    (`a_digit(8, "**{}**")` is `an **8**` in Markdown)."""
    return f"{'an' if digit == 8 else 'a'} {shown.format(digit)}"


def when(iso: str | None) -> str:
    """An ISO 8601 time (the store writes UTC) as `2026-12-01 07:45 UTC`: one format on every page,
    in UTC because the server's clock zone is not the reader's. Text that is not a time comes back as it is."""
    if not iso:
        return "–"
    t = _utc(iso)
    return str(iso) if t is None else t.strftime("%Y-%m-%d %H:%M UTC")


def short_when(iso: str | None, now: datetime | None = None) -> str:
    """The same time as a model's label writes it: `6 Dec 08:41` (UTC), with the year when it is not this
    year's (`6 Dec 2025 08:41`). Text that is not a time comes back as it is."""
    t = _utc(iso) if iso else None
    if t is None:
        return str(iso or "–")
    year = "" if t.year == (now or datetime.now(UTC)).year else f" {t.year}"
    return f"{t.day} {t:%b}{year} {t:%H:%M}"


def _utc(iso: str) -> datetime | None:
    """An ISO 8601 time in UTC; None if the text is not one."""
    try:
        t = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return None
    if t.tzinfo is None:  # the store has always written UTC; an old file without an offset is UTC too
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC)


def percent(v: float | None, places: int = 2) -> str:
    """`99.47%` (`places` decimals), or `–` for a figure that is not there or not a fraction (NaN, 1e33):
    never `nan%` or a 34-digit percentage."""
    if v is None or not math.isfinite(v) or not 0 <= v <= 1:
        return "–"
    return f"{v:.{places}%}"
