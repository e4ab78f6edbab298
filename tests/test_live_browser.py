"""The Draw page's live classifier in chromium: the model runs in the page (digitrec/web/live_draw.js), the
server hears of a drawing only when the user acts on it (digitrec_app/ui/live.py).

One Streamlit server of this module's own (a fresh model store: the shipped model active) serves every test;
each test gets a fresh browser context on `/` and goes to Draw through the sidebar, like a user. What the page
sends the server is read off its websocket (every message, decoded as Streamlit's BackMsg). Every test fails
on any console error or uncaught page exception, and on the live classifier's "the model cannot run in this
page" warning except where a browser without WebAssembly is meant to get it. Screenshots go to
$DIGITREC_SCREENSHOTS (default: a temp folder), as tests/test_browser.py's do.

The "Not a digit" tests draw a dot, a scribble and a letter for the shipped model, which must flag them at its
own threshold (meta.json's `digit_threshold`).

    python -m pytest tests/test_live_browser.py
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from bench.chromium import (
    CANVAS,
    CHROMIUM,
    ONE,
    SEVEN,
    VIEWPORT,
    Server,
    canvas_box,
    click_page,
    launch_without_wasm,
    live_panel,
    live_shown,
    main_area,
    prediction,
    press_clear,
    script_done,
    shown_prediction,
    stroke,
    touch_stroke,
    wait_drawable,
    wait_live,
    wait_live_settled,
)
from digitrec_app.ui.components import a_digit
from digitrec_app.ui.live import FOLLOW_SECONDS
from tests.support import ROOT
from tests.support.server import serving

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    pytest.skip(f"the browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)",
                allow_module_level=True)

from playwright.sync_api import Page, expect  # noqa: E402
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402

from digitrec_core import ModelStore, PersonalDigits, canvas_to_mnist  # noqa: E402
from digitrec_core.serving.runtime import ONNX_FILE, seal  # noqa: E402
from digitrec_core.store import ACTIVE_FILE, META_FILE, SHIPPED_DIR  # noqa: E402
from tests.support.console import SUPERSEDED_MEDIA  # noqa: E402
from tests.support.onnx_models import onnx_classifier  # noqa: E402

expect.set_options(timeout=20_000)

SCREENSHOTS = Path(os.environ.get("DIGITREC_SCREENSHOTS") or Path(tempfile.gettempdir()) / "digitrec-screenshots")
FALLBACK_WARNING = "DigitRec: the model cannot run in this page, the server classifies instead:"
# digitrec/web/classifier.js's NOT_PROBABILITIES: what the panel says of a model answering NaN, inf or 1e33
NOT_PROBABILITIES = ("This model gives outputs that are not probabilities (NaN, infinite or outside 0 to 1): its file "
                     "is damaged; choose another model or train a new one.")
PHONE = {"width": 390, "height": 844}  # an iPhone 12-15's CSS viewport
DESKTOP = {"width": 1280, "height": 900}  # a laptop's
# Streamlit closes its sidebar after a page is chosen only on a mobile user agent
PHONE_AGENT = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0 "
               "Mobile Safari/537.36")

# Every message the page sends on its websocket, base64, with when (performance.now()): installed before the
# page's own scripts run, so the first one is recorded too.
RECORD_SENT = """
(() => {
  const sent = (window.__sent = []);
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    let bytes = null;
    if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
    else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    let text = "";
    for (let i = 0; bytes && i < bytes.length; i += 0x8000) {
      text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    sent.push({ at: performance.now(), b64: bytes ? btoa(text) : null, text: bytes ? null : String(data) });
    return send.apply(this, arguments);
  };
})();
"""

# While the pen moves: each change of the live panel's `Prediction: d` (null when hidden), whether the mouse
# button was down then, and the time of the mouse-up, recorded at every animation frame.
WATCH_PREDICTION = """() => {
  const w = (window.__watch = { down: false, upAt: null, seen: [] });
  addEventListener("mousedown", () => { w.down = true; }, true);
  addEventListener("mouseup", () => { w.down = false; w.upAt = performance.now(); }, true);
  let heading = null;
  const find = () => {
    for (const e of document.querySelectorAll("*")) {
      const h = e.shadowRoot && e.shadowRoot.querySelector("h2.dr-prediction");
      if (h) return h;
    }
    return null;
  };
  const look = () => {
    if (!heading || !heading.isConnected) heading = find();
    const text = heading && heading.checkVisibility() ? heading.textContent : null;
    const last = w.seen[w.seen.length - 1];
    if (!last || last.text !== text) w.seen.push({ text, down: w.down, at: performance.now() });
    requestAnimationFrame(look);
  };
  look();
}"""


# ---- fixtures -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def store_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("digitrec_live_home")


@pytest.fixture(scope="module")
def server(store_dir):
    yield from serving(Server(ROOT, ["--server.fileWatcherType", "none"], home=store_dir))


@pytest.fixture(scope="module")
def no_wasm_browser(browser):
    """A second chromium, with no WebAssembly in its pages: the Draw page falls back to the server."""
    b = launch_without_wasm(browser.browser_type)
    yield b
    b.close()


class Visit:
    """One visitor's page (a browser context of its own) with what went wrong in it."""

    def __init__(self, browser, url: str, *, fallback: bool = False, **context):
        self.context = browser.new_context(**({"viewport": VIEWPORT} | context))
        self.context.add_init_script(RECORD_SENT)
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.fallback = fallback
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.goto(url + "/")
        expect(self.page.get_by_test_id("stSidebar").get_by_text("Active model")).to_be_visible(timeout=60_000)

    def _console(self, m) -> None:
        where = m.location.get("url", "")
        if m.type == "error":
            self.errors.append(f"console.error: {m.text} ({where})")
        elif m.type == "warning" and m.text.startswith("DigitRec"):
            self.warnings.append(m.text)

    def close(self) -> None:
        try:
            errors = [e for e in self.errors if not SUPERSEDED_MEDIA.match(e)]
            if errors != self.errors:  # a superseded image is only fine when every image shown has loaded
                broken = self.page.evaluate(
                    "() => [...document.querySelectorAll('[data-testid=stApp] img')]"
                    ".filter(i => !(i.complete && i.naturalWidth)).map(i => i.src)")
                errors += [f"an image never loaded: {src}" for src in broken]
        finally:
            self.context.close()
        if self.fallback:
            assert self.warnings and all(w.startswith(FALLBACK_WARNING) for w in self.warnings), self.warnings
        else:
            errors += [f"console.warn: {w}" for w in self.warnings]
        assert not errors, "browser errors:\n" + "\n".join(errors)


