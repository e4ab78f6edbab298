"""Public mode (`DIGITREC_PUBLIC=1`): several visitors on one server, driven as AppTest sessions.

Two AppTest instances in one process share `st.cache_resource` (the training supervisor, the models)
as two browser tabs share a server, and each has its own `st.session_state`: the visitors.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import threading
import time

import pytest
import streamlit as st

import digitrec_app
from digitrec_app import launch
from digitrec_app.ui.visitor import Visitor
from digitrec_cli import main as cli
from digitrec_core import ModelStore, public
from digitrec_core.jobs import TrainingSupervisor
from digitrec_core.personal import PersonalDigits, PersonalDigitsError
from tests.support.drawings import drawn, stroke_one
from tests.support.pages import PAGES, draw, has_key, open_app, open_draw, run, sidebar_text, start_training
from tests.support.runs import weaker

PASSWORD = "correct horse battery staple"


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


@pytest.mark.parametrize("who, rules", [
    (Visitor(public=False, operator=True),  # locally: no bounds, every detail, the store's own digits
     dict(guest=False, sees_details=True, session_scoped=False, may_import_digits=True, stops_only_own_runs=False,
          training_bounds=(100, 60_000), max_fine_tune_epochs=20)),
    (Visitor(public=True, operator=False),  # a visitor: bounded, their own model and digits, plain-words errors
     dict(guest=True, sees_details=False, session_scoped=True, may_import_digits=False, stops_only_own_runs=True,
          training_bounds=(public.MAX_EPOCHS, public.MAX_IMAGES), max_fine_tune_epochs=public.MAX_FINE_TUNE_EPOCHS)),
    (Visitor(public=True, operator=True),  # the operator: unbounded and shares changes, still a public session
     dict(guest=False, sees_details=False, session_scoped=True, may_import_digits=False, stops_only_own_runs=True,
          training_bounds=(100, 60_000), max_fine_tune_epochs=20)),
], ids=["local", "visitor", "operator"])
def test_one_policy_says_what_each_kind_of_session_may_do(who, rules):
    assert {name: getattr(who, name) for name in rules if name != "training_bounds"} == {
        name: value for name, value in rules.items() if name != "training_bounds"}
    assert who.training_bounds(60_000) == rules["training_bounds"]
    assert who.training_bounds(1_000)[1] == 1_000  # never more images than there are


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


@pytest.fixture
def small_bounds(monkeypatch):
    """The digit bounds at a size a test fills in seconds (the code is the same at any size)."""
    monkeypatch.setattr(public, "MAX_SESSION_DIGITS", 3)
    monkeypatch.setattr(public, "MAX_VISITOR_DIGITS", 12)
    monkeypatch.setattr(public, "KEEP_SESSIONS", 6)


def age(store_home, session: str, seconds: float) -> None:
    """Make a visitor's folder look unused for `seconds`."""
    when = time.time() - seconds
    for p in (public.visitor_root(store_home, session), public.visitor_root(store_home, session) / "personal"):
        os.utime(p, (when, when))


def test_a_visitor_keeps_a_bounded_number_of_digits(store_home, small_bounds):
    digits = public.VisitorDigits(store_home, "abc")
    assert not (store_home / public.PUBLIC_DIR).exists()  # a visitor who stored nothing keeps nothing
    for k in range(3):
        digits.add(drawn(1, k), 1)
    with pytest.raises(PersonalDigitsError, match="you have kept 3 digits"):
        digits.add(drawn(1, 3), 1)
    assert len(digits) == 3 and len(os.listdir(digits.folder)) == 9  # three files a sample: no leftover id


