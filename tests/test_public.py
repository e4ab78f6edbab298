"""Public mode (`DIGITREC_PUBLIC=1`): several visitors on one server, driven as AppTest sessions.

Two AppTest instances in one process share `st.cache_resource` (the training supervisor, the models)
as two browser tabs share a server, and each has its own `st.session_state`: the visitors.
"""

from __future__ import annotations

import logging
import subprocess

import pytest
import streamlit as st
import test_pages
from test_pages import PAGES, has_key, open_app, run, sidebar_text, start_training, weaker

import digitrec_app
from digitrec_core import ModelStore, cli, public
from digitrec_core.jobs import TrainingSupervisor
from digitrec_core.personal import PersonalDigits, PersonalDigitsError

PASSWORD = "correct horse battery staple"
# The page tests' fixtures, shared (an assignment, not an import: pytest finds them here all the same).
app_env, fresh_resources, synthetic_dir, tiny_result = (
    test_pages.app_env, test_pages.fresh_resources, test_pages.synthetic_dir, test_pages.tiny_result)


@pytest.fixture
def public_mode(app_env, monkeypatch):
    monkeypatch.setenv(public.ENV_PUBLIC, "1")
    monkeypatch.delenv(public.ENV_PASSWORD, raising=False)
    shown = st.get_option("client.showErrorDetails")
    yield app_env
    st.set_option("client.showErrorDetails", shown)  # public mode sets it for the whole process


@pytest.fixture
def two_models(tiny_result):
    """The shared active model and another one, both in the store."""
    store = ModelStore()
    shared = store.save(tiny_result, activate="always").info
    other = store.save(weaker(tiny_result), activate="never").info
    return shared, other


def session(at) -> str:
    return at.session_state["session_id"]


def texts(at) -> str:
    """Everything the page says, for checking what it does not say."""
    parts = [e.value for kind in ("markdown", "caption", "error", "warning", "info", "success")
             for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


# ---- the switch and the bookkeeping, without Streamlit ---------------------------------------------

@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("YES", True), ("0", False), ("", False)])
def test_the_switch_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv(public.ENV_PUBLIC, value)
    assert public.is_public() is expected


def test_the_switch_reads_secrets_too(monkeypatch):
    monkeypatch.delenv(public.ENV_PUBLIC, raising=False)
    assert not public.is_public() and not public.is_public({})
    assert public.is_public({"DIGITREC_PUBLIC": True}) and public.is_public({"DIGITREC_PUBLIC": "1"})


def test_the_password_is_compared_and_an_unset_one_refuses_everyone(monkeypatch):
    assert public.check_password(PASSWORD, PASSWORD)
    assert not public.check_password(PASSWORD[:-1], PASSWORD) and not public.check_password("", PASSWORD)
    assert not public.check_password("", None) and not public.check_password("anything", "")
    monkeypatch.setenv(public.ENV_PASSWORD, "from-env")
    assert public.operator_password() == "from-env"
    assert public.operator_password({public.ENV_PASSWORD: "from-secrets"}) == "from-secrets"  # secrets first
    monkeypatch.delenv(public.ENV_PASSWORD)
    assert public.operator_password() is None and public.operator_password({public.ENV_PASSWORD: ""}) is None


def test_visitor_models_are_pruned_to_the_newest_few_but_never_the_shared_one(store_home, tiny_result):
    store = ModelStore()
    names = [store.save(tiny_result, activate="never").info.name for _ in range(4)]
    store.activate(names[0])  # the operator made a visitor's model the shared one
    gone = []
    for n in names:
        gone += public.record_visitor_model(store, n, keep=2)
    assert gone == [names[1]]  # names[0] is active: kept
    assert public.visitor_models(store.root) == names[2:]
    assert {i.name for i in store.list()} == {names[0], *names[2:]}


def test_visitor_digit_folders_are_pruned_to_the_most_recent(store_home):
    import os

    for i, sid in enumerate(["aaa", "bbb", "ccc", "ddd", "eee"]):
        folder = public.visitor_root(store_home, sid)
        (folder / "personal").mkdir(parents=True)
        os.utime(folder / "personal", (1000 + i, 1000 + i))
        os.utime(folder, (1000 + i, 1000 + i))
    os.utime(public.visitor_root(store_home, "bbb") / "personal", (2000, 2000))  # bbb added a digit lately
    assert sorted(public.prune_sessions(store_home, keep=3, spare="aaa")) == ["ccc", "ddd"]
    assert sorted(p.name for p in (store_home / public.PUBLIC_DIR).iterdir()) == ["aaa", "bbb", "eee"]
    with pytest.raises(ValueError):
        public.visitor_root(store_home, "../models")


