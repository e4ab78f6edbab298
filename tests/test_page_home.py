"""The dashboard's Home page, driven through Streamlit's AppTest (no browser): the active model's card and the
data it was trained and tested on. The AppTest tooling and its notes are in tests/support/pages.py.
"""

from __future__ import annotations

from tests.support.pages import (
    SHIPPED,
    has_key,
    markdowns,
    metrics,
    open_app,
    sidebar_text,
)


def test_home_shows_the_shipped_model_and_the_data(app_env, synthetic_dir):
    at = open_app()
    text = "\n".join(markdowns(at))
    assert SHIPPED["name"] in text and "pretrained" in text
    m = metrics(at)
    assert m["Test accuracy"] == f"{SHIPPED['test_accuracy']:.2%}"
    assert m["Architecture"] == "default" and m["Parameters"] == "242,602"
    assert m["Training images"] == "1,000" and m["Test images"] == "200" and m["Source"] == "local folder"
    assert any("1,000 of MNIST's 60,000" in i.value for i in at.info)  # a partial copy says so
    assert not at.error
    side = sidebar_text(at)
    assert "Active model" in side and SHIPPED["name"] in side and f"{SHIPPED['test_accuracy']:.2%}" in side
    assert not has_key(at.sidebar.selectbox, "model_switcher")  # one model: nothing to switch to
