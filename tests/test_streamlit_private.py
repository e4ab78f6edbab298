"""digitrec_app.streamlit_private: each use of a private Streamlit API takes effect where Streamlit has it,
and where an upgrade has moved it, says so once in the log and changes nothing; nothing else uses them."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

from digitrec_app import streamlit_private as sp
from tests.support import ROOT

# Private names only digitrec_app/streamlit_private.py may use.
PRIVATE = ("_clean_problem_modules", "scriptrunner", "is_dataframe_like", "bidi_component.serialization",
           "_session_mgr", "_session_storage", "force_reparse", "get_config_options")


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    """Each test starts as a process that has reported nothing yet."""
    monkeypatch.setattr(sp, "_warned", set())


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "digitrec" and r.levelno == logging.WARNING]


def assert_reported_once(caplog, name: str) -> None:
    (message,) = warnings_of(caplog)
    assert name in message and f"Streamlit {sp.streamlit_version()}" in message, message


def run_python(code: str, env: dict | None = None, timeout: float = 300) -> str:
    """`code` in a fresh interpreter (the patches hold once per process); its stdout's last line."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            timeout=timeout, cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})})
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout.strip().splitlines()[-1]


def test_no_other_module_touches_streamlits_private_names():
    found = [f"{path.relative_to(ROOT)}: {name}"
             for package in ("digitrec_app", "digitrec_cli", "digitrec_core")
             for path in sorted((ROOT / package).rglob("*.py"))
             if path != ROOT / "digitrec_app" / "streamlit_private.py"
             for name in PRIVATE if name in path.read_text(encoding="utf-8")]
    assert not found, found


def test_a_moved_api_is_reported_once_per_process_and_name(caplog):
    with caplog.at_level(logging.WARNING, logger="digitrec"):
        sp.report_moved("streamlit.x._gone", "something costs more.")
        sp.report_moved("streamlit.x._gone", "something costs more.")
    assert_reported_once(caplog, "streamlit.x._gone")
    assert "something costs more." in warnings_of(caplog)[0]


# ---- 1. Keras's state across reruns ------------------------------------------------------------------------

# Run in a fresh interpreter: only a process that has not imported the dashboard yet shows what Streamlit
# does without it.
SPY = """
import keras
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from streamlit.testing.v1 import AppTest

calls = []
keras.backend.clear_session = lambda *args, **kwargs: calls.append(1)

at = AppTest.from_string("import streamlit as st; st.write('hello')")
at.run()
at.run()
without = len(calls)

at = AppTest.from_file({app!r}, default_timeout=120)
at.run()
assert not at.exception, [e.message for e in at.exception]
for page in ("train.py", "draw.py", "home.py"):
    plt.figure()
    at.switch_page({pages!r} + "/" + page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert not plt.get_fignums(), "Streamlit's pyplot clean-up no longer ran"
from digitrec_app import dashboard
print(without, len(calls) - without, dashboard.KERAS_STATE_KEPT)
"""


def test_the_dashboard_keeps_streamlit_from_clearing_keras_but_not_from_closing_figures(tmp_path):
    code = SPY.format(app=str(ROOT / "app.py"), pages=str(ROOT / "digitrec_app" / "app_pages"))
    env = {"DIGITREC_HOME": str(tmp_path / "home"), "DIGITREC_MNIST_DIR": str(tmp_path / "no-mnist"),
           "DIGITREC_WARM_WORKER": "0"}
    without, with_dashboard, kept = run_python(code, env).split()
    assert int(without) == 2  # Streamlit's clean-up clears Keras after each run, without the dashboard
    assert (int(with_dashboard), kept) == (0, "True")  # none in the app's four runs


def test_the_clean_up_is_replaced_when_it_is_there(monkeypatch, caplog):
    from streamlit.runtime.scriptrunner import script_runner

    monkeypatch.setattr(script_runner, "_clean_problem_modules", lambda: None)
    with caplog.at_level(logging.WARNING, logger="digitrec"):
        assert sp.skip_keras_clear_session() is True
    assert script_runner._clean_problem_modules is sp.close_pyplot_figures and not warnings_of(caplog)


@pytest.mark.parametrize("moved", ["removed", "no longer a function"])
def test_a_missing_clean_up_is_reported_once_and_nothing_is_put_in_its_place(monkeypatch, caplog, moved):
    from streamlit.runtime.scriptrunner import script_runner

    if moved == "removed":
        monkeypatch.delattr(script_runner, "_clean_problem_modules")
    else:
        monkeypatch.setattr(script_runner, "_clean_problem_modules", None)
    with caplog.at_level(logging.WARNING, logger="digitrec"):
        assert sp.skip_keras_clear_session() is False
        assert sp.skip_keras_clear_session() is False
    assert_reported_once(caplog, "script_runner._clean_problem_modules")
    assert getattr(script_runner, "_clean_problem_modules", None) is None


# ---- 2. pandas kept out of the Draw page --------------------------------------------------------------------

