// The Draw page's live classifier: reads the drawable canvas's pixels while the pen moves, prepares them as
// canvas_to_mnist does (preprocess.js) and runs the model in the page (classifier.js), at most once per
// animation frame. The server hears of a drawing only when the user acts on it (Right, It's a ..., Why this
// answer?): then the drawing (its PNG and the 28x28 the user saw) goes with the action, as a trigger.
//
// Python side: digitrec_app/ui/live.py, which documents the data, state and triggers exchanged.

import { canvasToMnist, SIZE } from "./preprocess.js";
import { Classifier, cachedModel, keepModel, notADigit, startRuntime, startup } from "./classifier.js";

const SEEN_PX = 168; // the 28x28 shown at 6x
const SETTLE_FRAMES = 12; // frames sampled after the pen or a click: the canvas renders a finished stroke late
const PAGE = Math.random().toString(36).slice(2, 8); // drawings of this page load: "<PAGE>-<n>"
const RECORDED = 2000; // frames kept in window.digitrecLive for the benchmarks and tests
const SEND_LABEL = "Update the app with this drawing"; // streamlit-drawable-canvas 0.13's toolbar
const ASK_AGAIN_MS = 8000; // a model's bytes asked for and not come (a rerun lost): ask again

// What the benchmarks and the browser tests read: timings, never anything the page depends on.
const record = (window.digitrecLive ??= { startup, frames: [], penUps: [], shown: null, mode: "loading" });

const instances = new WeakMap();
const sessions = new Map(); // sha -> Classifier, for the page's life: a model switched back to, or a Draw page
// visited again, is ready at once

export default function (component) {
  const { parentElement } = component;
  let live = instances.get(parentElement);
  if (!live) {
    live = new LiveDraw(parentElement);
    instances.set(parentElement, live);
  }
  live.update(component);
  return () => {
    live.dispose();
    instances.delete(parentElement);
  };
}

class LiveDraw {
  constructor(parent) {
    this.root = parent.querySelector(".dr-live") ?? parent.appendChild(document.createElement("div"));
    this.root.className = "dr-live";
    this.ui = build(this.root, (action, label) => this.act(action, label));
    this.classifier = null;
    this.sha = null;
    this.opening = null;
    this.waiting = null;
    this.need = 0;
    this.checksum = null;
    this.drawing = null; // the id of what is on the canvas
    this.changedByUser = false;
    this.shown = null; // {digit, probs, top} as on screen
    this.count = 0;
    this.raf = 0;
    this.frames = 0;
    this.busy = false;
    this.next = null;
    this.penDown = false;
    this.penUpAt = null;
    this.hold = 0;
    this.scratch = document.createElement("canvas");
    this.whyStyle = document.head.appendChild(document.createElement("style"));
    this.onEvent = (e) => this.event(e);
    for (const type of ["pointerdown", "pointermove", "pointerup", "pointercancel", "click", "keydown"]) {
      document.addEventListener(type, this.onEvent, true); // capture: before the canvas's own handlers
    }
  }

  dispose() {
    for (const type of ["pointerdown", "pointermove", "pointerup", "pointercancel", "click", "keydown"]) {
      document.removeEventListener(type, this.onEvent, true);
    }
    cancelAnimationFrame(this.raf);
    clearTimeout(this.askAgain);
    this.whyStyle.remove();
  }

  update({ data, setStateValue, setTriggerValue }) {
    this.data = data;
    this.setStateValue = setStateValue;
    this.setTriggerValue = setTriggerValue;
    this.loadModel(data.model);
    this.render();
    this.showWhy();
    this.schedule();
  }

  // ---- the model ----------------------------------------------------------------------------------------

  loadModel(model) {
    const sha = model.sha;
    if (sha !== this.sha) {
      this.sha = sha;
      this.classifier = sessions.get(sha) ?? null;
      this.checksum = null; // classify what is on the canvas with this model
    }
    if (this.classifier || (this.opening === sha && !(model.bytes && this.waiting === sha))) return;
    this.opening = sha;
    this.open(model).then(
      (classifier) => {
        if (!classifier) return; // the server was asked for the bytes: the next update brings them
        sessions.set(sha, classifier);
        this.opening = null;
        if (this.sha !== sha) return;
        this.classifier = classifier;
        record.mode = "browser";
        record.model = { name: model.name, sha, loadMs: classifier.loadMs };
        this.checksum = null;
        this.render();
        this.schedule();
      },
      (error) => {
        this.opening = null;
        this.fallback(error, sha);
      },
    );
  }