@pytest.fixture
def visit(browser, server):
    """A fresh page on the Draw page, its model running in the browser and its canvas taking the pen."""
    v = Visit(browser, server.url)
    yield v
    v.close()


# ---- helpers ----------------------------------------------------------------------------------------------

def open_draw(page: Page) -> str:
    """Go to Draw (through the sidebar, opened first on a phone, where it starts closed); wait until its model
    runs in the page and the pen is live. The model's name."""
    link = page.get_by_test_id("stSidebarNav").get_by_role("link", name="Draw", exact=True)
    if not link.is_visible() or not in_view(link.bounding_box(), page.viewport_size):
        page.get_by_test_id("stExpandSidebarButton").click()
        expect(link).to_be_in_viewport()
    click_page(page, "Draw")
    expect(main_area(page).get_by_role("heading", level=1)).to_contain_text("Draw", timeout=60_000)
    name = wait_live(page)
    expect(live_panel(page).locator(".dr-empty")).to_have_text("Draw a digit")
    page.locator(CANVAS).scroll_into_view_if_needed()  # a phone's screen shows the page's top alone
    wait_drawable(page)
    return name


def sent(page: Page, since: int = 0) -> list[BackMsg]:
    """The messages the page has sent on its websocket (from the `since`th on), decoded."""
    out = []
    for m in page.evaluate("() => window.__sent")[since:]:
        assert m["b64"] is not None, f"a text message on the websocket: {m['text'][:200]!r}"
        msg = BackMsg()
        msg.ParseFromString(base64.b64decode(m["b64"]))
        out.append(msg)
    return out


