// canvas_to_mnist in the browser: the same algorithm as digitrec_core/preprocess.py, step for step, so the
// page and the server read a drawing alike (tests/test_live_parity.py compares them on thousands of drawings).
// The specification is preprocess.py's docstrings; each function here names the one it follows. Where Python
// leans on a library, this file does what that library does: Pillow's BOX resize (its fixed-point arithmetic
// for 8-bit images, doubles stored as float32 for float images), numpy's float32 arithmetic (Math.fround),
// and Python's round() (half to even).

export const SIZE = 28;
const TARGET_BOX = 20;
const CENTER = 14.0;
const STROKE = 2.4;
const OVERSAMPLE = 4;
export const MAX_SIDE = 600;
const INK_LEVEL = 0.5;
const MIN_CONTRAST = 0.15;
const MIN_AREA = 0.001;
const MIN_EXTENT = 0.04;
const MIN_DENSITY = 0.005;
const SPECK_GAP = 0.05;
const SPECK_MASS = 0.05;
const PAD = Math.trunc((STROKE * OVERSAMPLE) / (2 * (1 - STROKE / TARGET_BOX))) + 2;
const f32 = Math.fround;

/** Python's round(x) for a float: to the nearest integer, ties to the even one. */
export function roundHalfEven(x) {
  const r = Math.round(x); // ties up
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * canvas_to_mnist: the digit in an RGBA image (`rgba`: width * height * 4 bytes, as getImageData gives) as a
 * Float32Array of 28 * 28, or null when there is none. Canvases larger than MAX_SIDE are refused: Python
 * averages them down first, and the page never makes one.
 */
export function canvasToMnist(rgba, width, height) {
  if (Math.max(width, height) > MAX_SIDE) throw new Error(`a ${width}x${height} canvas is larger than ${MAX_SIDE} px`);
  if (Math.min(width, height) < 2) return null;
  const mask = inkMask(rgba, width, height);
  if (mask === null) return null;
  const box = digitBox(mask, width, height);
  if (box === null) return null;
  const [top, bottom, left, right] = box;
  const ch = bottom - top, cw = right - left;
  const crop = new Uint8Array(ch * cw); // ink as 255, as Python hands it to Pillow
  let area = 0;
  for (let y = 0; y < ch; y++) {
    const row = (top + y) * width + left;
    for (let x = 0; x < cw; x++) {
      const v = mask[row + x];
      crop[y * cw + x] = v * 255;
      area += v;
    }
  }
  if (area < Math.max(MIN_AREA * width * height, MIN_DENSITY * ch * cw) || Math.max(ch, cw) < MIN_EXTENT * Math.max(width, height)) {
    return null;
  }
  const digit = normaliseStroke(crop, ch, cw);
  if (digit === null) return null;
  let max = 0;
  for (const v of digit.data) max = Math.max(max, v);
  if (!(max > 0)) return null;
  for (let i = 0; i < digit.data.length; i++) digit.data[i] = f32(digit.data[i] / max);
  return center(digit);
}

/** _ink_mask: 1 where there is ink; background level and polarity from the image's border. */
function inkMask(rgba, w, h) {
  const n = w * h;
  const gray = new Uint16Array(n);
  for (let i = 0, j = 3; i < n; i++, j += 4) gray[i] = rgba[j];
  let full = 255; // transparent canvas: whatever the pen colour, ink = alpha
  if (median(border(gray, w, h)) >= 255 / 2) {
    for (let i = 0, j = 0; i < n; i++, j += 4) gray[i] = rgba[j] + rgba[j + 1] + rgba[j + 2];
    full = 765;
  }
  const background = median(border(gray, w, h));
  let darkest = 65535, brightest = 0;
  for (let i = 0; i < n; i++) {
    const g = gray[i];
    if (g < darkest) darkest = g;
    if (g > brightest) brightest = g;
  }
  const mask = new Uint8Array(n);
  const dark = background - darkest > brightest - background; // dark ink on light paper
  const peak = dark ? background - darkest : brightest - background;
  if (peak < MIN_CONTRAST * full) return null;
  if (dark) {
    const level = Math.ceil(background - INK_LEVEL * peak);
    for (let i = 0; i < n; i++) mask[i] = gray[i] < level ? 1 : 0;
  } else {
    const level = Math.floor(background + INK_LEVEL * peak);
    for (let i = 0; i < n; i++) mask[i] = gray[i] > level ? 1 : 0;
  }
  return mask;
}

function border(a, w, h) {
  const out = [];
  for (let x = 0; x < w; x++) out.push(a[x]);
  for (let x = 0; x < w; x++) out.push(a[(h - 1) * w + x]);
  for (let y = 1; y < h - 1; y++) out.push(a[y * w]);
  for (let y = 1; y < h - 1; y++) out.push(a[y * w + w - 1]);
  return out;
}

function median(values) {
  const s = Float64Array.from(values).sort();
  const k = s.length >> 1;
  return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2;
}

/** _digit_box: [top, bottom, left, right] of the ink, without small specks set apart by a gap. */
function digitBox(mask, w, h) {
  const gap = SPECK_GAP * Math.max(w, h);
  const colProfile = new Float64Array(w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) colProfile[x] += mask[y * w + x];
  const cols = span(colProfile, gap);
  if (cols === null) return null;
  const rowProfile = new Float64Array(h);
  for (let y = 0; y < h; y++) for (let x = cols[0]; x < cols[1]; x++) rowProfile[y] += mask[y * w + x];
  return [...span(rowProfile, gap), ...cols];
}

/** _span: extent of a projection profile, dropping light groups split off by more than `gap`. */
function span(profile, gap) {
  const idx = [];
  profile.forEach((v, i) => v && idx.push(i));
  if (!idx.length) return null;
  const groups = [];
  let start = 0;
  for (let i = 1; i <= idx.length; i++) {
    if (i === idx.length || idx[i] - idx[i - 1] > gap) {
      let mass = 0;
      for (let j = start; j < i; j++) mass += profile[idx[j]];
      groups.push({ first: idx[start], last: idx[i - 1], mass });
      start = i;
    }
  }
  const heaviest = Math.max(...groups.map((g) => g.mass));
  const kept = groups.filter((g) => g.mass >= SPECK_MASS * heaviest);
  return [kept[0].first, kept[kept.length - 1].last + 1];
}

/** _normalise_stroke: the ink resized to TARGET_BOX with MNIST's stroke width. {data: Float32Array, h, w} */
function normaliseStroke(crop, h, w) {
  const scale = (TARGET_BOX * OVERSAMPLE) / Math.max(h, w);
  const sw = Math.max(1, roundHalfEven(w * scale)), sh = Math.max(1, roundHalfEven(h * scale));
  const small = resizeBox(crop, w, h, sw, sh, true);
  const iw = sw + 2 * PAD, ih = sh + 2 * PAD;
  let ink = new Uint8Array(iw * ih);
  for (let y = 0; y < sh; y++) for (let x = 0; x < sw; x++) ink[(y + PAD) * iw + x + PAD] = small[y * sw + x] > 0 ? 1 : 0;
  // Growing the strokes by r on each side grows the box by 2r too, which shrinks the final scale.
  const radius = (STROKE * OVERSAMPLE - strokeWidth(ink, iw, ih)) / (2 * (1 - STROKE / TARGET_BOX));
  if (!Number.isFinite(radius)) return null;
  const steps = Math.floor(Math.abs(radius)), frac = Math.abs(radius) - steps;
  const dilate = radius > 0;
  for (let i = 0; i < steps; i++) ink = grow(ink, iw, ih, dilate, i % 2 === 1);
  const grown = grow(ink, iw, ih, dilate, steps % 2 === 1);
  // numpy: frac is a float64 scalar (from _stroke_width), so the step is float64 arithmetic, stored as float32
  const img = new Float32Array(iw * ih);
  for (let i = 0; i < img.length; i++) img[i] = ink[i] + frac * (grown[i] - ink[i]);
  let top = ih, bottom = -1, left = iw, right = -1;
  for (let y = 0; y < ih; y++) {
    for (let x = 0; x < iw; x++) {
      if (img[y * iw + x] !== 0) {
        top = Math.min(top, y); bottom = Math.max(bottom, y);
        left = Math.min(left, x); right = Math.max(right, x);
      }
    }
  }
  if (bottom < 0) return { data: new Float32Array(1), h: 1, w: 1 }; // eroded away: not a digit shape
  const ch = bottom - top + 1, cw = right - left + 1;
  const cropped = new Float32Array(ch * cw);
  for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) cropped[y * cw + x] = img[(top + y) * iw + left + x];
  const m = Math.max(ch, cw);
  const ow = Math.max(1, roundHalfEven((cw * TARGET_BOX) / m)), oh = Math.max(1, roundHalfEven((ch * TARGET_BOX) / m));
  return { data: resizeBox(cropped, cw, ch, ow, oh, false), h: oh, w: ow };
}