  /** The model's session: its bytes from the cache, or from the server (asked for until they come). */
  async open(model) {
    const tStart = performance.now();
    await startRuntime(this.data.ort).catch((error) => {
      throw Object.assign(error, { scope: "runtime" });
    });
    let bytes = await cachedModel(model.sha);
    record.startup.modelCached = Boolean(bytes);
    if (!bytes && model.bytes) {
      bytes = Uint8Array.from(atob(model.bytes), (c) => c.charCodeAt(0));
      keepModel(model.sha, bytes);
    }
    if (!bytes) {
      this.ask(model.sha);
      return null;
    }
    this.waiting = null;
    const classifier = await Classifier.create(bytes);
    record.startup.readyMs = performance.now() - tStart;
    return classifier;
  }

  ask(sha) {
    this.waiting = sha;
    this.setStateValue("need", { sha, n: ++this.need });
    clearTimeout(this.askAgain);
    this.askAgain = setTimeout(() => this.waiting === sha && this.sha === sha && this.ask(sha), ASK_AGAIN_MS);
  }

  fallback(error, sha) {
    const reason = String(error?.message ?? error);
    record.mode = "server";
    record.error = reason;
    console.warn("DigitRec: the model cannot run in this page, the server classifies instead:", reason);
    this.setStateValue("fallback", { sha: error?.scope === "runtime" ? "*" : sha, reason });
  }

  // ---- the canvas ---------------------------------------------------------------------------------------

  canvases() {
    const host = document.querySelector(`.st-key-${CSS.escape(this.data.canvas)} [data-testid=stBidiComponentIsolated]`);
    const root = host?.shadowRoot;
    // Three layers: a background image (empty here), the finished strokes on the background colour, the stroke
    // in progress. Fabric marks the first two "lower-canvas" alike; the component's own classes tell them apart.
    const lower = root?.querySelector("canvas.dc-canvas");
    if (!lower) return null;
    if (!root.querySelector("style[data-digitrec-live]")) {
      // The toolbar's "Update the app with this drawing" would send what this page reads itself: not offered.
      const style = root.appendChild(document.createElement("style"));
      style.dataset.digitrecLive = "";
      style.textContent = `button[aria-label="${SEND_LABEL}"] { display: none; }`;
    }
    return { host, background: root.querySelector("canvas.dc-background-canvas"), lower, upper: root.querySelector("canvas.upper-canvas") };
  }

  event(e) {
    const found = this.canvases();
    const onCanvas = found && e.composedPath().includes(found.host);
    if (e.type === "pointerdown" && onCanvas) this.penDown = true;
    // Every change the user makes to the canvas starts with a press: a stroke, Clear, the toolbar, a key.
    if ((e.type === "pointerdown" || e.type === "keydown") && !e.composedPath().includes(this.root)) {
      this.changedByUser = true;
    }
    if ((e.type === "pointerup" || e.type === "pointercancel") && this.penDown) {
      this.penDown = false;
      this.penUpAt = performance.now();
      this.sample(); // the stroke is still whole on the upper canvas: the final answer, now
      // Then the canvas empties its upper layer at once and paints the stroke on the lower one at its next
      // frame: a frame read in between would show no stroke at all.
      this.hold = 2;
    }
    if (onCanvas || e.type === "click" || e.type === "keydown" || this.penDown) this.schedule();
  }

  schedule(frames = SETTLE_FRAMES) {
    this.frames = Math.max(this.frames, frames);
    if (!this.raf) this.raf = requestAnimationFrame(() => this.tick());
  }

  tick() {
    this.raf = 0;
    if (this.hold > 0) this.hold -= 1;
    else this.sample();
    this.frames -= 1;
    if (this.penDown || this.frames > 0) this.raf = requestAnimationFrame(() => this.tick());
  }

  /** Read the canvas; when it changed, classify it, or, while a classification runs, keep it for right after
   * (only the latest: nothing queues behind the pen). */
  sample() {
    if (!this.classifier) return;
    const found = this.canvases();
    if (!found) return;
    const { background, lower, upper } = found;
    const w = lower.width, h = lower.height;
    if (this.scratch.width !== w || this.scratch.height !== h) Object.assign(this.scratch, { width: w, height: h });
    const ctx = this.scratch.getContext("2d", { willReadFrequently: true });
    ctx.clearRect(0, 0, w, h);
    for (const layer of [background, lower, upper]) if (layer) ctx.drawImage(layer, 0, 0);
    const pixels = ctx.getImageData(0, 0, w, h).data;
    const sum = checksum(pixels);
    if (this.busy) {
      this.next = { pixels, w, h, sum };
      return;
    }
    if (sum === this.checksum) {
      if (this.penUpAt !== null && !this.penDown) this.penUpShown(this.penUpAt); // what is shown is final
      return;
    }
    this.classify(pixels, w, h, sum);
  }

