"""The words every page and the CLI share (digitrec_core.text): articles, counts and times."""

from datetime import UTC, datetime

import pytest

from digitrec_core.text import a_digit, plural, short_when, when


@pytest.mark.parametrize("digit, said", [(0, "a 0"), (1, "a 1"), (7, "a 7"), (8, "an 8"), (9, "a 9")])
def test_a_digit_takes_the_article_the_digit_is_said_with(digit, said):
    assert a_digit(digit) == said


def test_a_digit_formats_the_digit_alone():
    assert a_digit(8, "**{}**") == "an **8**" and a_digit(4, "**{}**") == "a **4**"


def test_plural_counts_with_thousands_separators_and_irregular_nouns():
    assert plural(1, "epoch") == "1 epoch" and plural(0, "digit") == "0 digits" and plural(2, "digit") == "2 digits"
    assert plural(1800, "image") == "1,800 images"
    assert plural(1, "batch", "batches") == "1 batch" and plural(3, "batch", "batches") == "3 batches"
    assert plural(1, "was", "were") == "1 was" and plural(12, "was", "were") == "12 were"


def test_short_when_writes_a_labels_time_in_utc_with_the_year_only_when_it_is_not_this_years():
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert short_when("2026-12-06T08:41:29+00:00", now) == "6 Dec 08:41"
    assert short_when("2026-12-02T09:00:00+02:00", now) == "2 Dec 07:00"  # in UTC, as `when` writes it
    assert short_when("2026-01-31T23:59:00", now) == "31 Jan 23:59"  # no offset: UTC, as the store wrote it
    assert short_when("2025-12-06T08:41:00+00:00", now) == "6 Dec 2025 08:41"
    assert short_when("yesterday", now) == "yesterday" and short_when(None, now) == "–"
    assert when("2026-12-02T09:00:00+02:00") == "2026-12-02 07:00 UTC" and when("yesterday") == "yesterday"
