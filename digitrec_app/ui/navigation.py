"""The dashboard's pages in one table: the navigation and every link between pages use it.

Paths are absolute, so the pages resolve the same whether Streamlit runs the packaged
`digitrec_app/app.py` (`digitrec app`) or a clone's `app.py`. Icons are Streamlit's built-in
Material Symbols, so nothing depends on the machine having an emoji font.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import streamlit as st

PAGES_DIR = Path(__file__).resolve().parents[1] / "app_pages"
APP_ICON = ":material/draw:"


class PageSpec(NamedTuple):
    file: str
    title: str
    icon: str


PAGES: dict[str, PageSpec] = {
    "home": PageSpec("home.py", "Home", ":material/home:"),
    "train": PageSpec("train.py", "Train", ":material/show_chart:"),
    "browse": PageSpec("browse.py", "Test browser", ":material/search:"),
    "draw": PageSpec("draw.py", "Draw", ":material/edit:"),
    "my_digits": PageSpec("my_digits.py", "My digits", ":material/folder_special:"),
}


def path(name: str) -> Path:
    return PAGES_DIR / PAGES[name].file


def navigation():
    """`st.navigation` over every page, Home first and default."""
    return st.navigation([
        st.Page(path(name), title=spec.title, icon=spec.icon, default=name == "home")
        for name, spec in PAGES.items()
    ])


def link(name: str, label: str, container=st) -> None:
    """A link to another page, with that page's icon."""
    container.page_link(path(name), label=label, icon=PAGES[name].icon)