  async classify(pixels, w, h, sum) {
    this.busy = true;
    this.checksum = sum;
    const penUp = this.penUpAt;
    try {
      const t0 = performance.now();
      const digit = canvasToMnist(pixels, w, h);
      const t1 = performance.now();
      const probs = digit && (await this.classifier.run(digit));
      const t2 = performance.now();
      if (record.frames.length >= RECORDED) record.frames.shift();
      const frame = { at: t2, preprocessMs: t1 - t0, modelMs: digit ? t2 - t1 : null, renderMs: null };
      record.frames.push(frame);
      // A new drawing when the user changed it (a stroke, Clear, Undo); the canvas painting a finished stroke
      // again after the pen lifts is the same drawing: a Right already given for it still holds.
      if (this.changedByUser || this.drawing === null) this.drawing = `${PAGE}-${++this.count}`;
      this.changedByUser = false;
      this.shown = digit ? { digit, probs, top: argmax(probs), pixels, w, h } : null;
      this.badOutput = null;
      this.render();
      this.showWhy();
      frame.renderMs = performance.now() - t2; // the answer on screen: text, bars, the 28x28 ("Not a digit" or not)
      if (penUp !== null && !this.penDown && this.penUpAt === penUp) this.penUpShown(penUp);
    } catch (error) {
      if (error?.scope !== "output") this.fallback(error, this.sha);
      else { // the server would say the same of this model: one sentence in place of the numbers, never NaN%
        this.shown = null;
        this.badOutput = error.message;
        this.render();
      }
    } finally {
      this.busy = false;
      const next = this.next;
      this.next = null;
      if (next && next.sum !== this.checksum) this.classify(next.pixels, next.w, next.h, next.sum);
      else if (next && this.penUpAt !== null && !this.penDown) this.penUpShown(this.penUpAt);
    }
  }

  penUpShown(penUp) {
    record.penUps.push(performance.now() - penUp);
    this.penUpAt = null;
  }

  // ---- what the user sees and does ------------------------------------------------------------------------

  render() {
    const { ui, data, shown } = this;
    ui.status.textContent = !this.classifier
      ? "Loading the model in your browser…"
      : this.badOutput
        ? `${data.model.name} could not classify this drawing.`
        : `Classified in your browser by ${data.model.name}, as you draw.`;
    ui.empty.hidden = Boolean(shown);
    setText(ui.empty, this.badOutput ?? "Draw a digit");
    ui.empty.classList.toggle("dr-error", Boolean(this.badOutput));
    ui.result.hidden = !shown;
    // Below the model's threshold, "Not a digit", as the server reads it: no Right, It's a … stays (the user may
    // know it for an unusual digit of theirs), the runner-up warning is for digits only.
    const flagged = Boolean(shown) && notADigit(shown.probs, data.threshold);
    record.shown = shown
      ? { drawing: this.drawing, digit: shown.top, probability: shown.probs[shown.top], flagged }
      : null;
    if (!shown) return;
    const { probs, top, digit } = shown;
    const order = [...probs.keys()].sort((a, b) => probs[b] - probs[a]);
    // Only what changed is touched: the same answer read again leaves the page as it is.
    setText(ui.prediction, flagged ? "Not a digit" : `Prediction: ${top}`);
    setText(ui.probability, flagged
      ? `Looks most like ${aDigit(top)} (${percent(probs[top], 0)})`
      : `probability ${percent(probs[top], 1)}`);
    ui.unsure.hidden = flagged || probs[top] >= data.unsure;
    setText(ui.unsure, `The model is unsure: it could also be ${aDigit(order[1])} (${percent(probs[order[1]], 0)}).`);
    ui.right.hidden = flagged;
    const itsA = flagged ? "It's a …" : "or it's a …";
    setText(ui.or, itsA);
    if (ui.digits.getAttribute("aria-label") !== itsA) ui.digits.setAttribute("aria-label", itsA);
    ui.right.title = `The model is right: keep this digit as ${aDigit(top)} in My digits`;
    const saved = data.saved && data.saved.drawing === this.drawing ? data.saved : null;
    ui.actions.hidden = Boolean(saved);
    ui.saved.hidden = !saved;
    if (saved) setText(ui.savedLabel, String(saved.label));
    ui.error.hidden = !(data.error && data.error.drawing === this.drawing);
    setText(ui.error, ui.error.hidden ? "" : data.error.message);
    drawDigit(ui.seen, digit);
    probs.forEach((p, d) => {
      ui.bars[d].bar.style.height = `${(p * 100).toFixed(1)}%`;
      ui.bars[d].bar.classList.toggle("top", d === top);
      setText(ui.bars[d].value, p >= 0.01 ? percent(p, 0) : "");
    });
  }