def test_a_dict_given_to_a_component_loads_pandas_only_without_the_wrapper():
    code = """
    import sys
    from streamlit.components.v2.bidi_component import serialization
    from digitrec_app import streamlit_private
    {install}
    serialization._extract_dataframes_from_dict({{"initial_drawing": {{"objects": []}}}})
    print("pandas" in sys.modules)
    """
    assert run_python(code.format(install="")) == "True"  # Streamlit's own check imports pandas for a dict
    assert run_python(code.format(install="assert streamlit_private.keep_pandas_out()")) == "False"


def test_the_wrapper_answers_plain_dicts_while_pandas_is_out_and_asks_streamlit_otherwise(monkeypatch):
    from streamlit.components.v2.bidi_component import serialization

    asked = []
    monkeypatch.setattr(serialization, "is_dataframe_like", lambda obj: asked.append(obj) or True)
    monkeypatch.delitem(sys.modules, "pandas", raising=False)
    assert sp.keep_pandas_out() is True
    wrapper = serialization.is_dataframe_like
    assert wrapper({"objects": []}) is False and asked == []  # no pandas: a dict holds no dataframe
    assert wrapper([[1, 2]]) is True and asked == [[[1, 2]]]  # anything else: Streamlit's answer
    monkeypatch.setitem(sys.modules, "pandas", SimpleNamespace())
    assert wrapper({"a": 1}) is True and asked[-1] == {"a": 1}  # pandas loaded: a dict may hold a dataframe
    assert sp.keep_pandas_out() is True and serialization.is_dataframe_like is wrapper  # never wrapped twice


@pytest.mark.parametrize("moved", ["function", "module"])
def test_a_missing_dataframe_check_is_reported_once_and_left_alone(monkeypatch, caplog, moved):
    from streamlit.components.v2.bidi_component import serialization

    if moved == "function":
        monkeypatch.delattr(serialization, "is_dataframe_like")
    else:
        monkeypatch.setitem(sys.modules, sp.SERIALIZATION, None)  # import_module then raises ImportError
    with caplog.at_level(logging.WARNING, logger="digitrec"):
        assert sp.keep_pandas_out() is False
        assert sp.keep_pandas_out() is False
    assert_reported_once(caplog, "serialization.is_dataframe_like")


# ---- 3. Expired sessions of an idle server ------------------------------------------------------------------

def fake_runtime(monkeypatch, instance: object) -> None:
    from streamlit import runtime

    monkeypatch.setattr(runtime, "exists", lambda: True)
    monkeypatch.setattr(runtime, "get_instance", lambda: instance)


def test_expired_sessions_are_dropped_from_streamlits_session_store(monkeypatch, caplog):
    from streamlit.runtime.caching.ttl_cache import TTLCache

    now = [0.0]
    cache = TTLCache(maxsize=10, ttl=120, timer=lambda: now[0])
    cache["gone"], cache["kept"] = "session of a visitor who left", "session of one who may come back"
    now[0] = 60.0
    cache["kept"] = "session of one who may come back"  # saved later: expires later
    fake_runtime(monkeypatch, SimpleNamespace(_session_mgr=SimpleNamespace(_session_storage=SimpleNamespace(
        _cache=cache))))
    now[0] = 150.0
    with caplog.at_level(logging.WARNING, logger="digitrec"):
        assert sp.expire_disconnected_sessions() is True
    assert list(cache._expirations) == ["kept"] and not warnings_of(caplog)  # gone, not merely hidden


@pytest.mark.parametrize("instance, missing", [
    (SimpleNamespace(), "get_instance()._session_mgr"),
    (SimpleNamespace(_session_mgr=SimpleNamespace()), "get_instance()._session_mgr._session_storage"),
])
def test_a_moved_session_store_is_reported_once(monkeypatch, caplog, instance, missing):
    fake_runtime(monkeypatch, instance)
    with caplog.at_level(logging.WARNING, logger="digitrec"):
        assert sp.expire_disconnected_sessions() is None
        assert sp.expire_disconnected_sessions() is None
    assert_reported_once(caplog, missing)


def test_without_a_server_there_is_nothing_to_expire(caplog):
    with caplog.at_level(logging.WARNING, logger="digitrec"):
        assert sp.expire_disconnected_sessions() is None
    assert not warnings_of(caplog)


# ---- 4. `digitrec app`'s reading of the config --------------------------------------------------------------

def test_the_config_is_read_again_with_the_users_flags():
    from streamlit import config

    try:
        assert sp.reparse_config({"server.address": "10.1.2.3"}) is True
        assert config.get_option("server.address") == "10.1.2.3"
    finally:
        assert sp.reparse_config({}) is True
    assert config.get_option("server.address") != "10.1.2.3"


@pytest.mark.parametrize("moved", ["removed", "other parameters"])
def test_a_changed_config_parser_is_reported_once_and_not_called(monkeypatch, caplog, moved):
    from streamlit import config

    called = []
    if moved == "removed":
        monkeypatch.delattr(config, "get_config_options")
    else:
        monkeypatch.setattr(config, "get_config_options", lambda reparse=False: called.append(reparse))
    with caplog.at_level(logging.WARNING, logger="digitrec"):
        assert sp.reparse_config({"server.address": "10.1.2.3"}) is False
        assert sp.reparse_config({}) is False
    assert_reported_once(caplog, "get_config_options")
    assert called == []