def test_a_visitor_keeps_a_bounded_number_of_digits(store_home, monkeypatch):
    from test_pages import drawn

    from digitrec_app.ui.resources import VisitorDigits

    monkeypatch.setattr(public, "MAX_SESSION_DIGITS", 2)
    digits = VisitorDigits(public.visitor_root(store_home, "abc"))
    for k in range(2):
        digits.add(drawn(1, k), 1)
    with pytest.raises(PersonalDigitsError, match="you have kept 2 digits"):
        digits.add(drawn(1, 3), 1)
    assert len(digits) == 2


def test_only_the_owner_stops_a_run_and_a_capped_run_stops_itself(store_home, synthetic):
    sup = TrainingSupervisor()
    job = sup.start(dict(arch="seed", epochs=500), owner="alice", data=synthetic, max_seconds=1, activate="never")
    assert not job.stop(by="bob") and not job.stop_event.is_set()
    assert job.wait(120) and job.timed_out and job.result.stopped and job.saved is None
    assert ModelStore().list() == []  # stopped at the cap: nothing saved
    job = sup.start(dict(arch="seed", epochs=50), owner="alice", data=synthetic)
    assert job.stop(by="alice") and job.wait(120) and not job.timed_out


# ---- two visitors in the dashboard ------------------------------------------------------------------

def test_a_visitor_switches_the_model_for_their_session_only(public_mode, synthetic_dir, two_models):
    shared, other = two_models
    alice, bob = open_app(), open_app()
    assert f"**Your model**  \n`{shared.name}`" in sidebar_text(bob)
    run(bob.selectbox(key="model_switcher").set_value(other.name))
    assert f"`{other.name}`" in sidebar_text(bob)
    assert ModelStore().active_name() == shared.name  # active.json untouched
    run(alice)
    assert f"`{shared.name}`" in sidebar_text(alice) and alice.selectbox(key="model_switcher").value == shared.name
    run(bob.switch_page(PAGES["draw"]))  # the pages use the session's model
    assert any(f"Classified by `{other.name}`" in c.value for c in bob.caption)
    run(alice.switch_page(PAGES["draw"]))
    assert any(f"Classified by `{shared.name}`" in c.value for c in alice.caption)


def test_each_visitor_has_their_own_digits(public_mode, synthetic_dir):
    from test_pages import drawn

    alice, bob = open_app("my_digits"), open_app("my_digits")
    mine = PersonalDigits(public.visitor_root(ModelStore().root, session(alice)))
    for k in range(3):
        mine.add(drawn(7, k), 7)
    run(alice)
    run(bob)
    assert any(c.value == "3 digits of yours, kept for this session on this server." for c in alice.caption)
    assert any(i.value.startswith("No digits of yours yet") for i in bob.info)
    assert len(PersonalDigits(ModelStore().root)) == 0  # the shared set is not where visitors' digits go
    assert not has_key(bob.get("file_uploader"), "personal_import")  # importing is off: it is unbounded


def test_a_visitor_cannot_stop_another_visitors_run(public_mode, synthetic_dir):
    import digitrec_app.ui.resources as res

    alice, bob = open_app("train"), open_app("train")
    job = res.supervisor().start(dict(arch="seed", epochs=50), owner=session(alice), data=synthetic_dir)
    try:
        run(alice)
        run(bob)
        assert has_key(alice.button, "stop") and not has_key(bob.button, "stop")
        assert bob.button(key="FormSubmitter:hyperparameters-Train").disabled  # one run at a time
        assert any("One run at a time on this server" in c.value for c in bob.caption)
        assert any(s.value == "Training (started in another tab)…" for s in bob.subheader) and bob.progress
        assert not job.stop(by=session(bob)) and job.running
        run(alice.button(key="stop").click())
        assert job.stop_event.is_set()
    finally:
        job.stop()
        assert job.wait(120)


