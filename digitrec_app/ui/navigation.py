"""The dashboard's pages in one table: the navigation and every link between pages use it.

Paths are absolute, so the pages resolve the same whether Streamlit runs the packaged
`digitrec_app/app.py` (`digitrec app`) or a clone's `app.py`. Icons are Streamlit's built-in
Material Symbols, so nothing depends on the machine having an emoji font.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import NamedTuple

import streamlit as st
from PIL import Image, ImageDraw

PAGES_DIR = Path(__file__).resolve().parents[1] / "app_pages"


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


@cache
def app_icon() -> Image.Image:
    """The browser tab's icon: a pen-drawn 7 on the accent red. An image, not a `:material/…:` name:
    for a Material page icon the browser fetches an SVG from fonts.gstatic.com, which fails offline."""
    icon = Image.new("RGBA", (64, 64))
    pen = ImageDraw.Draw(icon)
    pen.rounded_rectangle((0, 0, 63, 63), radius=14, fill="#ff4b4b")
    pen.line([(17, 17), (47, 17), (27, 50)], fill="white", width=8, joint="curve")
    return icon


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


def title(name: str) -> None:
    """A page's title with the icon the navigation shows for it."""
    st.title(PAGES[name].title, icon=PAGES[name].icon)