  /** The server's explanation is of one drawing: hidden once the canvas holds another. */
  showWhy() {
    // A style rule, not the box's own style: the server may render the box after this runs, or anew on a rerun.
    const stale = !(this.data.why && this.data.why === this.drawing);
    this.whyStyle.textContent = stale ? `.st-key-${CSS.escape(this.data.why_box)} { display: none !important; }` : "";
  }

  act(kind, label) {
    if (!this.shown) return;
    const { digit, probs, top, pixels, w, h } = this.shown;
    const payload = { kind, drawing: this.drawing, model: this.data.model.name, predicted: top, probability: probs[top] };
    if (kind !== "undo") {
      payload.label = kind === "right" ? top : label;
      payload.png = toPng(pixels, w, h); // the very pixels this prediction was made from
      payload.digit = Array.from(digit);
    }
    this.setTriggerValue("act", payload);
  }
}

// ---- pieces --------------------------------------------------------------------------------------------

function build(root, act) {
  root.innerHTML = `
    <p class="dr-status"></p>
    <div class="dr-empty">Draw a digit</div>
    <div class="dr-result" hidden>
      <div class="dr-sheet">
        <h2 class="dr-prediction"></h2>
        <p class="dr-probability"></p>
        <div class="dr-unsure" role="status"></div>
        <div class="dr-actions">
          <button type="button" class="dr-button dr-right">Right</button>
          <span class="dr-or">or it's a …</span>
          <div class="dr-digits" role="group" aria-label="or it's a …"></div>
        </div>
        <div class="dr-saved" role="status">Saved to My digits as a <b class="dr-saved-label"></b>
          <button type="button" class="dr-button dr-undo" title="Remove this digit from My digits">Undo</button></div>
        <div class="dr-error" role="alert"></div>
      </div>
      <div class="dr-views">
        <figure><canvas class="dr-seen" width="28" height="28" style="width:${SEEN_PX}px;height:${SEEN_PX}px"></canvas>
          <figcaption>What the model sees (28x28)</figcaption></figure>
        <div class="dr-chart" role="img" aria-label="the ten probabilities"></div>
      </div>
      <button type="button" class="dr-button dr-why">Why this answer?</button>
    </div>`;
  const q = (s) => root.querySelector(s);
  const digits = q(".dr-digits");
  for (let d = 0; d < 10; d++) {
    const b = digits.appendChild(document.createElement("button"));
    Object.assign(b, { type: "button", className: "dr-button dr-digit", textContent: String(d) });
    b.addEventListener("click", () => act("label", d));
  }
  const chart = q(".dr-chart");
  const bars = [];
  for (let d = 0; d < 10; d++) {
    const col = chart.appendChild(document.createElement("div"));
    col.className = "dr-col";
    col.innerHTML = `<span class="dr-value"></span><div class="dr-track"><div class="dr-bar"></div></div><span>${d}</span>`;
    bars.push({ bar: col.querySelector(".dr-bar"), value: col.querySelector(".dr-value") });
  }
  q(".dr-right").addEventListener("click", () => act("right"));
  q(".dr-undo").addEventListener("click", () => act("undo"));
  q(".dr-why").addEventListener("click", () => act("why"));
  return {
    status: q(".dr-status"), empty: q(".dr-empty"), result: q(".dr-result"), prediction: q(".dr-prediction"),
    probability: q(".dr-probability"), unsure: q(".dr-unsure"), actions: q(".dr-actions"), right: q(".dr-right"),
    or: q(".dr-or"), digits,
    saved: q(".dr-saved"), savedLabel: q(".dr-saved-label"), error: q(".dr-error"), seen: q(".dr-seen"), bars,
  };
}

function drawDigit(canvas, digit) {
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(SIZE, SIZE);
  for (let i = 0; i < SIZE * SIZE; i++) {
    const v = Math.round(Math.min(Math.max(digit[i], 0), 1) * 255);
    image.data.set([v, v, v, 255], 4 * i);
  }
  ctx.putImageData(image, 0, 0);
}

function toPng(pixels, w, h) {
  const canvas = Object.assign(document.createElement("canvas"), { width: w, height: h });
  canvas.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(pixels), w, h), 0, 0);
  return canvas.toDataURL("image/png");
}

function checksum(pixels) {
  const words = new Uint32Array(pixels.buffer, pixels.byteOffset, pixels.byteLength >> 2);
  let h = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i], 0x01000193);
  return h;
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

const aDigit = (d) => (d === 8 ? `an ${d}` : `a ${d}`); // as components.a_digit says it on the server
const argmax = (a) => a.reduce((best, v, i) => (v > a[best] ? i : best), 0);
const percent = (p, digits) => (Number.isFinite(p) && p >= 0 && p <= 1 ? `${(p * 100).toFixed(digits)}%` : "–");