/** _stroke_width: 2 x area / perimeter, the perimeter counted along 4 directions (Crofton). */
function strokeWidth(ink, w, h) {
  let area = 0, straight = 0, diagonal = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = ink[y * w + x];
      area += v;
      if (y > 0) straight += v !== ink[(y - 1) * w + x];
      if (x > 0) straight += v !== ink[y * w + x - 1];
      if (y > 0 && x > 0) diagonal += v !== ink[(y - 1) * w + x - 1];
      if (y > 0 && x < w - 1) diagonal += v !== ink[(y - 1) * w + x + 1];
    }
  }
  return (2 * area) / ((Math.PI / 8) * (straight + diagonal / Math.SQRT2));
}

/** _grow: one step of dilation (or erosion), a cross or a 3x3 square; on 0/1 bytes, max is | and min is &. */
function grow(img, w, h, dilate, square) {
  const vert = new Uint8Array(img.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0, i = y * w; x < w; x++, i++) {
      const up = y > 0 ? img[i - w] : img[i], down = y < h - 1 ? img[i + w] : img[i];
      vert[i] = dilate ? img[i] | up | down : img[i] & up & down;
    }
  }
  const src = square ? vert : img;
  const out = new Uint8Array(img.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0, i = y * w; x < w; x++, i++) {
      const l = x > 0 ? src[i - 1] : vert[i], r = x < w - 1 ? src[i + 1] : vert[i];
      out[i] = dilate ? vert[i] | l | r : vert[i] & l & r;
    }
  }
  return out;
}