def n_sent(page: Page) -> int:
    return page.evaluate("() => window.__sent.length")


def widget_values(msg: BackMsg) -> dict[str, str]:
    return {w.id: w.SerializeToString().hex() for w in msg.rerun_script.widget_states.widgets}


def reruns_asked(messages: list[BackMsg], baseline: BackMsg) -> list[str]:
    """The messages that asked the server for anything but the page's timed look at the active model (an
    automatic rerun of a fragment, every live.FOLLOW_SECONDS, with the widget values as they were before)."""
    asked = []
    for msg in messages:
        kind = msg.WhichOneof("type")
        timed = kind == "rerun_script" and msg.rerun_script.is_auto_rerun
        if not timed or widget_values(msg) != widget_values(baseline):
            asked.append(str(msg)[:600])
    return asked


def last_rerun(page: Page) -> BackMsg:
    """The page's last rerun request, once it has made a timed one: that one carries every widget's value (the
    page's first request, its navigation, carries none), the values later timed ones must repeat."""
    deadline = time.monotonic() + FOLLOW_SECONDS + 10
    while not any(m.rerun_script.is_auto_rerun for m in sent(page)):
        assert time.monotonic() < deadline, "the page never looked at the active model"
        page.wait_for_timeout(200)
    return [m for m in sent(page) if m.WhichOneof("type") == "rerun_script"][-1]


def acts(messages: list[BackMsg]) -> list[dict]:
    """The live panel's `act` triggers (Right, It's a …, Undo, Why this answer?) in these messages."""
    found = []
    for msg in messages:
        for w in msg.rerun_script.widget_states.widgets:
            if w.WhichOneof("value") == "json_trigger_value":
                found += [e["value"] for e in json.loads(w.json_trigger_value) if e.get("event") == "act"]
    return found


def seen_pixels(page: Page) -> np.ndarray:
    """The 28x28 the live panel shows ("What the model sees"), as 0-255 grey levels."""
    rgba = live_panel(page).locator("canvas.dr-seen").evaluate(
        "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)")
    return np.asarray(rgba, np.float64).reshape(28, 28, 4)[..., 0]


def buttons(page: Page):
    """The live panel's Right, Undo, and the ten "or it's a …" digits."""
    panel = live_panel(page)
    return (panel.get_by_role("button", name="Right", exact=True), panel.get_by_role("button", name="Undo"),
            panel.get_by_role("group", name="or it's a …").get_by_role("button"))


def saved_note(page: Page, label: int | None = None):
    digit = r"\d" if label is None else str(label)
    text = re.compile(rf"^Saved to My digits as a {digit}\b")
    return live_panel(page).locator(".dr-saved").filter(has_text=text, visible=True)


def expect_prediction(page: Page, digit: int, timeout: float = 30_000) -> dict:
    """Wait for `Prediction: digit`, and for the panel to be done with the stroke; what it shows then."""
    expect(shown_prediction(page)).to_have_text(f"Prediction: {digit}", timeout=timeout)
    shown = wait_live_settled(page)
    expect(shown_prediction(page)).to_have_text(f"Prediction: {digit}")
    assert shown is not None and shown["digit"] == digit and shown["flagged"] is False, shown
    return shown


def new_samples(digits: PersonalDigits, before: set[str]) -> list:
    return [s for s in digits.samples() if s.id not in before]


def in_view(box: dict | None, view: dict) -> bool:
    return (box is not None and box["width"] > 0 and box["height"] > 0
            and 0 <= box["x"] and box["x"] + box["width"] <= view["width"]
            and 0 <= box["y"] and box["y"] + box["height"] <= view["height"])


# ---- tests ------------------------------------------------------------------------------------------------