def test_a_flood_of_sessions_never_deletes_a_recent_visitors_digits(store_home, small_bounds):
    """One client opening session after session, each storing as much as it may: the server-wide bounds
    refuse it once full, and the visitor who stored lately keeps every digit."""
    alice = public.VisitorDigits(store_home, "a11ce")
    alice.add(drawn(7), 7)
    alice.add(drawn(1), 1)
    refused = 0
    for n in range(20):  # the worst case: every session stores as many as it may
        flood = public.VisitorDigits(store_home, f"f{n:03d}")
        for k in range(public.MAX_SESSION_DIGITS):
            try:
                flood.add(drawn(0, k), 0)
            except PersonalDigitsError as e:
                assert str(e) == public.SERVER_FULL
                refused += 1
    assert len(alice) == 2  # untouched
    folders = public.visitor_folders(store_home)
    assert sum(f.digits for f in folders) <= public.MAX_VISITOR_DIGITS and len(folders) <= public.KEEP_SESSIONS
    stored = sum(f.digits for f in folders if f.name != "a11ce")
    assert refused == 20 * 3 - stored and stored > 0  # everything beyond the bounds, and nothing else
    assert all(f.digits for f in folders)  # a refused first digit leaves no folder behind


def test_a_new_visitor_arriving_deletes_nobodys_digits(public_mode, synthetic_dir):
    """Sessions cost nothing: one client's flood of them, each with a digit, used to evict everyone else's."""
    alice = open_app("my_digits")
    PersonalDigits(public.visitor_root(ModelStore().root, session(alice))).add(drawn(7), 7)
    age(ModelStore().root, session(alice), 60)  # she stored it a minute ago
    for n in range(public.KEEP_SESSIONS):  # then a flood of sessions stored theirs
        (public.visitor_root(ModelStore().root, f"f{n:04d}") / "personal").mkdir(parents=True)
    open_app("my_digits")  # and one more visitor arrives
    run(alice)
    assert any(c.value == "1 digit of yours, kept for this session on this server." for c in alice.caption)


def test_room_is_made_from_the_least_recently_used_idle_folders_only(store_home, small_bounds):
    for sid in ["old1", "old2", "new1", "new2"]:
        digits = public.VisitorDigits(store_home, sid)
        for k in range(3):
            digits.add(drawn(1, k), 1)
    age(store_home, "old1", public.PROTECT_SECONDS + 200)  # the least recently used
    age(store_home, "old2", public.PROTECT_SECONDS + 100)
    # 12 digits: the server is full. A new visitor's digit takes the place of the oldest idle folder only.
    public.VisitorDigits(store_home, "c0ffee").add(drawn(7), 7)
    assert sorted(f.name for f in public.visitor_folders(store_home)) == ["c0ffee", "new1", "new2", "old2"]
    public.touch(store_home, "old2")  # its visitor opened My digits again: protected now
    late = public.VisitorDigits(store_home, "beef")
    late.add(drawn(0), 0)
    late.add(drawn(0, 1), 0)
    with pytest.raises(PersonalDigitsError, match="the server keeps no more visitors' digits right now"):
        late.add(drawn(0, 2), 0)
    assert sorted(f.name for f in public.visitor_folders(store_home)) == ["beef", "c0ffee", "new1", "new2", "old2"]
    with pytest.raises(ValueError):
        public.visitor_root(store_home, "../models")


def test_importing_a_zip_counts_against_the_same_bounds(store_home, small_bounds, tmp_path):
    mine = PersonalDigits(tmp_path / "elsewhere")
    for k in range(5):
        mine.add(drawn(1, k), 1)
    mine.export_zip(tmp_path / "five.zip")
    digits = public.VisitorDigits(store_home, "abc")
    with pytest.raises(PersonalDigitsError, match="you have kept 3 digits"):
        digits.import_zip(tmp_path / "five.zip")
    assert len(digits) == 3


def test_the_worst_case_bound_is_computed_from_the_constants():
    from digitrec_core.personal import MAX_SAMPLE_BYTES

    assert public.visitor_storage_bound() == (public.MAX_VISITOR_DIGITS * MAX_SAMPLE_BYTES
                                              + public.KEEP_SESSIONS * public.FOLDER_BYTES
                                              + public.KEEP_VISITOR_MODELS * public.MAX_MODEL_BYTES)
    assert public.MAX_SESSION_DIGITS <= public.MAX_VISITOR_DIGITS


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
    import digitrec_app.ui.resources as res

    shared, other = two_models
    monkeypatch.setenv(public.ENV_PASSWORD, PASSWORD)
    caplog.set_level(logging.DEBUG)
    operator, visitor = open_app(), open_app()
    clock = Clock()
    res.sign_in_throttle().clock = clock
    operator.text_input(key="operator_password").input("wrong password")
    run(operator.button(key="FormSubmitter:operator_login-Sign in").click())
    assert [e.value for e in operator.error] == ["Wrong password; the next try is taken in 1 s."]
    assert operator.text_input(key="operator_password").value == ""  # the form forgets what was typed
    run(operator.selectbox(key="model_switcher").set_value(other.name))
    assert ModelStore().active_name() == shared.name  # still a visitor

    clock.now += 1
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
    monkeypatch.setattr(launch, "supervise", lambda cmd: calls.append(cmd) or 0)
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