/** _center: into the 28x28 frame with the centre of mass at the centre (the sums in float64). */
function center({ data, h, w }) {
  let total = 0, cy = 0, cx = 0;
  const colSums = new Float64Array(w);
  for (let y = 0; y < h; y++) {
    let row = 0;
    for (let x = 0; x < w; x++) {
      row += data[y * w + x];
      colSums[x] += data[y * w + x];
    }
    cy += row * y;
    total += row;
  }
  for (let x = 0; x < w; x++) cx += colSums[x] * x;
  cy /= total;
  cx /= total;
  const top = Math.min(Math.max(roundHalfEven(CENTER - cy), 0), SIZE - h);
  const left = Math.min(Math.max(roundHalfEven(CENTER - cx), 0), SIZE - w);
  const out = new Float32Array(SIZE * SIZE);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[(top + y) * SIZE + left + x] = data[y * w + x];
  return out;
}

// ---- Pillow's Image.resize(size, Image.BOX), for mode "L" (8 bits: eightBit) and mode "F" (float32) ----------

const PRECISION_BITS = 32 - 8 - 2;

/** precompute_coeffs (Resample.c) for the box filter (support 0.5): each output pixel's first input and weights. */
function coefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1.0);
  const support = 0.5 * filterscale;
  const out = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1.0 / filterscale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    const k = new Float64Array(Math.max(xmax, 0));
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) {
      const t = (x + xmin - center + 0.5) * ss;
      k[x] = t > -0.5 && t <= 0.5 ? 1.0 : 0.0;
      ww += k[x];
    }
    if (ww !== 0.0) for (let x = 0; x < xmax; x++) k[x] /= ww;
    out.push({ xmin, k });
  }
  return out;
}

/** normalize_coeffs_8bpc: weights as fixed-point integers. */
function fixedPoint(coeffs) {
  return coeffs.map(({ xmin, k }) => ({
    xmin,
    k: Int32Array.from(k, (v) => Math.trunc(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS))),
  }));
}

function clip8(v) {
  if (v >= 1 << PRECISION_BITS << 8) return 255;
  if (v <= 0) return 0;
  return Math.floor(v / (1 << PRECISION_BITS));
}

/** ImagingResample: a horizontal pass (when the width changes), then a vertical one (when the height does). */
function resizeBox(src, w, h, ow, oh, eightBit) {
  let cur = src, cw = w;
  if (ow !== w) {
    cur = resamplePass(cur, h, w, 1, w, ow, coefficients(w, ow), eightBit); // rows of w pixels, 1 apart
    cw = ow;
  }
  if (oh !== h) cur = resamplePass(cur, cw, h, cw, 1, oh, coefficients(h, oh), eightBit); // columns, cw apart
  return cur === src ? src.slice() : cur;
}

/** One pass of ImagingResampleHorizontal/Vertical (_8bpc or _32bpc): `lines` lines of `n` samples `step` apart,
 * consecutive lines `lineStep` apart, each resampled to `outN` samples laid out the same way. */
function resamplePass(input, lines, n, step, lineStep, outN, coeffs, eightBit) {
  const horizontal = step === 1;
  const out = eightBit ? new Uint8Array(lines * outN) : new Float32Array(lines * outN);
  const weights = eightBit ? fixedPoint(coeffs) : coeffs;
  for (let line = 0; line < lines; line++) {
    const base = horizontal ? line * n : line;
    for (let o = 0; o < outN; o++) {
      const { xmin, k } = weights[o];
      let ss = eightBit ? 1 << (PRECISION_BITS - 1) : 0.0;
      let i = base + xmin * step;
      for (let x = 0; x < k.length; x++, i += step) ss += input[i] * k[x];
      out[horizontal ? line * outN + o : o * lines + line] = eightBit ? clip8(ss) : ss;
    }
  }
  return out;
}