def test_a_slow_stroke_is_classified_while_drawn_and_the_server_hears_of_it_only_from_a_button(visit):
    page = visit.page
    open_draw(page)
    box = canvas_box(page)
    page.evaluate(WATCH_PREDICTION)
    baseline, start = last_rerun(page), n_sent(page)

    # A seven, slowly: the bar, then the stem, the button held down all along (about 3 s).
    (x0, y0), (x1, y1), (x2, y2) = SEVEN
    page.mouse.move(box["x"] + x0, box["y"] + y0)
    page.mouse.down()
    for k in range(1, 21):
        page.mouse.move(box["x"] + x0 + (x1 - x0) * k / 20, box["y"] + y0 + (y1 - y0) * k / 20)
        page.wait_for_timeout(40)
    page.wait_for_function("() => window.__watch.seen.some(s => s.down && s.text)", timeout=10_000)
    for k in range(1, 31):
        page.mouse.move(box["x"] + x1 + (x2 - x1) * k / 30, box["y"] + y1 + (y2 - y1) * k / 30)
        page.wait_for_timeout(40)
    page.wait_for_function("() => window.__watch.seen.some(s => s.down && s.text === 'Prediction: 7')",
                           timeout=10_000)
    during = [s["text"] for s in page.evaluate("() => window.__watch.seen") if s["down"] and s["text"]]
    assert len(set(during)) >= 2, f"the prediction did not change while the pen moved: {during}"
    assert not reruns_asked(sent(page, start), baseline), "the page sent the server something mid-stroke"
    pen_ups = len(page.evaluate("() => window.digitrecLive.penUps"))
    page.mouse.up()

    expect_prediction(page, 7)
    page.wait_for_function(f"() => window.digitrecLive.penUps.length > {pen_ups}", timeout=10_000)  # the final one
    page.wait_for_timeout(1_000)  # the old path's canvas sent its drawing 200 ms after mouse-up
    asked = reruns_asked(sent(page, start), baseline)
    assert not asked, "the page sent the server something for a stroke:\n" + "\n\n".join(asked)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)

    shown = live_shown(page)
    right, _, _ = buttons(page)
    right.click()
    expect(saved_note(page, 7)).to_be_visible()
    asked = acts(sent(page, start))
    assert [(a["kind"], a["drawing"], a["predicted"]) for a in asked] == [("right", shown["drawing"], 7)], asked


def test_right_keeps_the_28x28_seen_once_undo_and_its_a_and_a_new_drawing(visit, store_dir: Path):
    page = visit.page
    model = open_draw(page)
    digits = PersonalDigits(store_dir)
    before = {s.id for s in digits.samples()}
    right, undo, its_a = buttons(page)
    expect(its_a).to_have_count(0)  # no drawing, no buttons
    stroke(page, SEVEN)
    shown = expect_prediction(page, 7)
    expect(its_a).to_have_text([str(d) for d in range(10)])
    seen = seen_pixels(page)
    start = n_sent(page)

    right.dblclick()  # a double click: its second click must store nothing more
    expect(saved_note(page, 7)).to_be_visible()
    expect(right).to_have_count(0)  # hidden, with the ten digits: nothing more to click for this drawing
    expect(its_a).to_have_count(0)
    script_done(page)
    sample, = new_samples(digits, before)
    assert (sample.label, sample.predicted, sample.model) == (7, 7, model)
    assert sample.probability == pytest.approx(shown["probability"], abs=1e-6)
    stored = digits.digit(sample.id)
    sent_acts = acts(sent(page, start))
    assert sent_acts and all(a["kind"] == "right" and a["drawing"] == shown["drawing"] for a in sent_acts), sent_acts
    drawn = np.asarray(sent_acts[0]["digit"], np.float64).reshape(28, 28)
    assert np.abs(stored - drawn).max() <= 0.5 / 65535 + 1e-9, "the stored 28x28 is not the one the page classified"
    assert np.abs(np.round(stored * 255) - seen).max() <= 1, "the stored 28x28 is not the one the user saw"
    assert np.abs(stored - seen / 255).max() <= 0.5 / 255 + 1 / 65535
    raw = digits.raw(sample.id)
    assert raw.shape == (280, 280, 4)  # the canvas as drawn, and the very pixels the 28x28 came from:
    assert np.abs(canvas_to_mnist(raw) - stored).max() <= 0.5 / 65535 + 1e-6

    n = n_sent(page)
    page.keyboard.press("r")  # Streamlit's rerun key: a whole rerun stores nothing again
    page.wait_for_function(f"() => window.__sent.length > {n}", timeout=10_000)
    assert not acts(sent(page, n)), "a rerun sent the Right again"
    script_done(page)
    expect(saved_note(page, 7)).to_be_visible()
    assert len(new_samples(digits, before)) == 1

    undo.click()
    expect(saved_note(page)).to_have_count(0)
    expect(right).to_be_visible()
    expect(its_a).to_have_count(10)
    script_done(page)
    assert not new_samples(digits, before)

    its_a.filter(has_text=re.compile(r"^3$")).click()  # "It's a 3"
    expect(saved_note(page, 3)).to_be_visible()
    script_done(page)
    sample, = new_samples(digits, before)
    assert (sample.label, sample.predicted) == (3, 7)
    assert np.abs(digits.digit(sample.id) - drawn).max() <= 0.5 / 65535 + 1e-9

    press_clear(page)  # the note goes with the drawing; a new drawing is classified and gets the buttons
    expect(saved_note(page)).to_have_count(0)
    expect(live_panel(page).locator(".dr-empty")).to_be_visible()
    stroke(page, ONE)
    expect_prediction(page, 1)
    expect(saved_note(page)).to_have_count(0)
    expect(right).to_be_visible()
    expect(its_a).to_have_count(10)
    assert [s.id for s in new_samples(digits, before)] == [sample.id]
    digits.remove(sample.id)  # the store as it was


