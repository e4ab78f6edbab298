"""The "Why this answer?" panel, as the Draw page and the Test browser show it, read through Streamlit's AppTest.

The `explain_calls` fixture that counts what the panel computes is in tests/support/explain_calls.py."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.support.pages import run


def why(where):
    """The one "Why this answer?" expander in `where` (the app, or a dialog), or None when there is none."""
    boxes = [e for e in where.get("expander") if e.label == "Why this answer?"]
    assert len(boxes) <= 1, boxes
    return boxes[0] if boxes else None


def panel_images(box) -> dict[str, str]:
    """The panel's images, by their alt text: their URL (a hash of their pixels)."""
    return {img.proto.imgs[0].alt: img.value[0] for img in box.get("image")}


def open_why(at: AppTest, key: str, is_open: bool = True) -> AppTest:
    at.session_state[key] = is_open  # what the browser sends when the user expands (or collapses) it
    return run(at)


def assert_full_panel(box, predicted: int, runner_up: int) -> None:
    imgs = panel_images(box)
    assert set(imgs) == {f"evidence for {predicted}", f"why {predicted} and not {runner_up}", "relu1 feature maps",
                         "relu2 feature maps", "relu3 feature maps", "conv1 filters"}
    captions = [c.value for c in box.caption]
    for line in ("`relu1` · 28×28×32 · the 12 strongest of 32 channels", "`relu2` · 14×14×64 · the 12 strongest of 64",
                 "`relu3` · 7×7×128 · the 12 strongest of 128", "`relu4` · 128 units · the 10 most active",
                 "`conv1` · 32 filters of 3×3"):
        assert any(c.startswith(line) for c in captions), (line, captions)
    assert any(c.startswith("Occlusion: each 4x4 patch is blanked in turn") for c in captions)
    assert [m.value for m in box.markdown] == ["**Where the evidence is**", "**What each layer sees**",
                                              "**What the first layer looks for**"]
    assert len(box.get("plotly_chart")) == 1  # the dense layer's top units
