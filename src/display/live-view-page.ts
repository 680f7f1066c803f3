/**
 * The live view's one page: self-contained HTML with inline CSS and
 * JavaScript (no external resources), allowed by a Content-Security-Policy
 * that names the inline script and style by their SHA-256 hashes, so
 * nothing else can run in it.
 *
 * The script subscribes to /events (Server-Sent Events, protocol in
 * docs/live-view.md) and keeps one card per device: a title, the mode text
 * ("640×480 XRGB8888 · dmabuf 1"), a <canvas> the patches are drawn onto
 * and, when the device has no plane, the "no plane" message instead of
 * the canvas. Events of one device are applied strictly in order (PNG
 * decoding is asynchronous, so each device has a promise queue).
 *
 * For tests and debugging the page keeps `window.liveView`:
 *   { connected, events, devices: { [name]: { mode, none, frame, patches,
 *     fullFrames, lastPatch: {x, y, w, h, full} | null, applied } } }
 * and every card carries data-device="<name>", its canvas data-device too.
 */
import { createHash } from 'node:crypto';

const STYLE = `
:root { color-scheme: dark; }
body { margin: 0; padding: 16px; background: #1b1d21; color: #d8dadf; font: 14px/1.4 system-ui, sans-serif; }
header { display: flex; gap: 16px; align-items: baseline; margin-bottom: 12px; }
h1 { font-size: 18px; margin: 0; }
#status { color: #9aa0a6; }
#status.live { color: #7bd88f; }
#devices { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.device { background: #25282d; border: 1px solid #33373d; border-radius: 6px; padding: 10px; max-width: 100%; }
.device h2 { font-size: 15px; margin: 0 0 4px; display: flex; gap: 10px; align-items: baseline; }
.device h2 a { font-size: 12px; font-weight: normal; color: #8ab4f8; }
.mode { margin: 0 0 6px; font-family: ui-monospace, monospace; color: #c3c7cd; min-height: 1.4em; }
.stats { margin: 6px 0 0; font-size: 12px; color: #80868b; font-family: ui-monospace, monospace; }
canvas { display: block; max-width: 100%; height: auto; image-rendering: pixelated; background: #000; }
.none { margin: 0; padding: 24px 16px; border: 1px dashed #4a4f57; border-radius: 4px; color: #c9a86a; font-style: italic; }
[hidden] { display: none !important; }
`;

const SCRIPT = `
'use strict';
(function () {
  var view = { connected: false, events: 0, devices: {} };
  window.liveView = view;
  var root = document.getElementById('devices');
  var statusEl = document.getElementById('status');
  var cards = new Map();

  function card(name) {
    var c = cards.get(name);
    if (c) return c;
    var el = document.createElement('section');
    el.className = 'device';
    el.dataset.device = name;
    var h = document.createElement('h2');
    var title = document.createElement('span');
    title.textContent = name;
    var link = document.createElement('a');
    link.href = '/screenshot/' + encodeURIComponent(name) + '.png';
    link.textContent = 'PNG';
    link.target = '_blank';
    link.hidden = true;
    h.append(title, link);
    var mode = document.createElement('p');
    mode.className = 'mode';
    var canvas = document.createElement('canvas');
    canvas.dataset.device = name;
    canvas.width = 1;
    canvas.height = 1;
    canvas.hidden = true;
    var none = document.createElement('p');
    none.className = 'none';
    none.textContent = 'waiting for the first frame';
    var stats = document.createElement('p');
    stats.className = 'stats';
    el.append(h, mode, canvas, none, stats);
    root.append(el);
    var s = { name: name, mode: null, none: null, frame: 0, patches: 0, fullFrames: 0, lastPatch: null, applied: 0 };
    view.devices[name] = s;
    c = { el: el, link: link, mode: mode, canvas: canvas, ctx: canvas.getContext('2d', { willReadFrequently: true }), none: none, statsEl: stats, s: s, queue: Promise.resolve() };
    cards.set(name, c);
    return c;
  }

  function showStats(c) {
    var s = c.s;
    c.statsEl.textContent = 'frame ' + s.frame + ' · ' + s.patches + ' patches drawn (full frames: ' + s.fullFrames + ')';
  }

  function enqueue(name, fn) {
    var c = card(name);
    c.queue = c.queue.then(function () { return fn(c); }).catch(function (e) { console.error('live view:', name, e); });
  }

  function decode(b64) {
    var bin = atob(b64);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return createImageBitmap(new Blob([bytes], { type: 'image/png' }), { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  }

  function on(type, fn) {
    es.addEventListener(type, function (ev) {
      view.events++;
      fn(JSON.parse(ev.data));
    });
  }

  var es = new EventSource('/events');
  es.onopen = function () { view.connected = true; statusEl.textContent = 'live'; statusEl.className = 'live'; };
  es.onerror = function () { view.connected = false; statusEl.textContent = 'disconnected, retrying…'; statusEl.className = ''; };

  on('hello', function (d) { document.getElementById('poll').textContent = 'polling every ' + d.pollMs + ' ms'; });

  on('devices', function (d) {
    var keep = new Set(d.names);
    cards.forEach(function (c, name) {
      if (!keep.has(name)) { c.el.remove(); cards.delete(name); delete view.devices[name]; }
    });
    d.names.forEach(function (name) { root.append(card(name).el); });
  });

  on('mode', function (d) {
    enqueue(d.device, function (c) {
      c.canvas.width = d.width;
      c.canvas.height = d.height;
      c.canvas.hidden = false;
      c.link.hidden = false;
      c.none.hidden = true;
      var where = d.plane === 'dmabuf' ? 'dmabuf ' + d.dmabufId : 'region ' + d.regionIndex;
      c.mode.textContent = d.width + '×' + d.height + ' ' + d.format + ' · ' + where;
      c.s.mode = d;
      c.s.none = null;
      c.s.frame = d.frame;
      showStats(c);
    });
  });

  on('patch', function (d) {
    enqueue(d.device, function (c) {
      return decode(d.png).then(function (bm) {
        c.ctx.drawImage(bm, d.x, d.y);
        bm.close();
        c.s.patches++;
        if (d.full) c.s.fullFrames++;
        c.s.lastPatch = { x: d.x, y: d.y, w: d.w, h: d.h, full: d.full };
        c.s.frame = d.frame;
        c.s.applied++;
        showStats(c);
      });
    });
  });

  on('none', function (d) {
    enqueue(d.device, function (c) {
      c.canvas.hidden = true;
      c.link.hidden = true;
      c.none.hidden = false;
      c.none.textContent = d.message;
      c.mode.textContent = '';
      c.s.mode = null;
      c.s.none = { reason: d.reason, message: d.message };
      c.s.frame = d.frame;
      showStats(c);
    });
  });
})();
`;

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** The page's HTML. */
export const LIVE_VIEW_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mdevsim live view</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>mdevsim live view</h1><span id="status">connecting…</span><span id="poll"></span></header>
<main id="devices"></main>
<script>${SCRIPT}</script>
</body>
</html>
`;

/**
 * The page's Content-Security-Policy: only its own inline script and style
 * (by hash), EventSource to this origin, images from blobs. No framing.
 */
export const LIVE_VIEW_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  'img-src blob: data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
