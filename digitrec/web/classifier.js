// The model in the page: onnxruntime-web (WASM, one thread) running the very model.onnx the server serves.
// The WASM ships gzipped in the Python package (web/ort/) and is kept, like each model, in the browser's
// Cache Storage where the page may use it (https and localhost), so a second visit downloads neither.

import * as ort from "./ort/ort.wasm.min.mjs";

const ORT_DIR = new URL("./ort/", import.meta.url).href;
const WASM = "ort-wasm-simd-threaded.wasm.gz";
const MODELS_KEPT = 4;
const MODELS_COOKIE = "digitrec_models";

/** Timings of the start, for the benchmarks: what it cost and whether the cache answered. */
export const startup = {};

let runtime = null;

/** The WASM runtime, started once per page: a Promise that rejects with a sentence when it cannot run here. */
export function startRuntime(version) {
  runtime ??= (async () => {
    if (typeof WebAssembly !== "object") throw new Error("this browser runs no WebAssembly");
    if (typeof DecompressionStream !== "function") throw new Error("this browser cannot inflate the runtime");
    let t = performance.now();
    const { response, cached } = await cachedFetch(`digitrec-ort-${version}`, ORT_DIR + WASM);
    const gz = await response.arrayBuffer();
    startup.wasmDownloadMs = performance.now() - t;
    startup.wasmCached = cached;
    startup.wasmBytes = gz.byteLength;
    t = performance.now();
    const wasm = await new Response(new Blob([gz]).stream().pipeThrough(new DecompressionStream("gzip"))).arrayBuffer();
    startup.wasmInflateMs = performance.now() - t;
    ort.env.wasm.numThreads = 1; // Streamlit sends no cross-origin isolation headers: no threads anyway
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmPaths = ORT_DIR;
    ort.env.wasm.wasmBinary = wasm;
    ort.env.logLevel = "error";
  })();
  return runtime;
}

/** A cached response for `url` when there is one, else the network's (kept for next time). */
async function cachedFetch(cacheName, url) {
  const cache = await openCache(cacheName);
  const hit = cache && (await cache.match(url).catch(() => undefined));
  if (hit) return { response: hit, cached: true };
  const response = await fetch(url);
  if (!response.ok) throw new Error(`the runtime could not be downloaded (HTTP ${response.status})`);
  if (cache) await cache.put(url, response.clone()).catch(() => {}); // a full quota: next time, from the network
  return { response, cached: false };
}

async function openCache(name) {
  try {
    return self.caches ? await self.caches.open(name) : null; // no Cache Storage outside https and localhost
  } catch {
    return null;
  }
}

/** A model from the cache by its SHA-256, or null. */
export async function cachedModel(sha) {
  const cache = await openCache("digitrec-models");
  const hit = cache && (await cache.match(modelUrl(sha)).catch(() => undefined));
  return hit ? new Uint8Array(await hit.arrayBuffer()) : null;
}

/** Keep a model's bytes for the next visit, and only the last few models; tell the server which it has. */
export async function keepModel(sha, bytes) {
  const cache = await openCache("digitrec-models");
  if (!cache) return;
  try {
    await cache.put(modelUrl(sha), new Response(bytes));
    const keys = await cache.keys();
    for (const old of keys.slice(0, Math.max(0, keys.length - MODELS_KEPT))) await cache.delete(old);
    // Read by the server on the next visit (digitrec_app/ui/live.py): a model listed here is not sent unasked.
    const kept = (await cache.keys()).map((r) => r.url.split("/").pop().slice(0, 16));
    document.cookie = `${MODELS_COOKIE}=${kept.join(".")}; path=/; max-age=31536000; SameSite=Strict`;
  } catch {
    // a full quota: the model comes from the server next time
  }
}

const modelUrl = (sha) => new URL(`/digitrec-model/${sha}`, location.href).href;

/** One model's session: run(digit) gives its ten probabilities. */
export class Classifier {
  static async create(bytes) {
    const t = performance.now();
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
    return new Classifier(session, performance.now() - t);
  }

  constructor(session, loadMs) {
    this.session = session;
    this.loadMs = loadMs;
    this.input = session.inputNames[0];
    this.output = session.outputNames[0]; // the probabilities; the others are the layers the explanations show
  }

  /** Probabilities (Float32Array of 10) for a 28x28 digit (Float32Array of 784, 0 to 1); an error with
   * `scope: "output"` when the model answers with anything else (NaN, infinity, 1e33: a damaged file). */
  async run(digit) {
    const feeds = { [this.input]: new ort.Tensor("float32", digit, [1, 28, 28, 1]) };
    const out = await this.session.run(feeds, [this.output]);
    const probs = out[this.output].data;
    if (!areProbabilities(probs)) throw Object.assign(new Error(NOT_PROBABILITIES), { scope: "output" });
    return probs;
  }
}

export const NOT_PROBABILITIES =
  "This model gives outputs that are not probabilities (NaN, infinite or outside 0 to 1): its file is damaged; " +
  "choose another model or train a new one."; // as evaluation.ModelOutputError says it on the server

/** Ten finite values within [0, 1], up to float32 rounding: what predict_proba checks on the server too. */
export function areProbabilities(probs) {
  return probs.length === 10 && probs.every((p) => Number.isFinite(p) && p >= -1e-4 && p <= 1 + 1e-4);
}

/** Whether a drawing is "not a digit": its top probability below the model's threshold (null: the model has
 * none and flags nothing). The server's rule exactly (digitrec_core/serving/recognition.py's `read`). */
export function notADigit(probs, threshold) {
  return threshold != null && Math.max(...probs) < threshold;
}