def why(page: Page, digit: int):
    """Press "Why this answer?"; the explanation's box, once it shows the evidence for `digit`."""
    box = main_area(page).locator(".st-key-live_why")
    live_panel(page).get_by_role("button", name="Why this answer?").click()
    expect(box.locator(f"img[alt='evidence for {digit}']")).to_be_visible(timeout=30_000)
    expect(box.locator(f"img[alt^='why {digit} and not ']")).to_be_visible()
    script_done(page)
    return box


def test_why_this_answer_explains_the_drawing_shown(visit):
    page = visit.page
    open_draw(page)
    stroke(page, SEVEN)
    expect_prediction(page, 7)
    expect(main_area(page).locator(".st-key-live_why")).to_have_count(0)  # nothing explained before it is asked
    box = why(page, 7)
    expect(box.get_by_test_id("stExpander")).to_have_count(1)
    expect(box.locator("details")).to_have_attribute("open", "")  # open at once: it was asked for

    press_clear(page)
    stroke(page, ONE)
    expect_prediction(page, 1)
    box = why(page, 1)
    expect(box.locator("img[alt^='evidence for 7']")).to_have_count(0)


def test_an_explanation_goes_when_the_drawing_changes(visit):
    """The explanation is of one drawing: more ink, Clear or a new digit must not leave it under another answer."""
    page = visit.page
    open_draw(page)
    stroke(page, SEVEN)
    expect_prediction(page, 7)
    box = why(page, 7)

    def gone(after: str) -> None:
        try:
            expect(box).to_be_hidden(timeout=5_000)
        except AssertionError:
            shown = live_shown(page)
            now = f"Prediction: {shown['digit']} (drawing {shown['drawing']})" if shown else "Draw a digit"
            raise AssertionError(f"the explanation of the 7 stayed on screen after {after}, the panel showing "
                                 f"{now}") from None

    stroke(page, [(60, 150), (220, 150)])  # more ink: another drawing
    wait_live_settled(page)
    gone("more ink")
    press_clear(page)
    script_done(page)
    gone("Clear")
    stroke(page, ONE)
    expect_prediction(page, 1)
    gone("a new digit (a 1)")


