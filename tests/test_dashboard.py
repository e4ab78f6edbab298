"""The dashboard's frame: text that needs no emoji font. (Its use of Streamlit's clean-up hook is
tested in test_streamlit_private.py.)"""

from __future__ import annotations

import digitrec_app
from tests.support import ROOT

# Typographic characters the dashboard may use: Streamlit's Source Sans and the usual fallback fonts
# (DejaVu) have them all. Anything else (emoji, arrows like ▶, symbols like ⏹) needs an emoji or symbol
# font a machine may not have: use a `:material/…:` icon instead.
TYPOGRAPHY = set("…–—·‘’“”×±→−")


def test_the_dashboard_needs_no_emoji_font():
    package = ROOT / digitrec_app.__name__
    found = {
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sorted(package.rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(ord(ch) > 127 and ch not in TYPOGRAPHY for ch in line)
    }
    assert not found, "characters that need an emoji or symbol font (use :material/...: icons):\n" + "\n".join(
        sorted(found))