# ---- operator sign-in, throttled -------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_wrong_password_makes_the_next_try_wait_longer_and_a_right_one_still_works(caplog):
    clock = Clock()
    throttle = public.SignInThrottle(clock)
    tries = public.SignInTries()
    waits = []
    with caplog.at_level(logging.WARNING, logger="digitrec"):
        for _ in range(8):
            clock.now += throttle.retry_in(tries)
            outcome = throttle.attempt(tries, "guess", PASSWORD)
            assert outcome.checked and not outcome.ok
            waits.append(outcome.retry_in)
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]  # the session's delay (the server's is shorter), capped
    assert "8 in a row from this session, 8 on the server" in caplog.text and "guess" not in caplog.text
    early = throttle.attempt(tries, PASSWORD, PASSWORD)  # too early: refused without looking at the password
    assert not early.ok and not early.checked and early.retry_in == 60
    clock.now += 60
    assert throttle.attempt(tries, PASSWORD, PASSWORD).ok
    assert throttle.attempt(public.SignInTries(), "guess", PASSWORD).retry_in == 1  # the server forgot too


def test_new_sessions_do_not_escape_the_server_wide_delay():
    clock = Clock()
    throttle = public.SignInThrottle(clock)
    checked = 0
    for _ in range(40):  # a fresh session for every guess, each tried as early as the server allows
        tries = public.SignInTries()
        clock.now += throttle.retry_in(tries)
        checked += throttle.attempt(tries, "guess", PASSWORD).checked
    assert checked == 40
    assert throttle.retry_in(public.SignInTries()) == public.MAX_SIGN_IN_DELAY  # one guess a minute, from anywhere
    clock.now += public.FORGET_SECONDS + 1  # failures are forgotten after a quiet quarter of an hour
    assert throttle.retry_in(public.SignInTries()) == 0