def test_a_browser_without_webassembly_is_classified_on_the_server(no_wasm_browser, server):
    v = Visit(no_wasm_browser, server.url, fallback=True)
    try:
        page = v.page
        main = main_area(page)
        click_page(page, "Draw")
        expect(main.get_by_text(re.compile(r"^Classified on the server: this browser cannot run the model "
                                           r"\(this browser runs no WebAssembly\)\.$"))).to_be_visible(timeout=60_000)
        expect(main.get_by_test_id("stAlert").filter(has_text="Draw a digit")).to_be_visible()
        expect(main.locator(".dr-live")).to_have_count(0)
        assert page.evaluate("() => window.digitrecLive.mode") == "server"
        stroke(page, SEVEN)
        expect(prediction(page)).to_have_text("Prediction: 7", timeout=30_000)
        expect(main.get_by_role("heading", name="Prediction: 7", level=2)).to_be_visible()  # the server's markdown
        expect(main.locator(".st-key-draw_right").get_by_role("button", name="Right")).to_be_visible()
        assert page.evaluate("() => window.digitrecLive.shown") is None
    finally:
        v.close()


def phone_visit(browser, server) -> Visit:
    """A phone's visit: 390x844 at 3x, touch, a mobile Chrome's user agent."""
    agent = PHONE_AGENT.format(major=browser.version.split(".")[0])
    return Visit(browser, server.url, viewport=PHONE, has_touch=True, is_mobile=True, device_scale_factor=3,
                 user_agent=agent)


def test_on_a_phone_the_canvas_fits_a_finger_draws_and_the_answer_is_on_screen(browser, server):
    v = phone_visit(browser, server)
    try:
        page = v.page
        open_draw(page)
        expect(page.get_by_test_id("stSidebar")).not_to_be_in_viewport()  # closed again once Draw was chosen
        box = canvas_box(page)
        assert 0 <= box["x"] and box["x"] + box["width"] <= PHONE["width"], f"the canvas is off the screen: {box}"
        page.locator(CANVAS).scroll_into_view_if_needed()
        box = canvas_box(page)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "phone_draw_empty.png"))
        scrolled = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollTop")

        touch_stroke(page, box, SEVEN)
        expect_prediction(page, 7)
        assert page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollTop") == scrolled, \
            "the finger scrolled the page instead of drawing"
        right, _, its_a = buttons(page)
        for part in (shown_prediction(page), right, its_a.first, its_a.last):
            assert in_view(part.bounding_box(), PHONE), f"off screen after drawing: {part} at {part.bounding_box()}"
        sheet = live_panel(page).locator(".dr-sheet").bounding_box()  # the answer, over the page's foot
        drawn = canvas_box(page)
        assert drawn["y"] + drawn["height"] <= sheet["y"], f"the answer covers the drawing: {drawn}, {sheet}"
        page.screenshot(path=str(SCREENSHOTS / "phone_draw.png"))

        press_clear(page)
        expect(shown_prediction(page)).to_have_count(0)
        touch_stroke(page, canvas_box(page), ONE)
        expect_prediction(page, 1)
    finally:
        v.close()


