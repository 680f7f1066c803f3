/**
 * The web view's page: HTML, its style sheet (/app.css) and its script
 * (/app.js, an ES module importing noVNC from /novnc/core/rfb.js). Nothing
 * is inline, so the Content-Security-Policy can say `script-src 'self'`
 * and `style-src 'self'`.
 *
 * The script reads the token from its own URL (?token=…) and sends it on
 * as a query parameter of /state.json and of each WebSocket
 * (/ws/<device>?token=…); every response carries `Referrer-Policy:
 * no-referrer`, so the token never leaves in a Referer. It polls
 * /state.json every 2 s for the devices ({ devices: [{ name, input }] })
 * and keeps one card per device: its name, a status line (connecting… /
 * connected / disconnected · retrying in N s, plus "view only: no QMP
 * peer" while `input` is false, which also sets noVNC's viewOnly) and a
 * noVNC view at 1:1 pixels (the header's "scale to fit" switches noVNC's
 * scaleViewport). A disconnected view reconnects with a backoff from
 * 0.5 s doubling to 16 s; a connect resets it.
 *
 * For tests and debugging the page keeps `window.webView`:
 *   { devices: { [name]: { status, input, viewOnly, connects, disconnects } } }
 * and each card is a <section data-device="<name>">.
 */

const STYLE = `:root { color-scheme: dark; }
body { margin: 0; padding: 16px; background: #1b1d21; color: #d8dadf; font: 14px/1.4 system-ui, sans-serif; }
header { display: flex; gap: 16px; align-items: baseline; margin-bottom: 12px; }
h1 { font-size: 18px; margin: 0; }
#status { color: #9aa0a6; }
#devices { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.device { background: #25282d; border: 1px solid #33373d; border-radius: 6px; padding: 10px; max-width: 100%; }
.device h2 { font-size: 15px; margin: 0 0 4px; }
.device .status { margin: 0 0 6px; font-family: ui-monospace, monospace; color: #c9a86a; }
.device .status[data-state="connected"] { color: #7bd88f; }
.screen { min-width: 320px; min-height: 200px; background: #000; }
body.fit .screen { width: calc(100vw - 56px); height: calc(100vh - 140px); }
`;

const SCRIPT = `import RFB from '/novnc/core/rfb.js';

const POLL_MS = 2000;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 16000;

const token = new URLSearchParams(location.search).get('token') || '';
const root = document.getElementById('devices');
const pageStatus = document.getElementById('status');
const fit = document.getElementById('fit');
const views = new Map();
const exposed = { devices: {} };
window.webView = exposed;

const withToken = (path) => path + '?token=' + encodeURIComponent(token);

function wsUrl(name) {
  const url = new URL(withToken('/ws/' + encodeURIComponent(name)), location.href);
  url.protocol = 'ws:';
  return url.href;
}

function addView(name) {
  const el = document.createElement('section');
  el.className = 'device';
  el.dataset.device = name;
  const title = document.createElement('h2');
  title.textContent = name;
  const status = document.createElement('p');
  status.className = 'status';
  const screen = document.createElement('div');
  screen.className = 'screen';
  el.append(title, status, screen);
  root.append(el);
  const info = { status: 'connecting', input: false, viewOnly: true, connects: 0, disconnects: 0 };
  const v = { name, el, status, screen, info, rfb: null, input: false, state: 'connecting', detail: '', retryMs: RETRY_MIN_MS, timer: 0, gone: false };
  views.set(name, v);
  exposed.devices[name] = info;
  return v;
}

function show(v, state, detail) {
  v.state = state;
  v.detail = detail || '';
  let text = state === 'connecting' ? 'connecting…' : state;
  if (v.detail) text += ' · ' + v.detail;
  if (!v.input) text += ' · view only: no QMP peer';
  v.status.textContent = text;
  v.status.dataset.state = state;
  Object.assign(v.info, { status: state, input: v.input, viewOnly: v.rfb ? v.rfb.viewOnly : !v.input });
}

function connect(v) {
  v.timer = 0;
  const rfb = new RFB(v.screen, wsUrl(v.name), { shared: true });
  rfb.viewOnly = !v.input;
  rfb.scaleViewport = fit.checked;
  rfb.resizeSession = false;
  rfb.addEventListener('connect', () => {
    v.retryMs = RETRY_MIN_MS;
    v.info.connects++;
    show(v, 'connected');
  });
  rfb.addEventListener('disconnect', () => {
    v.rfb = null;
    v.info.disconnects++;
    if (v.gone) return;
    show(v, 'disconnected', 'retrying in ' + v.retryMs / 1000 + ' s');
    v.timer = setTimeout(() => connect(v), v.retryMs);
    v.retryMs = Math.min(v.retryMs * 2, RETRY_MAX_MS);
  });
  // mdevsim offers the web view no authentication: a password prompt is not ours to answer.
  rfb.addEventListener('credentialsrequired', () => rfb.disconnect());
  v.rfb = rfb;
  show(v, 'connecting');
}

function removeView(v) {
  v.gone = true;
  clearTimeout(v.timer);
  if (v.rfb) v.rfb.disconnect();
  v.el.remove();
  views.delete(v.name);
  delete exposed.devices[v.name];
}

async function poll() {
  try {
    const res = await fetch(withToken('/state.json'), { cache: 'no-store' });
    if (!res.ok) throw new Error('HTTP ' + res.status);
    const { devices } = await res.json();
    const listed = new Set();
    for (const d of devices) {
      listed.add(d.name);
      const v = views.get(d.name) || addView(d.name);
      const changed = v.input !== d.input;
      v.input = d.input;
      if (v.rfb) v.rfb.viewOnly = !v.input;
      if (v.rfb === null && v.timer === 0) connect(v);
      else if (changed) show(v, v.state, v.detail);
    }
    for (const v of [...views.values()]) if (!listed.has(v.name)) removeView(v);
    pageStatus.textContent = views.size === 1 ? '1 device' : views.size + ' devices';
  } catch (e) {
    pageStatus.textContent = 'cannot reach mdevsim (' + e.message + '), retrying';
  }
  setTimeout(poll, POLL_MS);
}

fit.addEventListener('change', () => {
  document.body.classList.toggle('fit', fit.checked);
  for (const v of views.values()) if (v.rfb) v.rfb.scaleViewport = fit.checked;
});
poll();
`;

/** The page's HTML (served only with the token). */
export const WEB_VIEW_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mdevsim</title>
<link rel="stylesheet" href="/app.css">
<script type="module" src="/app.js"></script>
</head>
<body>
<header><h1>mdevsim</h1><span id="status">loading…</span><label><input type="checkbox" id="fit"> scale to fit</label></header>
<main id="devices"></main>
</body>
</html>
`;

/** /app.css */
export const WEB_VIEW_CSS = STYLE;

/** /app.js */
export const WEB_VIEW_SCRIPT = SCRIPT;

/**
 * The page's Content-Security-Policy. Scripts and styles only from this
 * origin (the page's own files and noVNC's), WebSockets and fetches only to
 * it (`ws://` named explicitly for browsers whose 'self' does not cover
 * it), images only from data: URIs (noVNC draws TightPNG/JPEG rectangles
 * and cursors through them). No framing, no forms, no <base>.
 * @param origin the page's origin as the browser sees it, `http://127.0.0.1:8080`
 */
export function webViewCsp(origin: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    'img-src data:',
    `connect-src 'self' ${origin.replace(/^http:/, 'ws:')}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