def test_tries_at_once_from_many_threads_are_counted_once_each_and_only_one_is_checked():
    throttle = public.SignInThrottle(Clock())
    outcomes, start = [], threading.Barrier(10)

    def guess():
        start.wait(timeout=30)
        outcomes.append(throttle.attempt(public.SignInTries(), "guess", PASSWORD))

    threads = [threading.Thread(target=guess) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sum(o.checked for o in outcomes) == 1 and len(outcomes) == 10  # the clock stood still: one try taken


def test_the_sign_in_form_says_when_to_try_again(public_mode, synthetic_dir, two_models, monkeypatch):
    import digitrec_app.ui.resources as res

    monkeypatch.setenv(public.ENV_PASSWORD, PASSWORD)
    clock = Clock()
    res.sign_in_throttle().clock = clock
    at, other = open_app(), open_app()

    def sign_in(at, password):
        at.text_input(key="operator_password").input(password)
        return run(at.button(key="FormSubmitter:operator_login-Sign in").click())

    assert [e.value for e in sign_in(at, "wrong").error] == ["Wrong password; the next try is taken in 1 s."]
    assert [e.value for e in sign_in(at, PASSWORD).error] == [
        "Not checked: too soon after a wrong password (here or in another session); try again in 1 s."]
    assert [e.value for e in sign_in(other, PASSWORD).error] == [  # the server's delay holds for other sessions
        "Not checked: too soon after a wrong password (here or in another session); try again in 1 s."]
    clock.now += 1
    assert not sign_in(at, PASSWORD).error
    assert "Operator: your changes apply to every visitor." in [c.value for c in at.sidebar.caption]


# ---- what a visitor sees of errors: no server paths ---------------------------------------------------

PATH = re.compile(r"(?<![\w.~/<])/[\w.-]+/")  # an absolute path's first folder


def visible(at) -> str:
    """Every text on the page, the sidebar included, and what the live classifier is given to show."""
    parts = [texts(at)]
    parts += [e.value for kind in ("text", "code", "subheader", "title") for e in at.get(kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric] + [e.message for e in at.exception]
    for c in at.get("bidi_component"):
        data = json.loads(c.proto.json)
        if isinstance(data, dict) and isinstance(data.get("model"), dict):
            data["model"].pop("bytes", None)  # the model's ONNX, base64: not text anyone reads
        parts.append(json.dumps(data))
    return "\n".join(str(p) for p in parts)


def assert_no_server_paths(at, store_root) -> str:
    shown = visible(at)
    sid = at.session_state["session_id"] if "session_id" in at.session_state else None
    assert str(store_root) not in shown and (sid is None or sid not in shown) and public.PUBLIC_DIR + "/" not in shown
    assert not PATH.search(shown), PATH.search(shown)
    return shown


def test_a_damaged_shared_model_is_said_without_its_path(public_mode, synthetic_dir, tiny_result, caplog):
    saved = ModelStore().save(tiny_result, activate="always").info
    (saved.path / "model.onnx").write_bytes(b"not an onnx file at all")
    for page in ("draw", "browse"):
        at = open_app(page)
        shown = assert_no_server_paths(at, ModelStore().root)
        assert "The model you use could not be loaded, so this page uses" in shown
    assert str(saved.path) in caplog.text  # the operator finds it in the server's log


def test_a_full_disk_is_said_without_paths(public_mode, synthetic_dir, monkeypatch):
    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    at = open_draw()
    draw(at, stroke_one())
    monkeypatch.setattr("digitrec_core.personal.digits.write_atomic", full)
    run(at.button(key="draw_right").click())
    (error,) = [e.value for e in at.error]
    assert error == "Not saved: The server's disk is full, so nothing was saved; try again later."
    assert_no_server_paths(at, ModelStore().root)


def test_my_digits_errors_are_said_without_paths(public_mode, synthetic_dir):
    at = open_app("my_digits")
    mine = PersonalDigits(public.visitor_root(ModelStore().root, session(at)))
    first, _ = mine.add(drawn(7), 7), mine.add(drawn(1), 1)
    run(at)
    mine.remove(first)  # another tab deleted it since this one drew the gallery
    run(at.button(key=f"delete_{first}").click())
    assert [e.value for e in at.error] == [f"There is no personal sample with id '{first}' in the server."]
    assert_no_server_paths(at, ModelStore().root)


def test_visitor_messages_keep_the_visitors_own_errors_and_hide_server_faults():
    from digitrec_core.preprocess import ImageError

    assert public.visitor_message(ImageError("The image is blank.")) == "The image is blank."
    assert public.visitor_message(PersonalDigitsError("no sample in /srv/x/public/ab12/personal.")) == \
        "no sample in the server."
    assert public.without_paths("1/65535 of C:\\data\\x.png and ~/x") == "1/65535 of the server and the server"
    try:
        raise PersonalDigitsError("Could not write /srv/a.png: Permission denied.") from PermissionError(13, "no")
    except PersonalDigitsError as e:
        assert public.visitor_message(e) == public.SERVER_FILES
    assert public.visitor_message(RuntimeError("/srv/secret")) == public.SERVER_FAULT


def test_a_model_that_outputs_nan_shows_one_sentence_not_numbers(public_mode, synthetic_dir, monkeypatch):
    import numpy as np

    from digitrec_core.serving.runtime import OnnxModel

    at = open_draw()
    monkeypatch.setattr(OnnxModel, "run", lambda self, x: np.full((len(x), 10), np.nan, np.float32))
    draw(at, stroke_one())
    shown = visible(at)
    assert "nan%" not in shown.lower() and "Prediction:" not in shown
    (error,) = [e.value for e in at.error]
    assert "not probabilities" in error