def broken_on_ink(weight: float) -> bytes:
    """An ONNX digit classifier giving 0.1 ten times for a blank image (the server's probe at load passes) and
    far more than 1 for any ink: every weight `weight` (tests/test_serving.py's constant classifier, its weights
    changed); 1e38 makes it +inf."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(onnx_classifier(0.1))
    weights = next(t for t in model.graph.initializer if t.name == "weights")
    weights.CopyFrom(numpy_helper.from_array(np.full((784, 10), weight, np.float32), "weights"))
    return model.SerializeToString()


ON_INK = {"inf": 1e38, "1e33": 1e31}  # what a model answers for ink: the weight giving it


@pytest.fixture(params=list(ON_INK))
def broken_model_active(request, store_dir: Path):
    """`broken_on_ink` stored (sealed, beside the shipped model's other files) and active in the module's store,
    for one test; the store as it was afterwards."""
    name = f"{request.param}-on-ink"
    with shipped_copy_active(store_dir, name, onnx=seal(broken_on_ink(ON_INK[request.param]))):
        yield name


@contextlib.contextmanager
def shipped_copy_active(store_dir: Path, name: str, *, onnx: bytes | None = None, **meta):
    """The shipped model's files copied into the module's store as `name` (its ONNX replaced by `onnx`, its
    meta.json's fields by `meta`) and active there for the block; the store as it was afterwards."""
    folder = store_dir / "models" / name
    shutil.copytree(SHIPPED_DIR, folder)
    shipped = json.loads((folder / META_FILE).read_text())
    (folder / META_FILE).write_text(json.dumps({**shipped, **meta, "name": name}))
    if onnx is not None:
        (folder / ONNX_FILE).write_bytes(onnx)
    active = store_dir / ACTIVE_FILE
    was = active.read_bytes() if active.exists() else None
    ModelStore(store_dir).activate(name)
    try:
        yield
    finally:
        if was is None:
            active.unlink(missing_ok=True)
        else:
            active.write_bytes(was)
        shutil.rmtree(folder)


def test_a_model_answering_inf_or_1e33_is_said_in_a_sentence_never_nan_percent(broken_model_active, browser, server):
    """A model whose file is sound but whose numbers are not probabilities (a blank image passes the server's probe
    at load): the page's own classifier says so in one sentence where the answer goes, never `NaN%` or a 34-digit
    percentage, and neither falls back to the server nor sends it the stroke."""
    v = Visit(browser, server.url)
    try:
        page = v.page
        assert open_draw(page) == broken_model_active  # it loads: a blank image gives probabilities
        baseline, start = last_rerun(page), n_sent(page)
        panel = live_panel(page)
        empty = panel.locator(".dr-empty")

        stroke(page, SEVEN)
        expect(empty).to_have_text(NOT_PROBABILITIES, timeout=30_000)
        page.wait_for_timeout(1_000)  # the canvas paints the finished stroke again: read again, still no answer
        expect(empty).to_have_text(NOT_PROBABILITIES)
        expect(empty).to_have_class(re.compile(r"\bdr-error\b"))
        status = panel.locator(".dr-status")  # not "Classified in your browser by ...": nothing was
        expect(status).to_have_text(f"{broken_model_active} could not classify this drawing.")
        expect(panel.locator(".dr-result")).to_be_hidden()
        expect(shown_prediction(page)).to_have_count(0)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{broken_model_active}.png"))
        text = panel.inner_text()
        rest = text.replace(NOT_PROBABILITIES, "")  # which says "NaN" itself, as a cause
        for bad in ("NaN", "Infinity", "%", "Prediction", "probability"):
            assert bad not in rest, f"the live panel shows {bad!r}: {text!r}"
        assert "NaN" not in page.locator("body").inner_text()  # the rest of the page (the panel is a shadow root)
        assert live_shown(page) is None
        # Still the page's own classifier: no fallback to the server, nothing sent for the stroke.
        assert page.evaluate("() => window.digitrecLive.mode") == "browser"
        asked = reruns_asked(sent(page, start), baseline)
        assert not asked, "the page sent the server something for a stroke:\n" + "\n\n".join(asked)

        press_clear(page)  # an empty canvas is not classified: nothing wrong to say of it
        expect(empty).to_have_text("Draw a digit")
        expect(empty).not_to_have_class(re.compile(r"\bdr-error\b"))
        expect(status).to_have_text(f"Classified in your browser by {broken_model_active}, as you draw.")
    finally:
        v.close()  # fails on a console error, a page exception or the fallback's warning


# ---- "Not a digit" ----------------------------------------------------------------------------------------

# What people draw that is no digit, as pen strokes in canvas pixels (a stroke of one point is a click).
DOT = [[(140, 140)]]
SCRIBBLE = [[(float(x), float(y)) for x, y in np.random.default_rng(20).uniform(40, 240, (12, 2)).round(1)]]
LETTER_K = [[(90, 50), (90, 230)], [(200, 50), (95, 140), (200, 230)]]
NOT_DIGITS = {"a dot": DOT, "a scribble": SCRIBBLE, "a K": LETTER_K}


@pytest.fixture
def flagging_model(store_dir: Path) -> str:
    """The active model's name: the shipped one, which reads non-digits as "Not a digit" at its own threshold."""
    shipped = json.loads((SHIPPED_DIR / META_FILE).read_text())
    assert shipped.get("digit_threshold") is not None, "the shipped model has no digit_threshold: it flags nothing"
    return shipped["name"]


def draw(page: Page, strokes: list[list[tuple[float, float]]]) -> None:
    for points in strokes:
        stroke(page, points)


def its_a_buttons(page: Page):
    """The ten digits offered for a drawing read as "Not a digit" (no "or": Right is not offered)."""
    return live_panel(page).get_by_role("group", name="It's a …", exact=True).get_by_role("button")


def expect_not_a_digit(page: Page, timeout: float = 30_000) -> dict:
    """Wait for "Not a digit", and for the panel to be done with the drawing; check what goes with it (what it
    looks most like in small print, no runner-up warning, no Right, It's a …); what it shows."""
    panel = live_panel(page)
    heading = panel.locator("h2.dr-prediction").filter(visible=True)
    expect(heading).to_have_text("Not a digit", timeout=timeout)
    shown = wait_live_settled(page)
    expect(heading).to_have_text("Not a digit")
    assert shown is not None and shown["flagged"] is True, shown
    expect(panel.locator(".dr-probability")).to_have_text(
        f"Looks most like {a_digit(shown['digit'])} ({shown['probability']:.0%})")
    expect(panel.locator(".dr-unsure")).to_be_hidden()
    right, _, _ = buttons(page)
    expect(right).to_be_hidden()
    expect(its_a_buttons(page)).to_have_text([str(d) for d in range(10)])
    expect(panel.locator("canvas.dr-seen")).to_be_visible()  # what the model saw and its ten bars, still
    expect(panel.locator(".dr-chart")).to_be_visible()
    return shown


@pytest.mark.parametrize("drawing", list(NOT_DIGITS))
def test_a_dot_a_scribble_and_a_letter_read_not_a_digit_and_its_a_stores_them(drawing, flagging_model, visit,
                                                                              store_dir: Path):
    page = visit.page
    page.set_viewport_size(DESKTOP)
    assert open_draw(page) == flagging_model
    digits = PersonalDigits(store_dir)
    before = {s.id for s in digits.samples()}
    start = n_sent(page)
    draw(page, NOT_DIGITS[drawing])
    shown = expect_not_a_digit(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"not_a_digit_{drawing.split()[-1]}.png"))

    its_a_buttons(page).filter(has_text=re.compile(r"^7$")).click()  # the user knows it for a 7 of theirs
    expect(saved_note(page, 7)).to_be_visible()
    script_done(page)
    sample, = new_samples(digits, before)
    assert (sample.label, sample.predicted, sample.model) == (7, shown["digit"], flagging_model)
    assert sample.probability == pytest.approx(shown["probability"], abs=1e-6)
    assert [(a["kind"], a["drawing"], a["label"]) for a in acts(sent(page, start))] == [
        ("label", shown["drawing"], 7)]
    digits.remove(sample.id)  # the store as it was


def test_a_digit_drawn_after_a_scribble_reads_as_its_digit_with_right(flagging_model, visit):
    page = visit.page
    open_draw(page)
    draw(page, SCRIBBLE)
    expect_not_a_digit(page)
    press_clear(page)
    for digit, points in ((1, ONE), (7, SEVEN)):
        stroke(page, points)
        expect_prediction(page, digit)
        right, _, its_a = buttons(page)  # "or it's a …" again, after Right
        expect(right).to_be_visible()
        expect(its_a).to_have_count(10)
        expect(live_panel(page).locator(".dr-probability")).to_have_text(re.compile(r"^probability \d+\.\d%$"))
        press_clear(page)
        expect(shown_prediction(page)).to_have_count(0)


def test_on_a_phone_not_a_digit_and_its_a_are_on_screen(flagging_model, browser, server):
    v = phone_visit(browser, server)
    try:
        page = v.page
        open_draw(page)
        page.locator(CANVAS).scroll_into_view_if_needed()
        touch_stroke(page, canvas_box(page), SCRIBBLE[0])
        expect_not_a_digit(page)
        panel = live_panel(page)
        for part in (panel.locator("h2.dr-prediction"), panel.locator(".dr-probability"), its_a_buttons(page).first,
                     its_a_buttons(page).last):
            assert in_view(part.bounding_box(), PHONE), f"off screen: {part} at {part.bounding_box()}"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "phone_not_a_digit.png"))
    finally:
        v.close()