def test_a_visitors_run_is_bounded_kept_for_them_and_never_shared(public_mode, synthetic_dir, two_models):
    import digitrec_app.ui.resources as res

    shared, _ = two_models
    alice, bob = open_app("train"), open_app()
    assert alice.number_input(key="epochs_default").max == public.MAX_EPOCHS
    assert alice.number_input(key="limit_default").max == min(public.MAX_IMAGES, synthetic_dir.n_train)
    start_training(alice, epochs=1, limit=500)
    job = res.supervisor().job
    assert job.owner == session(alice) and job.activate == "never" and job.max_seconds == public.MAX_SECONDS
    assert job.wait(120) and job.error is None
    run(alice)
    new = job.saved.info
    assert not job.saved.activated and ModelStore().active_name() == shared.name
    assert public.visitor_models(ModelStore().root) == [new.name]
    run(next(b for b in alice.button if b.label == "Use it").click())
    assert f"`{new.name}`" in sidebar_text(alice) and ModelStore().active_name() == shared.name
    run(bob)
    assert f"`{shared.name}`" in sidebar_text(bob)


def test_without_a_configured_password_nobody_changes_the_shared_store(public_mode, synthetic_dir, two_models):
    shared, other = two_models
    at = open_app()
    assert "No operator password is configured: the shared model cannot be changed here." in \
        [c.value for c in at.sidebar.caption]
    assert not at.sidebar.text_input
    run(at.selectbox(key="model_switcher").set_value(other.name))
    assert ModelStore().active_name() == shared.name


def test_the_operator_password_unlocks_the_shared_store(public_mode, synthetic_dir, two_models, monkeypatch, caplog):
    shared, other = two_models
    monkeypatch.setenv(public.ENV_PASSWORD, PASSWORD)
    caplog.set_level(logging.DEBUG)
    operator, visitor = open_app(), open_app()
    operator.text_input(key="operator_password").input("wrong password")
    run(operator.button(key="FormSubmitter:operator_login-Sign in").click())
    assert [e.value for e in operator.error] == ["Wrong password."]
    assert operator.text_input(key="operator_password").value == ""  # the form forgets what was typed
    run(operator.selectbox(key="model_switcher").set_value(other.name))
    assert ModelStore().active_name() == shared.name  # still a visitor

    operator.text_input(key="operator_password").input(PASSWORD)
    run(operator.button(key="FormSubmitter:operator_login-Sign in").click())
    assert "Operator: your changes apply to every visitor." in [c.value for c in operator.sidebar.caption]
    run(operator.selectbox(key="model_switcher").set_value(shared.name))
    run(operator.selectbox(key="model_switcher").set_value(other.name))
    assert ModelStore().active_name() == other.name  # the shared model now
    assert "**Active model**" in sidebar_text(operator)
    run(visitor)
    assert f"`{other.name}`" in sidebar_text(visitor)  # a visitor who chose nothing follows the shared model
    run(operator.switch_page(PAGES["train"]))  # the operator's runs are not bounded
    assert operator.number_input(key="epochs_default").max == 100
    for at in (operator, visitor):
        assert PASSWORD not in texts(at)
    assert PASSWORD not in caplog.text
    state = operator.session_state
    assert "operator_password" not in state or state["operator_password"] != PASSWORD


# ---- friendly errors and the start-up warning ------------------------------------------------------

def test_public_mode_hides_error_details(public_mode, synthetic_dir):
    open_app()
    assert st.get_option("client.showErrorDetails") == "none"


def test_digitrec_app_hides_error_details_only_in_public_mode(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    monkeypatch.delenv(public.ENV_PUBLIC, raising=False)
    assert cli.main(["app"]) == 0
    monkeypatch.setenv(public.ENV_PUBLIC, "1")
    assert cli.main(["app", "--client.showErrorDetails=full"]) == 0
    local, shared = calls
    assert not any(a.startswith("--client.showErrorDetails") for a in local)
    assert "--client.showErrorDetails=none" in shared and shared[-1] == "--client.showErrorDetails=full"  # theirs wins
    assert digitrec_app.PUBLIC_SERVER_OPTIONS["client.showErrorDetails"] == "none"


@pytest.mark.parametrize("address, public_env, warned", [
    (None, "", True), ("0.0.0.0", "", True), ("::", "", True), ("localhost", "", False), ("127.0.0.1", "", False),
    (None, "1", False),
])
def test_listening_beyond_localhost_without_public_mode_is_logged(monkeypatch, caplog, address, public_env, warned):
    from digitrec_app import dashboard

    monkeypatch.setenv(public.ENV_PUBLIC, public_env)
    real = st.get_option
    monkeypatch.setattr(st, "get_option", lambda k: address if k == "server.address" else real(k))
    with caplog.at_level(logging.WARNING, logger="digitrec"):
        assert dashboard.warn_if_exposed() is warned
    assert ("without public mode" in caplog.text) is warned
