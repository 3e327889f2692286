/*
 * tlsrptd dashboard: a small single-page app over the public JSON API (/api/v1, see
 * /api/v1/openapi.json). No dependencies, no inline script or style (the page's CSP forbids
 * both): the DOM is built with h() and svg(), charts are hand-written SVG coloured by classes.
 *
 * Views (hash routes, each with its own URL):
 *   #/domains?from=&to=&q=&failing=1&sort=&dir=&page=   overview
 *   #/domains/NAME?from=&to=&interval=&days=             one domain
 *   #/reports?domain=&reporter=&result_type=&has_failures=&from=&to=&before=
 *   #/reports/ID                                         one report
 *   #/quarantine?status=&before=, #/quarantine/ID        (admin)
 *   #/setup                                              the DNS records to publish
 *
 * Every GET goes through api(): it keeps the last body and ETag per URL and sends
 * If-None-Match, so the 60-second refresh costs a 304 when nothing changed, and the view is
 * only redrawn (in place, keeping focus and the controls) when something did.
 * Auth: a 401 from the API means a token is needed; the token lives in sessionStorage.
 */
'use strict';

(function () {
  const API = '/api/v1';
  const REFRESH_MS = 60 * 1000;
  const PAGE_SIZE = 50;           /* domains per overview page */
  const REPORTS_PAGE = 50;
  const DETAIL_CONCURRENCY = 4;   /* lazy per-domain requests at once (sparklines, readiness) */
  const CACHE_MAX = 600;          /* URLs whose last body and ETag are kept */
  const BREAKDOWN_ROWS = 10;      /* rows shown before "show all" */
  const RAW_SHOW_MAX = 256 * 1024; /* bytes of a raw body shown inline */
  const TOKEN_KEY = 'tlsrptd.token';
  const SVGNS = 'http://www.w3.org/2000/svg';
  const DAY_MS = 86400000;

  /* ---- DOM helpers ---------------------------------------------------------------------- */

  function append(el, kids) {
    if (!Array.isArray(kids)) kids = [kids];
    for (const k of kids) {
      if (k === null || k === undefined || k === false) continue;
      if (Array.isArray(k)) append(el, k);
      else el.appendChild(typeof k === 'object' ? k : document.createTextNode(String(k)));
    }
    return el;
  }

  function setAttrs(el, attrs) {
    if (!attrs) return el;
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
      else if (k === 'text') el.textContent = v;
      else if (k === 'value' || k === 'checked' || k === 'selected') el[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    return el;
  }

  /* h('a', {href: '#/'}, 'text', child, [more]) */
  function h(tag, attrs, ...kids) {
    return append(setAttrs(document.createElement(tag), attrs), kids);
  }

  function svg(tag, attrs, ...kids) {
    return append(setAttrs(document.createElementNS(SVGNS, tag), attrs), kids);
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
    return el;
  }

  function replace(el, ...kids) {
    return append(clear(el), kids);
  }

  /* ---- formatting ----------------------------------------------------------------------- */

  const nf = new Intl.NumberFormat('en-US');

  function fmtInt(n) {
    return n === null || n === undefined ? '—' : nf.format(n);
  }

  /* A share or rate in [0, 1] as a percentage: 2 decimals, "<0.01 %" for tiny ones. */
  function fmtPct(r) {
    if (r === null || r === undefined || Number.isNaN(r)) return '—';
    if (r > 0 && r < 0.00005) return '<0.01 %';
    return (r * 100).toFixed(2) + ' %';
  }

  function fmtCompact(n) {
    if (n >= 1e9) return (n / 1e9).toFixed(n >= 1e10 ? 0 : 1).replace(/\.0$/, '') + 'G';
    if (n >= 1e6) return (n / 1e6).toFixed(n >= 1e7 ? 0 : 1).replace(/\.0$/, '') + 'M';
    if (n >= 1e3) return (n / 1e3).toFixed(n >= 1e4 ? 0 : 1).replace(/\.0$/, '') + 'k';
    return String(n);
  }

  function fmtBytes(n) {
    if (n === null || n === undefined) return '—';
    if (n < 1024) return n + ' B';
    if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
    return (n / 1048576).toFixed(1) + ' MiB';
  }

  /* "2026-11-28T10:00:00Z" -> "2026-11-28 10:00 UTC" */
  function fmtTime(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  }

  function fmtDay(iso) {
    return iso ? String(iso).slice(0, 10) : '—';
  }

  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  function fmtShortDay(day) {
    const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(day || '');
    return m ? MONTHS[Number(m[2]) - 1] + ' ' + Number(m[3]) : String(day);
  }

  function fmtAgo(iso) {
    const t = new Date(iso).getTime();
    if (Number.isNaN(t)) return '';
    const s = Math.round((Date.now() - t) / 1000);
    if (s < 90) return 'just now';
    if (s < 5400) return Math.round(s / 60) + ' min ago';
    if (s < 129600) return Math.round(s / 3600) + ' h ago';
    return Math.round(s / 86400) + ' days ago';
  }

  function timeEl(iso, withAgo) {
    if (!iso) return h('span', { class: 'muted' }, '—');
    return h('time', { datetime: iso, title: fmtTime(iso) + (withAgo ? '' : ' (' + fmtAgo(iso) + ')') },
      withAgo ? fmtAgo(iso) : fmtTime(iso));
  }

  /* UTC calendar days as YYYY-MM-DD. */
  function utcToday() { return new Date().toISOString().slice(0, 10); }
  function addDays(day, n) {
    const t = Date.parse(day + 'T00:00:00Z');
    return new Date(t + n * DAY_MS).toISOString().slice(0, 10);
  }
  function isDay(s) { return /^\d{4}-\d{2}-\d{2}$/.test(s || '') && !Number.isNaN(Date.parse(s + 'T00:00:00Z')); }

  function rateClass(r) {
    if (r === null || r === undefined) return '';
    if (r >= 0.05) return 'rate-bad';
    if (r > 0) return 'rate-warn';
    return 'rate-ok';
  }

  /* A lookup in a constant table by a key from a URL or a report: own properties only
     ("__proto__", "constructor" and the like are not entries). */
  function own(table, key) {
    return typeof key === 'string' && Object.hasOwn(table, key) ? table[key] : undefined;
  }

  const VERDICT_LABEL = { 'ready': 'Ready', 'not-ready': 'Not ready', 'insufficient-data': 'Insufficient data' };

  /* The class of a verdict badge: one of the known verdicts, never the text itself. */
  function verdictClass(v) { return own(VERDICT_LABEL, v) ? v : 'unknown'; }

  function verdictBadge(v, attrs) {
    attrs = Object.assign({}, attrs || {});
    const extra = attrs.extra || [];
    delete attrs.extra;
    return h('span', Object.assign({ class: ['badge', verdictClass(v)].concat(extra) }, attrs), own(VERDICT_LABEL, v) || v || 'unknown');
  }

  /* An MTA-STS mode comes from a report: only the three modes of RFC 8461 become a class; any
     other text gets the neutral class and is shown as it is. */
  const MODES = new Set(['enforce', 'testing', 'none']);
  function modeChip(mode, attrs) {
    const cls = !mode ? 'none' : MODES.has(mode) ? mode : 'other';
    return h('span', Object.assign({ class: ['chip', cls], 'data-mode': mode || '' }, attrs || {}), mode || 'no mode');
  }

  /* ---- query strings and hash routes ---------------------------------------------------- */

  function qs(params) {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      if (v === null || v === undefined || v === '' || v === false) continue;
      u.set(k, String(v));
    }
    const s = u.toString();
    return s ? '?' + s : '';
  }

  function hrefDomain(d, params) { return '#/domains/' + encodeURIComponent(d) + qs(params); }
  function hrefReport(id) { return '#/reports/' + encodeURIComponent(id); }

  function parseHash() {
    let raw = location.hash.replace(/^#/, '');
    if (!raw) raw = '/domains';
    const qi = raw.indexOf('?');
    const path = qi >= 0 ? raw.slice(0, qi) : raw;
    const params = new URLSearchParams(qi >= 0 ? raw.slice(qi + 1) : '');
    return { path: path || '/', params };
  }

  function paramsObj(params) {
    const o = {};
    for (const [k, v] of params) o[k] = v;
    return o;
  }

  /* Changes the URL without a navigation (filters typed into a view). */
  function replaceHash(path, params) {
    history.replaceState(null, '', '#' + path + qs(params));
  }

  /* ---- API -------------------------------------------------------------------------------- */

  class ApiError extends Error {
    constructor(status, code, reason, parameter) {
      super(reason || code || ('HTTP ' + status));
      this.status = status;
      this.code = code || '';
      this.parameter = parameter || '';
    }
  }

  class SignInNeeded extends Error {}

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    authOff: false,
    admin: false,
    changes: 0,        /* bumped by every 200 (a new body): a refresh redraws only when it moved */
    view: null,
    seq: 0,            /* navigation counter: late answers for an old view are dropped */
    signInMessage: '',
    lastOk: 0,
    ui: new Set(),     /* what the user opened in this view (details, "Show all", raw bodies), by key */
    roleError: null,   /* the admin check failed (not a 403): the banner says so */
    roleDismissed: false,
  };
  const cache = new Map();

  function authHeaders() {
    return state.token ? { Authorization: 'Bearer ' + state.token } : {};
  }

  async function errorFrom(res) {
    let code = '', reason = '', parameter = '';
    try {
      const j = await res.json();
      if (j && j.error) {
        code = j.error.code || '';
        reason = j.error.reason || '';
        parameter = j.error.parameter || '';
      }
    } catch (e) { /* not JSON: the status says enough */ }
    return new ApiError(res.status, code, reason || res.statusText || ('HTTP ' + res.status), parameter);
  }

  /*
   * GET (or another method) of an API path. Returns the parsed JSON (text with {text: true}).
   * GETs are revalidated with the cached ETag; a 304 returns the cached body. A 401 turns into
   * SignInNeeded; other errors into ApiError with the API's code and reason.
   */
  async function api(path, opts) {
    opts = opts || {};
    const method = opts.method || 'GET';
    const url = path.startsWith('/') && !path.startsWith(API) ? API + path : path;
    const headers = Object.assign({ Accept: opts.text ? '*/*' : 'application/json' }, authHeaders());
    const cached = method === 'GET' ? cache.get(url) : null;
    if (cached && cached.etag && !opts.noCache) headers['If-None-Match'] = cached.etag;
    let res;
    try {
      res = await fetch(url, { method, headers, cache: 'no-store', credentials: 'same-origin' });
    } catch (e) {
      throw new ApiError(0, 'network', 'cannot reach tlsrptd (' + (e && e.message ? e.message : 'network error') + ')');
    }
    if (res.status === 304 && cached) {
      cache.delete(url);
      cache.set(url, cached);       /* keep recently used entries at the end */
      return cached.data;
    }
    if (res.status === 401) {
      if (state.token) state.signInMessage = 'Your token was not accepted any more (revoked?). Sign in again.';
      throw new SignInNeeded('sign-in needed');
    }
    if (!res.ok) throw await errorFrom(res);
    const data = opts.text ? await res.text() : await res.json();
    state.changes++;
    state.lastOk = Date.now();
    const etag = res.headers.get('ETag');
    if (method === 'GET' && etag) {
      cache.delete(url);
      cache.set(url, { etag, data });
      while (cache.size > CACHE_MAX) cache.delete(cache.keys().next().value);
    }
    return data;
  }

  /* Runs fn over items with at most n at once. */
  async function pool(items, n, fn) {
    let i = 0;
    const workers = [];
    for (let w = 0; w < Math.min(n, items.length); w++) {
      workers.push((async () => {
        while (i < items.length) {
          const item = items[i++];
          await fn(item);
        }
      })());
    }
    await Promise.all(workers);
  }

  /* ---- banner, status --------------------------------------------------------------------- */

  const $ = (id) => document.getElementById(id);

  function errorText(e) {
    if (e instanceof ApiError) {
      if (e.status === 0) return e.message;
      let s = 'HTTP ' + e.status + (e.code ? ' ' + e.code : '') + ': ' + e.message;
      if (e.parameter) s += ' (parameter ' + e.parameter + ')';
      return s;
    }
    return (e && e.message) ? e.message : String(e);
  }

  function showBanner(text, kind) {
    const b = $('banner');
    replace(b, h('span', null, text),
      h('button', { type: 'button', class: 'btn btn-quiet', onclick: dismissBanner, 'aria-label': 'Dismiss the message' }, 'Dismiss'));
    b.dataset.kind = kind || '';
    b.hidden = false;
  }

  function dismissBanner() {
    if ($('banner').dataset.kind === 'role') state.roleDismissed = true;
    hideBanner();
  }

  /* Hides the message of a failed load or action. The failed admin check's message stays until
     it is dismissed or a later check gets an answer. */
  function hideBanner() {
    const b = $('banner');
    if (state.roleError && !state.roleDismissed) {
      if (b.dataset.kind !== 'role') showRoleBanner();
      return;
    }
    b.hidden = true;
    b.dataset.kind = '';
    clear(b);
  }

  function showRoleBanner() {
    showBanner('Could not check whether this session may open the quarantine: ' + errorText(state.roleError) +
      '. The Quarantine link stays hidden until tlsrptd answers; the check is repeated at each refresh.', 'role');
  }

  function setUpdated() {
    const d = new Date();
    $('updated').textContent = 'Updated ' + d.toISOString().slice(11, 19) + ' UTC';
  }

  /* An error panel in place of a view's content. */
  function errorPanel(e, what) {
    const forbidden = e instanceof ApiError && e.status === 403;
    return h('div', { class: 'panel', role: 'alert' },
      h('h2', null, forbidden ? 'Not allowed' : 'Could not load ' + (what || 'this page')),
      h('p', { class: 'form-error' }, forbidden ? 'This needs an admin token. ' + errorText(e) : errorText(e)),
      e instanceof ApiError && e.status === 404 ? h('p', null, what === 'this domain'
        ? 'No report has counted sessions for this domain, or your token does not cover it. ' : '',
      h('a', { href: '#/domains' }, 'Back to the domains')) : null);
  }

  /* ---- charts ----------------------------------------------------------------------------- */

  function niceStep(max, ticks) {
    if (max <= 0) return 1;
    const raw = max / ticks;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / mag;
    const nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
    return Math.max(1, nice * mag);
  }

  /*
   * A stacked bar chart. buckets: [{label, title}], series: [{label, cls, values: []}] bottom
   * first. The <title> of each column lists every series (the browser's tooltip); the chart is
   * role=img with a summary, and a data table follows it for screen readers and keyboards.
   */
  function stackedChart(container, buckets, series, opts) {
    const width = Math.max(300, Math.floor(container.clientWidth || 720));
    const height = opts.height || 220;
    const m = { top: 10, right: 8, bottom: 26, left: 46 };
    const iw = width - m.left - m.right;
    const ih = height - m.top - m.bottom;
    const n = buckets.length;
    const totals = buckets.map((_, i) => series.reduce((s, se) => s + (se.values[i] || 0), 0));
    const maxv = Math.max(0, ...totals);
    const step = niceStep(maxv, 4);
    const top = Math.max(step, Math.ceil(maxv / step) * step);
    const y = (v) => m.top + ih - (v / top) * ih;
    const bw = n > 0 ? iw / n : iw;
    const gap = bw > 8 ? Math.min(6, bw * 0.22) : bw > 3 ? 1 : 0;
    const root = svg('svg', {
      width, height, viewBox: '0 0 ' + width + ' ' + height, role: 'img',
      'aria-label': opts.label + ': ' + n + ' ' + (opts.unit || 'days') + ', highest ' + fmtInt(maxv),
    });
    const axis = svg('g', { 'aria-hidden': 'true' });
    for (let v = 0; v <= top + 1e-9; v += step) {
      const yy = Math.round(y(v)) + 0.5;
      axis.appendChild(svg('line', { class: v === 0 ? 'axis' : 'grid', x1: m.left, x2: width - m.right, y1: yy, y2: yy }));
      axis.appendChild(svg('text', { x: m.left - 6, y: yy + 4, 'text-anchor': 'end' }, fmtCompact(v)));
    }
    const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(iw / 64))));
    for (let i = 0; i < n; i += every) {
      const x = m.left + i * bw + bw / 2;
      axis.appendChild(svg('text', { x, y: height - 8, 'text-anchor': 'middle' }, buckets[i].label));
    }
    root.appendChild(axis);
    const cols = svg('g');
    for (let i = 0; i < n; i++) {
      const x = m.left + i * bw + gap / 2;
      const w = Math.max(1, bw - gap);
      const lines = [buckets[i].title];
      for (const se of series.slice().reverse()) {
        if (se.values[i] || !opts.skipZeroInTitle) lines.push(se.label + ': ' + fmtInt(se.values[i] || 0));
      }
      if (opts.totalLabel) lines.push(opts.totalLabel + ': ' + fmtInt(totals[i]));
      const g = svg('g', { class: 'col' }, svg('title', null, lines.join('\n')),
        svg('rect', { class: 'hit', x: m.left + i * bw, y: m.top, width: bw, height: ih }));
      let acc = 0;
      for (const se of series) {
        const v = se.values[i] || 0;
        if (v <= 0) continue;
        const y0 = y(acc), y1 = y(acc + v);
        const hgt = Math.max(1, y0 - y1);
        g.appendChild(svg('rect', { class: 'seg ' + se.cls, x, y: y0 - hgt, width: w, height: hgt }));
        acc += v;
      }
      cols.appendChild(g);
    }
    root.appendChild(cols);
    return root;
  }

  function swatch(cls) {
    return svg('svg', { width: 12, height: 12, viewBox: '0 0 12 12', 'aria-hidden': 'true' },
      svg('rect', { class: cls, width: 12, height: 12, rx: 2 }));
  }

  function legend(series) {
    return h('ul', { class: 'legend' }, series.slice().reverse().map((se) =>
      h('li', null, swatch(se.cls), se.label + (se.total !== undefined ? ' (' + fmtInt(se.total) + ')' : ''))));
  }

  /* Daily sessions as tiny stacked bars (failures on top). */
  function sparkline(ts) {
    const W = 120, H = 26;
    const b = ts.buckets || [];
    const n = b.length || 1;
    const max = Math.max(1, ...b.map((x) => x.sessions || 0));
    const bw = W / n;
    const failed = b.reduce((s, x) => s + (x.failed || 0), 0);
    const sessions = b.reduce((s, x) => s + (x.sessions || 0), 0);
    const days = b.filter((x) => x.sessions > 0).length;
    const root = svg('svg', {
      class: 'spark', width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img',
      'aria-label': 'Sessions per day: ' + fmtInt(sessions) + ' over ' + days + ' days with data, ' + fmtInt(failed) + ' failed',
    });
    b.forEach((x, i) => {
      const xx = i * bw + (bw > 3 ? 0.5 : 0);
      const w = Math.max(0.8, bw - (bw > 3 ? 1 : 0));
      if (!x.sessions) {
        root.appendChild(svg('rect', { class: 's-none', x: xx, y: H - 1, width: w, height: 1 }));
        return;
      }
      const hh = Math.max(2, (x.sessions / max) * (H - 2));
      const fh = x.failed ? Math.max(1.5, (x.failed / x.sessions) * hh) : 0;
      root.appendChild(svg('rect', { class: 's-ok', x: xx, y: H - hh, width: w, height: hh - fh },
        svg('title', null, x.start + ': ' + fmtInt(x.sessions) + ' sessions, ' + fmtInt(x.failed) + ' failed')));
      if (fh) root.appendChild(svg('rect', { class: 's-fail', x: xx, y: H - hh, width: w, height: fh }));
    });
    return root;
  }

  function shareBar(share) {
    const W = 64;
    const v = share === null || share === undefined ? 0 : Math.max(0, Math.min(1, share));
    return svg('svg', { width: W, height: 8, viewBox: '0 0 ' + W + ' 8', 'aria-hidden': 'true' },
      svg('rect', { class: 'share-track', width: W, height: 8, rx: 2 }),
      v > 0 ? svg('rect', { class: 'share-bar', width: Math.max(1.5, v * W), height: 8, rx: 2 }) : null);
  }

  /* ---- shared pieces ---------------------------------------------------------------------- */

  function card(label, value, opts) {
    opts = opts || {};
    return h('div', { class: 'card', id: opts.id },
      h('div', { class: 'label' }, label),
      h('div', { class: ['value', opts.cls] }, value),
      opts.note ? h('div', { class: 'note' }, opts.note) : null);
  }

  function kv(pairs) {
    const dl = h('dl', { class: 'kv' });
    for (const [k, v] of pairs) {
      if (v === undefined) continue;
      dl.appendChild(h('dt', null, k));
      dl.appendChild(h('dd', null, v === null || v === '' ? h('span', { class: 'muted' }, '—') : v));
    }
    return dl;
  }

  function modeChips(modes) {
    if (!modes || !modes.length) return h('span', { class: 'muted' }, '—');
    return h('span', { class: 'chips' }, modes.map((m) =>
      modeChip(m.mode, { title: fmtInt(m.sessions) + ' sessions in ' + fmtInt(m.reports) + ' reports' })));
  }

  /* The window inputs (from inclusive, "through" inclusive) that set the API's from/to. */
  function rangeControls(params, onApply, label) {
    const from = h('input', { type: 'date', id: 'range-from', name: 'from' });
    const through = h('input', { type: 'date', id: 'range-through', name: 'through' });
    const presets = [[7, '7 days'], [30, '30 days'], [90, '90 days'], [365, '1 year']];
    const presetBtns = presets.map(([n, text]) => h('button', {
      type: 'button', class: 'btn', 'data-days': n, 'aria-pressed': 'false',
      onclick: () => {
        const today = utcToday();
        onApply({ from: addDays(today, -(n - 1)), to: addDays(today, 1) });
      },
    }, text));
    const form = h('form', {
      class: 'range', 'aria-label': label || 'Date range',
      onsubmit: (ev) => {
        ev.preventDefault();
        const f = from.value, t = through.value;
        onApply({ from: isDay(f) ? f : '', to: isDay(t) ? addDays(t, 1) : '' });
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'range-from' }, 'From (UTC)'), from),
    h('div', { class: 'field' }, h('label', { for: 'range-through' }, 'Through (UTC)'), through),
    h('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply'),
    h('div', { class: 'field field-presets' }, h('span', { id: 'presets-label' }, 'Last'),
      h('div', { class: 'presets', role: 'group', 'aria-labelledby': 'presets-label' }, presetBtns)));
    form.sync = (win) => {
      /* win: the API's window {from, to}; to is exclusive */
      if (win && win.from) from.value = fmtDay(win.from);
      if (win && win.to) through.value = addDays(fmtDay(win.to), -1);
      const days = win && win.days;
      const endsToday = win && win.to && fmtDay(win.to) === addDays(utcToday(), 1);
      for (const b of presetBtns) b.setAttribute('aria-pressed', String(Boolean(endsToday && Number(b.dataset.days) === days)));
    };
    return form;
  }

  /* Focus survives an in-place redraw when the focused element carries data-key or an id. */
  function keepFocus(fn) {
    const a = document.activeElement;
    const key = a && a.dataset ? a.dataset.key : null;
    const id = a && a !== document.body && a.id ? a.id : null;
    fn();
    if (document.activeElement === a && a && a.isConnected) return;
    let again = null;
    if (key) again = document.querySelector('[data-key="' + CSS.escape(key) + '"]');
    else if (id) again = document.getElementById(id);
    if (again) again.focus({ preventScroll: true });
  }

  /*
   * What the user opened (a <details>, "Show all", a raw body, the delete confirmation) is kept
   * by a stable key per view in state.ui, so a redraw (the 60-second refresh when data changed)
   * draws it open again. A new view starts with everything closed.
   */
  function uiOpen(key) { return state.ui.has(key); }
  function uiSet(key, on) { if (on) state.ui.add(key); else state.ui.delete(key); }

  function moreDetails(key, summary, ...kids) {
    const d = h('details', { class: 'more', 'data-ui': key, open: uiOpen(key) }, h('summary', null, summary), kids);
    d.addEventListener('toggle', () => uiSet(key, d.open));
    return d;
  }

  /* An export link that carries the token when there is one (a plain link otherwise). */
  function exportLink(kind, params) {
    const href = API + '/export/' + kind + '.csv' + qs(params);
    return h('a', {
      class: 'btn', href, download: kind + '.csv', 'data-export': kind,
      onclick: (ev) => {
        if (!state.token) return;
        ev.preventDefault();
        downloadWithToken(href, kind + '.csv');
      },
      /* A middle click would open the URL in a new tab without the token (a 401): download instead. */
      onauxclick: (ev) => {
        if (!state.token || ev.button !== 1) return;
        ev.preventDefault();
        downloadWithToken(href, kind + '.csv');
      },
    }, kind + '.csv');
  }

  async function downloadWithToken(href, name) {
    try {
      const res = await fetch(href, { headers: authHeaders(), cache: 'no-store' });
      if (!res.ok) throw await errorFrom(res);
      const url = URL.createObjectURL(await res.blob());
      const a = h('a', { href: url, download: name, class: 'hidden' });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) {
      showBanner('Download failed: ' + errorText(e));
    }
  }

  function pageHead(title, opts) {
    opts = opts || {};
    const h1 = h('h1', { tabindex: '-1', id: 'page-title' }, title);
    return h('div', { class: 'page-head' },
      h('div', null,
        opts.crumbs ? h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, opts.crumbs) : null,
        h('div', { class: 'title-line' }, h1, opts.badge || null),
        opts.sub ? h('p', { class: 'sub', id: 'page-sub' }, opts.sub) : null),
      opts.right || null);
  }

  function jsonValue(v) {
    if (v === null || v === undefined) return h('span', { class: 'muted' }, '—');
    if (typeof v === 'object') return h('code', null, JSON.stringify(v));
    return String(v);
  }

  /* A copy's DKIM verdict (mail copies carry meta.dkim {result, domain, selector, algorithm, reason}). */
  function dkimView(d) {
    if (!d || typeof d !== 'object') return jsonValue(d);
    const res = String(d.result || 'unknown');
    const cls = res === 'pass' ? 'ready' : res === 'none' || res === 'temperror' ? 'insufficient-data' : 'not-ready';
    const bits = [];
    if (d.domain) bits.push('d=' + d.domain);
    if (d.selector) bits.push('s=' + d.selector);
    if (d.algorithm) bits.push(d.algorithm);
    const extra = [];
    if (d.policy) extra.push('policy ' + d.policy);
    if (d.released) extra.push('released by an operator');
    return h('span', { class: 'dkim' }, h('span', { class: ['badge', cls], 'data-dkim': res }, 'DKIM ' + res), ' ',
      bits.length ? h('code', null, bits.join(' ')) : null,
      d.reason ? h('span', { class: 'muted' }, ' ' + d.reason) : null,
      extra.length ? h('div', { class: 'muted small' }, extra.join(' · ')) : null);
  }

  const META_LABELS = {
    path: 'Path', peer_port: 'Peer port', content_type: 'Content-Type', content_encoding: 'Content-Encoding',
    user_agent: 'User-Agent', body_bytes: 'Body bytes', format: 'Format', helo: 'HELO',
    mail_from: 'MAIL FROM', rcpt_to: 'RCPT TO', recipients: 'Recipients', tls: 'TLS', tls_version: 'TLS version',
    tls_cipher: 'TLS cipher', message_id: 'Message-ID', subject: 'Subject', dkim: 'DKIM',
    tls_report_domain: 'TLS-Report-Domain', tls_report_submitter: 'TLS-Report-Submitter', file: 'File',
    session: 'Session', client_ip: 'Client IP', rcpts: 'Recipients', message_bytes: 'Message bytes', mail: 'Mail',
    subject_report_id: 'Subject Report-ID', from: 'From', part_type: 'Report part type', part_filename: 'Report part name',
    quarantine: 'From quarantine row', signatures: 'Signatures', policy: 'Policy', released: 'Released',
  };

  /* A meta value: lists joined, objects (the mail headers) as nested key/value lists. */
  function metaValue(v, depth) {
    if (Array.isArray(v)) return v.length ? v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ') : null;
    if (v && typeof v === 'object') {
      if ((depth || 0) > 1) return jsonValue(v);
      const e = Object.entries(v);
      return e.length ? kv(e.map(([k, x]) => [own(META_LABELS, k) || k, metaValue(x, (depth || 0) + 1)])) : null;
    }
    return v === null || v === undefined ? null : String(v);
  }

  function copiesView(copies) {
    if (!Array.isArray(copies) || !copies.length) return h('p', { class: 'muted' }, 'No copies recorded.');
    return h('div', { class: 'copies' }, copies.map((c, i) => {
      const meta = c.meta && typeof c.meta === 'object' ? c.meta : null;
      const pairs = [];
      if (meta && meta.dkim !== undefined) pairs.push(['DKIM', dkimView(meta.dkim)]);
      if (meta) {
        for (const [k, v] of Object.entries(meta)) {
          if (k === 'dkim') continue;
          pairs.push([own(META_LABELS, k) || k, k === 'quarantine' && Number.isInteger(v)
            ? h('a', { href: '#/quarantine/' + v }, 'quarantine #' + v) : metaValue(v)]);
        }
      }
      return h('div', { class: 'copy', 'data-copy': c.id },
        h('div', { class: 'copy-head' },
          h('strong', null, 'Copy ' + (i + 1)),
          h('span', { class: 'chip' }, c.transport || '?'),
          h('span', null, 'from ', h('code', null, c.peer || '—')),
          h('span', { class: 'muted' }, fmtTime(c.received_at))),
        pairs.length ? kv(pairs) : h('p', { class: 'muted small' }, 'No transport details.'));
    }));
  }

  /* ---- views ------------------------------------------------------------------------------ */

  /*
   * A view: mount(main) builds the skeleton and the controls once; load() fetches (through
   * api(), so a refresh is cheap); render() redraws the data parts. update(params) takes new
   * parameters of the same view without rebuilding the controls.
   */

  /* ---- overview ---- */

  const SORTS = {
    domain: { label: 'Domain', key: (d) => d.domain, num: false },
    sessions: { label: 'Sessions', key: (d) => d.sessions, num: true },
    failures: { label: 'Failures', key: (d) => d.failures, num: true },
    failure_rate: { label: 'Failure rate', key: (d) => (d.failure_rate === null ? -1 : d.failure_rate), num: true },
    reporters: { label: 'Reporters', key: (d) => d.reporters, num: true },
    last_report: { label: 'Last report', key: (d) => (d.last_report && d.last_report.received_at) || '', num: false },
  };

  function overviewView(params) {
    const v = { name: 'domains', params: paramsObj(params) };
    const details = new Map();   /* domain|window -> {ts, ready, err} */
    let list = null, empty = null, setup = null, setupErr = null;
    let els = {};

    v.windowParams = () => ({ from: v.params.from, to: v.params.to });

    v.mount = (main) => {
      const filter = h('input', {
        type: 'search', id: 'domain-filter', placeholder: 'Filter by name, e.g. example.com', autocomplete: 'off',
        value: v.params.q || '', 'aria-controls': 'domains-table',
        oninput: () => { v.params.q = filter.value.trim(); v.params.page = ''; v.syncHash(); v.renderTable(); },
      });
      const failing = h('input', {
        type: 'checkbox', id: 'only-failing', checked: v.params.failing === '1',
        onchange: () => { v.params.failing = failing.checked ? '1' : ''; v.params.page = ''; v.syncHash(); v.renderTable(); },
      });
      const sortSel = h('select', {
        id: 'domain-sort',
        onchange: () => {
          const [k, d] = sortSel.value.split(':');
          v.params.sort = k; v.params.dir = d; v.params.page = ''; v.syncHash(); v.renderTable();
        },
      }, Object.entries(SORTS).map(([k, s]) => (s.num ? ['desc', 'asc'] : ['asc', 'desc']).map((d) =>
        h('option', { value: k + ':' + d }, s.label + (s.num ? (d === 'desc' ? ', highest first' : ', lowest first')
          : k === 'domain' ? (d === 'asc' ? ', A–Z' : ', Z–A') : (d === 'desc' ? ', newest first' : ', oldest first'))))));
      els.sort = sortSel;
      els.range = rangeControls(params, (w) => navigate('/domains', Object.assign({}, v.params, w, { page: '' })), 'Window');
      els.cards = h('div', { class: 'cards', id: 'overview-cards' });
      els.table = h('div', { id: 'domains-region' });
      els.trunc = h('p', { class: 'notice', id: 'domains-truncated', role: 'status', hidden: true });
      els.body = h('div', null,
        els.trunc,
        els.cards,
        h('section', { class: 'panel', 'aria-labelledby': 'domains-h' },
          h('div', { class: 'panel-head' }, h('h2', { id: 'domains-h' }, 'Policy domains'),
            h('span', { class: 'muted small', id: 'domains-count' })),
          h('div', { class: 'toolbar' },
            h('div', { class: 'field grow' }, h('label', { for: 'domain-filter' }, 'Filter domains'), filter),
            h('div', { class: 'field' }, h('label', { for: 'domain-sort' }, 'Sort by'), sortSel),
            h('label', { class: 'check' }, failing, 'Only with failures')),
          els.table));
      els.filter = filter;
      els.failing = failing;
      replace(main,
        pageHead('Domains', { sub: 'TLS sessions reported for each policy domain', right: els.range }),
        els.body);
    };

    v.update = (p) => {
      v.params = paramsObj(p);
      els.filter.value = v.params.q || '';
      els.failing.checked = v.params.failing === '1';
    };

    v.syncHash = () => replaceHash('/domains', v.params);

    v.load = async () => {
      list = await api('/domains' + qs(v.windowParams()));
      empty = null;
      if (!list.domains.length) {
        const r = await api('/reports?limit=1');
        empty = r.reports.length === 0;
        if (empty) {
          try { setup = await api('/setup'); setupErr = null; } catch (e) {
            if (e instanceof SignInNeeded) throw e;
            setupErr = e;
          }
        }
      }
    };

    v.render = () => {
      els.range.sync(list.window);
      if (empty) {
        els.body.classList.add('hidden');
        let es = document.getElementById('empty-state');
        const fresh = emptyState(setup, setupErr);
        if (es) es.replaceWith(fresh); else els.body.after(fresh);
        return;
      }
      const old = document.getElementById('empty-state');
      if (old) old.remove();
      els.body.classList.remove('hidden');
      const doms = list.domains;
      els.trunc.hidden = !list.truncated;
      if (list.truncated) {
        els.trunc.textContent = 'The list is cut: tlsrptd returned only the first ' + fmtInt(doms.length) +
          ' domains (its limit per request). The cards, the filter and the sorting cover these only; a shorter window lists fewer domains.';
      }
      const tot = doms.reduce((a, d) => ({ s: a.s + d.sessions, f: a.f + d.failures }), { s: 0, f: 0 });
      const failingN = doms.filter((d) => d.failures > 0).length;
      replace(els.cards,
        card('Domains', fmtInt(doms.length), { id: 'card-domains', note: fmtInt(failingN) + ' with failures' }),
        card('Sessions', fmtInt(tot.s), { id: 'card-sessions', note: fmtDay(list.window.from) + ' – ' + addDays(fmtDay(list.window.to), -1) }),
        card('Failed sessions', fmtInt(tot.f), { id: 'card-failures', cls: tot.f ? 'bad' : '' }),
        card('Failure rate', fmtPct(tot.s ? tot.f / tot.s : null), { id: 'card-rate' }));
      v.renderTable();
    };

    v.rows = () => {
      const q = (v.params.q || '').toLowerCase();
      let rows = list.domains.filter((d) => (!q || d.domain.includes(q)) && (v.params.failing !== '1' || d.failures > 0));
      const sort = own(SORTS, v.params.sort) ? v.params.sort : 'failures';
      const dir = v.params.dir === 'asc' || v.params.dir === 'desc' ? v.params.dir : (SORTS[sort].num ? 'desc' : 'asc');
      const s = SORTS[sort];
      rows = rows.slice().sort((a, b) => {
        const ka = s.key(a), kb = s.key(b);
        let c = s.num ? ka - kb : String(ka).localeCompare(String(kb));
        if (c === 0) c = a.domain.localeCompare(b.domain);
        return dir === 'asc' ? c : -c;
      });
      return { rows, sort, dir };
    };

    v.renderTable = () => {
      if (!list) return;
      const { rows, sort, dir } = v.rows();
      const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
      let page = Math.min(pages, Math.max(1, parseInt(v.params.page || '1', 10) || 1));
      const first = (page - 1) * PAGE_SIZE;
      els.sort.value = sort + ':' + dir;
      const shown = rows.slice(first, first + PAGE_SIZE);
      $('domains-count').textContent = rows.length === list.domains.length
        ? fmtInt(rows.length) + ' domains' : fmtInt(rows.length) + ' of ' + fmtInt(list.domains.length) + ' domains';

      const th = (key, cls) => {
        const s = SORTS[key];
        const active = key === sort;
        const next = active ? (dir === 'asc' ? 'desc' : 'asc') : (s.num ? 'desc' : 'asc');
        return h('th', { class: cls, scope: 'col', 'aria-sort': active ? (dir === 'asc' ? 'ascending' : 'descending') : null },
          h('button', {
            type: 'button', class: 'sort', 'data-key': 'sort-' + key, 'data-sort': key,
            title: 'Sort by ' + s.label.toLowerCase(),
            onclick: () => { v.params.sort = key; v.params.dir = next; v.syncHash(); keepFocus(v.renderTable); },
          }, s.label, h('span', { class: 'arrow', 'aria-hidden': 'true' }, active ? (dir === 'asc' ? '▲' : '▼') : '')));
      };
      const win = v.windowParams();
      const tbody = h('tbody');
      for (const d of shown) {
        const det = details.get(d.domain + '|' + (win.from || '') + '|' + (win.to || ''));
        tbody.appendChild(h('tr', { 'data-domain': d.domain },
          h('td', { class: 'key' }, h('a', { href: hrefDomain(d.domain, win), 'data-key': 'dom-' + d.domain }, d.domain)),
          h('td', { class: 'num', 'data-col': 'sessions' }, fmtInt(d.sessions)),
          h('td', { class: 'num opt', 'data-col': 'failures' }, fmtInt(d.failures)),
          h('td', { class: ['num', rateClass(d.failure_rate)], 'data-col': 'failure_rate' }, fmtPct(d.failure_rate)),
          h('td', { class: 'opt', 'data-col': 'trend' }, det && det.ts ? sparkline(det.ts) : h('span', { class: 'muted small' }, det && det.err ? '!' : '…')),
          h('td', { class: 'num opt', 'data-col': 'reporters' }, fmtInt(d.reporters)),
          h('td', { class: 'opt', 'data-col': 'modes' }, modeChips(d.policy_modes)),
          h('td', { class: 'opt nowrap', 'data-col': 'last_report' }, d.last_report
            ? h('a', { href: hrefReport(d.last_report.id), title: fmtTime(d.last_report.received_at) }, fmtAgo(d.last_report.received_at))
            : '—'),
          h('td', { 'data-col': 'readiness' }, readinessCell(d.domain, det))));
      }
      if (!shown.length) {
        tbody.appendChild(h('tr', { class: 'empty-row' }, h('td', { colspan: 9 },
          list.domains.length ? 'No domain matches this filter.' : 'No domain has data in this window.')));
      }
      const table = h('table', { id: 'domains-table' },
        h('caption', { class: 'hidden' }, 'Policy domains'),
        h('thead', null, h('tr', null,
          th('domain'), th('sessions', 'num'), th('failures', 'num opt'), th('failure_rate', 'num'),
          h('th', { class: 'opt', scope: 'col', title: 'Sessions per day in the window; failures in red' }, 'Trend'),
          th('reporters', 'num opt'),
          h('th', { class: 'opt', scope: 'col' }, 'Modes'),
          th('last_report', 'opt'),
          h('th', { scope: 'col', title: 'MTA-STS enforce readiness over the last 14 days' }, 'Readiness'))),
        tbody);
      const pager = pages > 1 ? h('nav', { class: 'pager', 'aria-label': 'Pages' },
        h('span', { class: 'muted small', id: 'page-info' },
          fmtInt(first + 1) + '–' + fmtInt(first + shown.length) + ' of ' + fmtInt(rows.length)),
        h('span', { class: 'btn-row' },
          h('button', { type: 'button', class: 'btn', 'data-key': 'page-prev', disabled: page <= 1,
            onclick: () => { v.params.page = String(page - 1); v.syncHash(); keepFocus(v.renderTable); v.loadDetails(); } }, '← Previous'),
          h('span', { class: 'small muted' }, 'Page ' + page + ' of ' + pages),
          h('button', { type: 'button', class: 'btn', 'data-key': 'page-next', disabled: page >= pages,
            onclick: () => { v.params.page = String(page + 1); v.syncHash(); keepFocus(v.renderTable); v.loadDetails(); } }, 'Next →')))
        : null;
      keepFocus(() => replace(els.table, h('div', { class: 'table-wrap' }, table), pager));
      v.shown = shown.map((d) => d.domain);
      v.loadDetails();
    };

    function readinessCell(domain, det) {
      if (!det || (!det.ready && !det.err)) return h('span', { class: 'badge pending plain' }, '…');
      if (det.err) return h('span', { class: 'badge plain', title: errorText(det.err) }, 'error');
      return h('a', { href: hrefDomain(domain, {}), class: 'badge-link', title: (det.ready.reasons || []).map((r) => r.message).join('\n') || 'Ready to enforce' },
        verdictBadge(det.ready.verdict));
    }

    /* Sparklines and readiness of the rows on screen, a few requests at a time. */
    v.loadDetails = () => {
      const win = v.windowParams();
      const seq = state.seq;
      const want = (v.shown || []).slice();
      const run = pool(want, DETAIL_CONCURRENCY, async (dom) => {
        if (seq !== state.seq) return;
        const k = dom + '|' + (win.from || '') + '|' + (win.to || '');
        const det = details.get(k) || {};
        try {
          const [ts, ready] = await Promise.all([
            api('/domains/' + encodeURIComponent(dom) + '/timeseries' + qs(win)),
            api('/domains/' + encodeURIComponent(dom) + '/readiness'),
          ]);
          det.ts = ts; det.ready = ready; det.err = null;
        } catch (e) {
          if (e instanceof SignInNeeded) throw e;
          det.err = e;
        }
        details.set(k, det);
        if (seq !== state.seq) return;
        const row = document.querySelector('tr[data-domain="' + CSS.escape(dom) + '"]');
        if (!row) return;
        replace(row.querySelector('[data-col="trend"]'), det.ts ? sparkline(det.ts) : h('span', { class: 'muted small', title: det.err ? errorText(det.err) : '' }, '!'));
        keepFocus(() => replace(row.querySelector('[data-col="readiness"]'), readinessCell(dom, det)));
      });
      v.detailsDone = run.catch((e) => { if (e instanceof SignInNeeded) signIn(); });
      return v.detailsDone;
    };

    return v;
  }

  function emptyState(setup, err) {
    return h('section', { class: 'panel empty', id: 'empty-state', 'aria-labelledby': 'empty-h' },
      h('h2', { id: 'empty-h' }, 'No reports yet'),
      h('p', { class: 'lead' }, 'tlsrptd has not received a TLS report yet. Publish a TLSRPT record for each domain you receive mail for; senders such as Google and Microsoft then send a report every day.'),
      setupBody(setup, err));
  }

  /* The DNS records to publish, from GET /api/v1/setup. */
  function setupRecords(setup) {
    const domains = setup.domains && setup.domains.length ? setup.domains : ['example.com'];
    let https = (setup.rua_https || []).slice();
    let composed = false;
    if (!https.length && setup.ingest_paths && setup.ingest_paths.length) {
      https = [location.origin + setup.ingest_paths[0]];
      composed = true;
    }
    // One address of each kind: every rua URI listed gets every report (more duplicates, not
    // more data), and Microsoft only uses the first.
    https = https.slice(0, 1);
    const rua = (setup.rua_mailto || []).slice(0, 1).map((m) => (m.startsWith('mailto:') ? m : 'mailto:' + m)).concat(https);
    const records = domains.map((d) => ({
      domain: d,
      text: '_smtp._tls.' + d.replace(/\.$/, '') + '. TXT "v=TLSRPTv1; rua=' + rua.join(',') + '"',
    }));
    return { records, composed, https, rua, placeholder: !(setup.domains && setup.domains.length) };
  }

  function copyButton(text, label) {
    const b = h('button', {
      type: 'button', class: 'btn', 'aria-label': label,
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(text);
          b.textContent = 'Copied';
        } catch (e) {
          b.textContent = 'Select and copy';
        }
        setTimeout(() => { b.textContent = 'Copy'; }, 2000);
      },
    }, 'Copy');
    return b;
  }

  function setupBody(setup, err) {
    if (err) return errorPanel(err, 'the set-up details');
    if (!setup) return h('p', { class: 'loading' }, 'Loading…');
    const s = setupRecords(setup);
    const recs = h('div', { id: 'dns-records' }, s.records.map((r) => h('div', { class: 'record-row' },
      h('pre', { class: 'code record', 'data-domain': r.domain }, r.text),
      copyButton(r.text, 'Copy the record for ' + r.domain))));
    const notes = [];
    if (s.placeholder) notes.push(h('li', null, 'This collector accepts reports about any domain (allowed_domains is empty): replace ', h('code', null, 'example.com'), ' with each of your mail domains.'));
    if (s.composed) notes.push(h('li', null, 'public_url is not configured, so the https address above is the one this page was opened with. Set public_url when tlsrptd is reached through a proxy.'));
    if (s.https.some((u) => u.startsWith('http:'))) notes.push(h('li', null, 'Senders only post to https: URIs. Put a TLS-terminating proxy in front of tlsrptd (see the README) and publish its https address.'));
    if (!s.rua.length) notes.push(h('li', null, 'No report address is configured yet: set public_url or smtp_recipients.'));
    if (setup.smtp && !(setup.rua_mailto || []).length) notes.push(h('li', null, 'The SMTP listener is on: add a mailto: address (smtp_recipients) to receive reports by mail too.'));
    return h('div', null,
      h('h3', null, 'DNS records to publish'),
      recs,
      notes.length ? h('ul', { class: 'small' }, notes) : null,
      h('h3', null, 'This collector'),
      kv([
        ['Report by HTTPS', s.https.length ? s.https.join(', ') : null],
        ['Report by mail', (setup.rua_mailto || []).length ? setup.rua_mailto.join(', ') : (setup.smtp ? 'SMTP listener on, no address configured' : 'SMTP listener off')],
        ['Ingest paths', (setup.ingest_paths || []).join(', ')],
        ['DKIM on mailed reports', setup.dkim || null],
        ['API authentication', setup.api_auth ? 'on (tokens)' : 'off'],
      ]));
  }

  function setupView() {
    const v = { name: 'setup' };
    let setup = null;
    let body;
    v.mount = (main) => {
      body = h('section', { class: 'panel', 'aria-labelledby': 'page-title' }, h('p', { class: 'loading' }, 'Loading…'));
      replace(main, pageHead('Set-up', { sub: 'Where senders should send their TLS reports' }), body);
    };
    v.load = async () => { setup = await api('/setup'); };
    v.render = () => replace(body, setupBody(setup, null));
    return v;
  }

  /* ---- one domain ---- */

  const BREAKDOWNS = [
    ['result_type', 'Failures by result type', 'Result type'],
    ['reporter', 'Sessions by reporter', 'Reporter'],
    ['receiving_mx', 'Failures by receiving MX', 'MX host'],
    ['receiving_ip', 'Failures by receiving IP', 'Receiving IP'],
    ['sending_ip', 'Failures by sending IP', 'Sending IP'],
    ['policy_type', 'Sessions by policy type', 'Policy type'],
  ];

  function domainView(domain, params) {
    const v = { name: 'domain', key: domain, params: paramsObj(params) };
    let sum = null, ts = null, ready = null;
    const els = {};
    const enc = encodeURIComponent(domain);

    v.win = () => ({ from: v.params.from, to: v.params.to });

    v.mount = (main) => {
      els.range = rangeControls(params, (w) => navigate('/domains/' + enc, Object.assign({}, v.params, w)), 'Window');
      const interval = h('select', {
        id: 'interval',
        onchange: () => navigate('/domains/' + enc, Object.assign({}, v.params, { interval: interval.value === 'day' ? '' : interval.value })),
      }, h('option', { value: 'day' }, 'Per day'), h('option', { value: 'week' }, 'Per week'));
      interval.value = v.params.interval === 'week' ? 'week' : 'day';
      els.interval = interval;
      const days = h('select', {
        id: 'ready-days',
        onchange: () => navigate('/domains/' + enc, Object.assign({}, v.params, { days: days.value === '14' ? '' : days.value })),
      }, ['7', '14', '30', '60', '90'].map((d) => h('option', { value: d }, d + ' days')));
      days.value = ['7', '14', '30', '60', '90'].includes(v.params.days) ? v.params.days : '14';
      els.days = days;
      els.badge = h('span', { id: 'head-badge' });
      els.cards = h('div', { class: 'cards', id: 'domain-cards' });
      els.ready = h('div', { id: 'readiness' }, h('p', { class: 'loading' }, 'Loading…'));
      els.chart1 = h('div', { class: 'chart', id: 'chart-sessions' });
      els.chart2 = h('div', { class: 'chart', id: 'chart-failures' });
      els.legend1 = h('div');
      els.legend2 = h('div');
      els.tables1 = h('div', { class: 'table-alt' });
      els.breakdowns = h('div', { class: 'grid2', id: 'breakdowns' });
      els.exports = h('div', { class: 'btn-row', id: 'exports' });
      els.links = h('div', { class: 'btn-row' });
      replace(main,
        pageHead(domain, {
          crumbs: [h('a', { href: '#/domains' + qs(v.win()) }, 'Domains'), ' / '],
          badge: els.badge, right: els.range, sub: h('span', { id: 'domain-window' }),
        }),
        els.cards,
        h('section', { class: 'panel', 'aria-labelledby': 'ready-h' },
          h('div', { class: 'panel-head' }, h('h2', { id: 'ready-h' }, 'MTA-STS enforce readiness'),
            h('div', { class: 'field' }, h('label', { for: 'ready-days' }, 'Days looked at'), days)),
          els.ready),
        h('section', { class: 'panel', 'aria-labelledby': 'chart1-h' },
          h('div', { class: 'panel-head' }, h('h2', { id: 'chart1-h' }, 'Sessions'),
            h('div', { class: 'field' }, h('label', { for: 'interval' }, 'Buckets'), interval)),
          els.chart1, els.legend1,
          h('h2', { id: 'chart2-h', class: 'chart2-h' }, 'Failed sessions by result type'),
          els.chart2, els.legend2, els.tables1),
        els.breakdowns,
        h('section', { class: 'panel', 'aria-labelledby': 'exp-h' },
          h('h2', { id: 'exp-h' }, 'Reports and exports'),
          h('p', { class: 'muted small' }, 'The CSV files hold one row per failure detail, policy or report of this domain in this window.'),
          els.links, els.exports));
      v.onResize = () => { if (ts) v.renderCharts(); };
    };

    v.load = async () => {
      const w = v.win();
      const tsParams = Object.assign({}, w, { interval: v.params.interval === 'week' ? 'week' : '' });
      [sum, ts, ready] = await Promise.all([
        api('/domains/' + enc + '/summary' + qs(w)),
        api('/domains/' + enc + '/timeseries' + qs(tsParams)),
        api('/domains/' + enc + '/readiness' + qs({ days: v.params.days })),
      ]);
    };

    v.render = () => {
      const t = sum.totals;
      els.range.sync(sum.window);
      $('domain-window').textContent = fmtDay(sum.window.from) + ' – ' + addDays(fmtDay(sum.window.to), -1) + ' (UTC)' +
        (sum.data && sum.data.first_day ? ' · data from ' + sum.data.first_day + ' to ' + sum.data.last_day : ' · no data in this window');
      replace(els.badge, verdictBadge(ready.verdict, { extra: ['lg'], title: 'Enforce readiness over ' + ready.days + ' days' }));
      replace(els.cards,
        card('Sessions', fmtInt(t.sessions), { id: 'card-sessions' }),
        card('Successful', fmtInt(t.successful), { id: 'card-successful' }),
        card('Failed', fmtInt(t.failures), { id: 'card-failures', cls: t.failures ? 'bad' : '' }),
        card('Failure rate', fmtPct(t.failure_rate), { id: 'card-rate' }),
        card('Reports', fmtInt(t.reports), { id: 'card-reports', note: 'report-days' }));
      v.renderReadiness();
      v.renderCharts();
      v.renderBreakdowns();
      const w = { domain, from: fmtDay(sum.window.from), to: fmtDay(sum.window.to) };
      replace(els.links,
        h('a', { class: 'btn btn-primary', href: '#/reports' + qs({ domain, from: w.from, to: w.to }) }, 'Reports of this domain'),
        h('a', { class: 'btn', href: '#/reports' + qs({ domain, from: w.from, to: w.to, has_failures: 'true' }) }, 'Reports with failures'));
      replace(els.exports, h('span', { class: 'muted small' }, 'CSV:'),
        exportLink('failures', w), exportLink('policies', w), exportLink('reports', w));
    };

    v.renderReadiness = () => {
      const r = ready;
      const blockers = new Set(['would-refuse', 'refused-in-enforce', 'mx-outside-policy', 'policy-fetch-errors', 'webpki-errors']);
      const lead = r.verdict === 'ready'
        ? 'No failure that enforce would refuse, enough data and reporters: switching the MTA-STS policy to enforce looks safe.'
        : r.verdict === 'not-ready'
          ? 'Switching to enforce now would make senders refuse mail: fix these first.'
          : 'Not enough data yet to tell whether enforce is safe.';
      const reasons = (r.reasons || []).map((x) => h('li', { class: blockers.has(x.code) ? 'blocker' : 'gap', 'data-code': x.code },
        h('code', null, x.code), x.message));
      const notes = (r.notes || []).map((x) => h('li', { 'data-code': x.code }, h('code', null, x.code), x.message));
      const s = r.sessions || {}, dd = r.days_of_data || {}, rep = r.reporters || {};
      const fact = (label, value, id, note) => h('div', { class: 'fact', id }, h('div', { class: 'label' }, label),
        h('div', { class: 'value' }, value), note ? h('div', { class: 'note' }, note) : null);
      const major = rep.major ? [['Google', rep.major.google], ['Microsoft', rep.major.microsoft]]
        .map(([n, ok]) => h('span', { class: ok ? 'rate-ok' : 'rate-bad', title: n + (ok ? ' reports' : ' sends no report') }, (ok ? '✓ ' : '✗ ') + n)) : null;
      const mxs = (r.receiving_mx || []);
      replace(els.ready,
        h('div', { class: 'title-line' }, verdictBadge(r.verdict, { extra: ['lg'], id: 'ready-verdict' }),
          h('span', { class: 'muted small' }, 'last ' + r.days + ' days, ' + fmtDay(r.window && r.window.from) + ' – ' + addDays(fmtDay(r.window && r.window.to), -1))),
        h('p', null, lead),
        reasons.length ? h('ul', { class: 'reasons', id: 'ready-reasons' }, reasons) : null,
        h('div', { class: 'facts' },
          fact('STS sessions', fmtInt(s.sts), 'fact-sts'),
          fact('Would be refused', fmtInt(s.would_refuse) + (s.would_refuse_share ? ' (' + fmtPct(s.would_refuse_share) + ')' : ''), 'fact-would-refuse'),
          fact('Refused in enforce', fmtInt(s.refused_in_enforce), 'fact-refused'),
          fact('Clean days', fmtInt(dd.clean_days), 'fact-clean', fmtInt(dd.needed) + ' needed'),
          fact('Reporters', fmtInt(rep.count), 'fact-reporters', major ? [major[0], ' ', major[1]] : null),
          fact('Policy', r.policy && r.policy.modes && r.policy.modes.length ? r.policy.modes.map((m) => m.mode || 'none').join(', ') : '—', 'fact-policy')),
        r.policy && r.policy.mx_patterns && r.policy.mx_patterns.length
          ? h('p', { class: 'small' }, 'MX patterns of the policy reported on ' + (r.policy.mx_patterns_day || '?') + ': ',
            r.policy.mx_patterns.map((p, i) => [i ? ', ' : '', h('code', null, p)])) : null,
        mxs.length ? moreDetails('ready-mx', 'Receiving MX hosts in sts failures (' + mxs.length + ')',
          h('div', { class: 'table-wrap' }, h('table', null,
            h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'MX host'), h('th', { scope: 'col', class: 'num' }, 'Failed sessions'), h('th', { scope: 'col' }, 'In policy'))),
            h('tbody', null, mxs.map((m) => h('tr', null, h('td', { class: 'key' }, m.host), h('td', { class: 'num' }, fmtInt(m.failed_sessions)),
              h('td', null, m.in_policy === null ? 'unknown' : m.in_policy ? 'yes' : h('strong', { class: 'rate-bad' }, 'no')))))))) : null,
        notes.length ? h('div', null, h('h3', { class: 'notes-h' }, 'Notes'), h('ul', { class: 'reasons' }, notes)) : null);
    };

    v.renderCharts = () => {
      const buckets = ts.buckets.map((b) => ({
        label: fmtShortDay(b.start),
        title: ts.interval === 'week' ? 'Week of ' + b.start + ' (to ' + addDays(b.end, -1) + ')' : b.start,
      }));
      const unit = ts.interval === 'week' ? 'weeks' : 'days';
      const s1 = [
        { label: 'Successful', cls: 'c-ok', values: ts.buckets.map((b) => b.successful), total: ts.buckets.reduce((a, b) => a + b.successful, 0) },
        { label: 'Failed', cls: 'c-fail', values: ts.buckets.map((b) => b.failed), total: ts.buckets.reduce((a, b) => a + b.failed, 0) },
      ];
      replace(els.chart1, stackedChart(els.chart1, buckets, s1, { label: 'Successful and failed sessions per ' + (unit === 'weeks' ? 'week' : 'day'), unit, totalLabel: 'Sessions' }));
      replace(els.legend1, legend(s1));
      const s2 = ts.result_types.map((rt, i) => ({
        label: rt, cls: 'c-t' + (i % 12), values: ts.buckets.map((b) => (b.by_result_type || {})[rt] || 0),
      }));
      if (ts.buckets.some((b) => b.other_result_types)) {
        s2.push({ label: 'other result types', cls: 'c-other', values: ts.buckets.map((b) => b.other_result_types || 0) });
      }
      for (const se of s2) se.total = se.values.reduce((a, b) => a + b, 0);
      const anyFail = s2.some((se) => se.total > 0);
      replace(els.chart2, anyFail
        ? stackedChart(els.chart2, buckets, s2, { label: 'Failed sessions by result type per ' + (unit === 'weeks' ? 'week' : 'day'), unit, height: 200, skipZeroInTitle: true, totalLabel: 'Failed' })
        : h('p', { class: 'chart-empty' }, 'No failed sessions in this window.'));
      replace(els.legend2, anyFail ? legend(s2) : null);
      /* The same numbers as a table (screen readers, keyboards, copy and paste). */
      const cols = [['Successful', (b) => b.successful], ['Failed', (b) => b.failed]]
        .concat(s2.map((se, i) => [se.label, (b) => s2[i].values[ts.buckets.indexOf(b)]]));
      replace(els.tables1, moreDetails('series-table', 'Show the numbers as a table',
        h('div', { class: 'table-wrap' }, h('table', { id: 'series-table' },
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, ts.interval === 'week' ? 'Week of' : 'Day'),
            cols.map(([l]) => h('th', { scope: 'col', class: 'num' }, l)))),
          h('tbody', null, ts.buckets.filter((b) => b.sessions).map((b) => h('tr', null, h('th', { scope: 'row', class: 'nowrap' }, b.start),
            cols.map(([, f]) => h('td', { class: 'num' }, fmtInt(f(b)))))))))));
    };

    v.renderBreakdowns = () => {
      const w = { from: fmtDay(sum.window.from), to: fmtDay(sum.window.to) };
      const linkFor = {
        result_type: (k) => '#/reports' + qs({ domain, result_type: k, from: w.from, to: w.to }),
        reporter: (k) => '#/reports' + qs({ domain, reporter: k, from: w.from, to: w.to }),
      };
      const panels = BREAKDOWNS.map(([key, title, keyLabel]) => {
        const bd = sum.breakdowns[key];
        return breakdownPanel(key, title, keyLabel, bd, linkFor[key]);
      });
      keepFocus(() => replace(els.breakdowns, panels));
    };

    return v;
  }

  function breakdownPanel(key, title, keyLabel, bd, link) {
    const id = 'bd-' + key;
    const sect = h('section', { class: 'panel', id, 'aria-labelledby': id + '-h' });
    const withSplit = key === 'reporter' || key === 'policy_type';
    const measure = bd && bd.measure === 'sessions' ? 'Sessions' : 'Failed sessions';
    append(sect, h('div', { class: 'panel-head' }, h('h2', { id: id + '-h' }, title),
      bd && bd.keys ? h('span', { class: 'muted small' }, fmtInt(bd.keys) + (bd.keys === 1 ? ' value' : ' values') + ' · ' + fmtInt(bd.total) + ' ' + measure.toLowerCase()) : null));
    if (!bd || !bd.entries || !bd.entries.length) {
      append(sect, h('p', { class: 'muted' }, bd && bd.measure === 'failed_sessions' ? 'No failures in this window.' : 'No data in this window.'));
      return sect;
    }
    const row = (e) => h('tr', { 'data-key-value': e.key === null ? '' : e.key },
      h('td', { class: 'key' }, e.key === null ? h('span', { class: 'muted' }, '(not given)')
        : link ? h('a', { href: link(e.key), 'data-key': id + '-' + e.key }, e.key) : h('span', { class: 'mono' }, e.key)),
      h('td', { class: 'num', 'data-col': 'sessions' }, fmtInt(e.sessions)),
      withSplit ? h('td', { class: 'num opt', 'data-col': 'failed' }, fmtInt(e.failed)) : null,
      withSplit ? h('td', { class: ['num', rateClass(e.sessions ? e.failed / e.sessions : null)], 'data-col': 'rate' }, fmtPct(e.sessions ? e.failed / e.sessions : null)) : null,
      h('td', { class: 'num', 'data-col': 'share' }, h('span', { class: 'share' }, shareBar(e.share), fmtPct(e.share))));
    const head = h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, keyLabel), h('th', { scope: 'col', class: 'num' }, measure),
      withSplit ? h('th', { scope: 'col', class: 'num opt' }, 'Failed') : null,
      withSplit ? h('th', { scope: 'col', class: 'num' }, 'Failure rate') : null,
      h('th', { scope: 'col', class: 'num' }, 'Share')));
    const other = bd.other && bd.other.sessions ? h('tr', { class: 'other' },
      h('td', null, 'Other (' + fmtInt(bd.other.keys) + ')'), h('td', { class: 'num' }, fmtInt(bd.other.sessions)),
      withSplit ? h('td', { class: 'opt' }) : null, withSplit ? h('td') : null,
      h('td', { class: 'num' }, fmtPct(bd.other.share))) : null;
    const first = bd.entries.slice(0, BREAKDOWN_ROWS);
    const rest = bd.entries.slice(BREAKDOWN_ROWS);
    const tbody = h('tbody', null, first.map(row));
    const table = h('table', null, head, tbody);
    append(sect, h('div', { class: 'table-wrap' }, table));
    const allKey = id + '-all';
    if (rest.length && uiOpen(allKey)) {
      append(tbody, [rest.map(row), other]);
    } else if (rest.length) {
      const btn = h('button', {
        type: 'button', class: 'btn btn-quiet', 'aria-expanded': 'false', 'data-key': id + '-more',
        onclick: () => {
          uiSet(allKey, true);
          append(tbody, [rest.map(row), other]);
          const next = tbody.rows[first.length];
          btn.remove();
          const link = next && next.querySelector('a');
          if (link) link.focus();
        },
      }, 'Show all ' + fmtInt(bd.entries.length) + (other ? ' and other' : ''));
      append(sect, btn);
    } else if (other) {
      tbody.appendChild(other);
    }
    return sect;
  }

  /* ---- reports ---- */

  const REPORT_FILTERS = ['domain', 'reporter', 'result_type', 'has_failures', 'from', 'to', 'before'];

  function reportsView(params) {
    const v = { name: 'reports', params: paramsObj(params) };
    let page = null;
    const els = {};

    v.apiParams = () => {
      const p = { limit: REPORTS_PAGE };
      for (const k of REPORT_FILTERS) if (v.params[k]) p[k] = v.params[k];
      return p;
    };

    v.mount = (main) => {
      const input = (name, label, placeholder) => h('div', { class: 'field' },
        h('label', { for: 'f-' + name }, label),
        h('input', { type: 'text', id: 'f-' + name, name, placeholder, value: v.params[name] || '', autocomplete: 'off' }));
      const hf = h('select', { id: 'f-has_failures', name: 'has_failures' },
        h('option', { value: '' }, 'Any'), h('option', { value: 'true' }, 'With failures'), h('option', { value: 'false' }, 'Without failures'));
      hf.value = v.params.has_failures || '';
      const from = h('input', { type: 'date', id: 'f-from', name: 'from', value: isDay(v.params.from) ? v.params.from : '' });
      const through = h('input', { type: 'date', id: 'f-through', name: 'through', value: isDay(v.params.to) ? addDays(v.params.to, -1) : '' });
      els.form = h('form', {
        class: 'toolbar', 'aria-label': 'Filter reports',
        onsubmit: (ev) => {
          ev.preventDefault();
          const f = els.form.elements;
          navigate('/reports', {
            domain: f.domain.value.trim().toLowerCase(), reporter: f.reporter.value.trim(), result_type: f.result_type.value.trim(),
            has_failures: f.has_failures.value, from: isDay(f.from.value) ? f.from.value : '',
            to: isDay(f.through.value) ? addDays(f.through.value, 1) : '',
          });
        },
      },
      input('domain', 'Domain', 'example.com'),
      input('reporter', 'Reporter', 'Google LLC'),
      input('result_type', 'Result type', 'certificate-expired'),
      h('div', { class: 'field' }, h('label', { for: 'f-has_failures' }, 'Failures'), hf),
      h('div', { class: 'field' }, h('label', { for: 'f-from' }, 'Window from'), from),
      h('div', { class: 'field' }, h('label', { for: 'f-through' }, 'Through'), through),
      h('div', { class: 'btn-row' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply'),
        h('a', { class: 'btn', href: '#/reports' }, 'Clear')));
      els.list = h('div', { id: 'reports-region' }, h('p', { class: 'loading' }, 'Loading…'));
      els.exports = h('div', { class: 'btn-row' });
      replace(main,
        pageHead('Reports', { sub: 'Newest first; a report counts once however many copies arrived' }),
        h('section', { class: 'panel', 'data-keep': true }, els.form),
        h('section', { class: 'panel', 'aria-label': 'Reports' }, els.list),
        h('section', { class: 'panel' }, h('h2', null, 'Export these filters'), els.exports));
    };

    v.load = async () => { page = await api('/reports' + qs(v.apiParams())); };

    v.render = () => {
      const tbody = h('tbody');
      for (const r of page.reports) {
        const doms = r.domains || [];
        tbody.appendChild(h('tr', { 'data-report': r.id },
          h('td', { class: 'num' }, h('a', { href: hrefReport(r.id), 'data-key': 'rep-' + r.id }, '#' + r.id)),
          h('td', { class: 'key' }, (r.reporter && r.reporter.organization_name) || h('span', { class: 'muted' }, '(none)')),
          h('td', { class: 'nowrap' }, fmtDay(r.window && r.window.start),
            r.window && fmtDay(r.window.start) !== fmtDay(r.window.end) && !/T00:00:00Z$/.test(r.window.end || '') ? ' – ' + fmtDay(r.window.end) : ''),
          h('td', { class: 'key opt' }, doms.slice(0, 2).map((d, i) => [i ? ', ' : '', h('a', { href: hrefDomain(d, {}) }, d)]),
            doms.length > 2 ? h('span', { class: 'muted' }, ' +' + (doms.length - 2) + ' more') : null),
          h('td', { class: 'num', 'data-col': 'successful' }, fmtInt(r.totals && r.totals.successful)),
          h('td', { class: ['num', r.totals && r.totals.failed ? 'rate-bad' : ''], 'data-col': 'failed' }, fmtInt(r.totals && r.totals.failed)),
          h('td', { class: 'num opt' }, fmtInt(r.copies)),
          h('td', { class: 'opt nowrap' }, timeEl(r.received_at, true),
            r.conflict_of ? h('span', { class: 'badge not-ready plain', title: 'Same dedup key as report #' + r.conflict_of + ' with other content: not counted' }, 'conflict') : null)));
      }
      if (!page.reports.length) {
        tbody.appendChild(h('tr', { class: 'empty-row' }, h('td', { colspan: 8 },
          page.next_before ? 'No match among the reports looked at; older ones may match.' : 'No report matches these filters.')));
      }
      const older = page.next_before ? h('a', { class: 'btn', href: '#/reports' + qs(Object.assign({}, v.params, { before: page.next_before })), 'data-key': 'older' }, 'Older →') : null;
      const newest = v.params.before ? h('a', { class: 'btn', href: '#/reports' + qs(Object.assign({}, v.params, { before: '' })) }, '← Newest') : null;
      keepFocus(() => replace(els.list,
        h('div', { class: 'table-wrap' }, h('table', { id: 'reports-table' },
          h('thead', null, h('tr', null,
            h('th', { scope: 'col', class: 'num' }, 'Id'), h('th', { scope: 'col' }, 'Reporter'), h('th', { scope: 'col' }, 'Day'),
            h('th', { scope: 'col', class: 'opt' }, 'Domains'), h('th', { scope: 'col', class: 'num' }, 'Successful'),
            h('th', { scope: 'col', class: 'num' }, 'Failed'), h('th', { scope: 'col', class: 'num opt' }, 'Copies'),
            h('th', { scope: 'col', class: 'opt' }, 'Received'))),
          tbody)),
        (older || newest) ? h('nav', { class: 'pager', 'aria-label': 'Pages' }, h('span', null, newest), h('span', null, older)) : null));
      const ex = {};
      for (const k of ['domain', 'reporter', 'result_type', 'has_failures', 'from', 'to']) if (v.params[k]) ex[k] = v.params[k];
      replace(els.exports, exportLink('reports', ex), exportLink('failures', ex), exportLink('policies', ex));
    };

    return v;
  }

  function reportView(id) {
    const v = { name: 'report', key: id };
    let rep = null;
    let rawText = null;   /* the raw JSON once loaded: shown again after a redraw */
    let body;

    v.mount = (main) => {
      body = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
      replace(main, pageHead('Report #' + id, { crumbs: [h('a', { href: '#/reports' }, 'Reports'), ' / '], sub: '…' }), body);
    };

    v.load = async () => { rep = await api('/reports/' + encodeURIComponent(id)); };

    v.render = () => {
      const r = rep;
      const nr = r.report || {};
      const dr = nr.date_range || {};
      const rawPre = h('pre', { class: 'code', id: 'raw-json', hidden: true });
      const showRaw = () => {
        rawPre.textContent = rawText;
        rawPre.hidden = false;
        rawBtn.setAttribute('aria-expanded', 'true');
        rawBtn.textContent = 'Hide raw JSON';
      };
      const rawBtn = h('button', {
        type: 'button', class: 'btn', id: 'raw-toggle', 'aria-expanded': 'false', 'aria-controls': 'raw-json',
        onclick: async () => {
          if (!rawPre.hidden) {
            rawPre.hidden = true; rawBtn.setAttribute('aria-expanded', 'false'); rawBtn.textContent = 'Show raw JSON';
            uiSet('raw-json', false);
            return;
          }
          try {
            const text = await api('/reports/' + encodeURIComponent(id) + '/raw', { text: true });
            let pretty = text;
            try { pretty = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* shown as it is */ }
            rawText = pretty;
            uiSet('raw-json', true);
            showRaw();
          } catch (e) {
            if (e instanceof SignInNeeded) return signIn();
            showBanner('Could not load the raw JSON: ' + errorText(e));
          }
        },
      }, 'Show raw JSON');
      if (uiOpen('raw-json') && rawText !== null) showRaw();
      const windowText = fmtTime(r.window && r.window.start) + ' – ' + fmtTime(r.window && r.window.end);
      const rawDates = (dr.start_raw && dr.start_raw !== dr.start) || (dr.end_raw && dr.end_raw !== dr.end)
        ? h('div', { class: 'muted small' }, 'as sent: ' + (dr.start_raw || '') + ' – ' + (dr.end_raw || '')) : null;
      const lint = r.lint || [];
      $('page-sub').textContent = ((r.reporter && r.reporter.organization_name) || 'Unknown reporter') + ' · ' +
        fmtDay(r.window && r.window.start) + ' · ' + (r.domains || []).slice(0, 3).join(', ') + ((r.domains || []).length > 3 ? ' …' : '');
      replace(body,
        h('div', { class: 'cards' },
          card('Successful', fmtInt(r.totals && r.totals.successful), { id: 'card-successful' }),
          card('Failed', fmtInt(r.totals && r.totals.failed), { id: 'card-failed', cls: r.totals && r.totals.failed ? 'bad' : '' }),
          card('Policies', fmtInt((nr.policies || []).length), { id: 'card-policies' }),
          card('Copies', fmtInt((r.copies || []).length), { id: 'card-copies' }),
          card('Lint', fmtInt(lint.length), { id: 'card-lint' })),
        h('section', { class: 'panel', 'aria-labelledby': 'rep-h' },
          h('h2', { id: 'rep-h' }, 'Report'),
          kv([
            ['Reporter', (r.reporter && r.reporter.organization_name) || null],
            ['Contact', (r.reporter && r.reporter.contact_info) || null],
            ['report-id', h('code', null, r.report_id || '')],
            ['Window', h('span', null, windowText, rawDates)],
            ['Domains', (r.domains || []).length ? h('span', null, r.domains.map((d, i) => [i ? ', ' : '', h('a', { href: hrefDomain(d, {}) }, d)])) : null],
            ['First received', fmtTime(r.received_at)],
            ['SHA-256', h('code', { class: 'small' }, r.sha256 || '')],
            ['Conflict', r.conflict_of ? h('span', null, 'same dedup key as ', h('a', { href: hrefReport(r.conflict_of) }, 'report #' + r.conflict_of), ' with other content: kept, not counted') : undefined],
            ['Decoding', r.report_error ? h('span', { class: 'rate-bad' }, r.report_error) : undefined],
          ])),
        h('section', { class: 'panel', 'aria-labelledby': 'lint-h' },
          h('h2', { id: 'lint-h' }, 'Lint'),
          lint.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'lint-table' },
            h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Code'), h('th', { scope: 'col' }, 'Path'), h('th', { scope: 'col' }, 'Message'))),
            h('tbody', null, lint.map((l) => h('tr', null, h('td', null, h('code', null, l.code)), h('td', { class: 'key' }, h('code', null, l.path || '')), h('td', null, l.message))))))
            : h('p', { class: 'muted' }, 'Nothing to note: the report follows RFC 8460.')),
        h('section', { class: 'panel', 'aria-labelledby': 'pol-h' },
          h('h2', { id: 'pol-h' }, 'Policies'),
          (nr.policies || []).length ? nr.policies.map(policyView) : h('p', { class: 'muted' }, 'No policies.')),
        h('section', { class: 'panel', 'aria-labelledby': 'copies-h' },
          h('h2', { id: 'copies-h' }, 'Copies and provenance'),
          h('p', { class: 'muted small' }, 'Every arrival of this report, duplicates included.'),
          copiesView(r.copies)),
        h('section', { class: 'panel', 'aria-labelledby': 'raw-h' },
          h('h2', { id: 'raw-h' }, 'Raw JSON'),
          h('p', { class: 'muted small' }, 'The report exactly as it arrived (decompressed).'),
          rawBtn, rawPre));
    };
    return v;
  }

  function policyView(p) {
    const sts = p.sts;
    const fd = p.failure_details || [];
    return h('div', { class: 'policy' },
      h('div', { class: 'policy-head' },
        h('span', { class: 'chip' }, p.policy_type || '?'),
        p.policy_domain ? h('a', { href: hrefDomain(p.policy_domain, {}) }, h('strong', null, p.policy_domain)) : null,
        sts && sts.mode ? modeChip(String(sts.mode)) : null,
        h('span', { class: 'muted small' }, fmtInt(p.successful) + ' successful · ' + fmtInt(p.failed) + ' failed')),
      kv([
        ['MX hosts', (p.mx_hosts || []).length ? h('code', null, p.mx_hosts.join(', ')) : null],
        ['Policy', (p.policy_strings || []).length ? h('pre', { class: 'code' }, p.policy_strings.join('\n')) : null],
        ['max_age', sts && sts.max_age !== undefined && sts.max_age !== null ? fmtInt(sts.max_age) + ' s' : undefined],
      ]),
      fd.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'failures' },
        h('caption', { class: 'hidden' }, 'Failure details'),
        h('thead', null, h('tr', null, ['Result type', 'Sending IP', 'Receiving MX', 'Receiving IP', 'Sessions', 'Details'].map((t, i) =>
          h('th', { scope: 'col', class: i === 4 ? 'num' : '' }, t)))),
        h('tbody', null, fd.map((f) => h('tr', null,
          h('td', null, h('code', null, f.result_type)),
          h('td', { class: 'mono' }, f.sending_mta_ip || '—'),
          h('td', { class: 'key' }, f.receiving_mx_hostname || '—', f.receiving_mx_helo ? h('div', { class: 'muted small' }, 'HELO ' + f.receiving_mx_helo) : null),
          h('td', { class: 'mono' }, f.receiving_ip || '—'),
          h('td', { class: 'num' }, fmtInt(f.failed_session_count)),
          h('td', { class: 'small' }, [f.failure_reason_code, f.additional_information].filter(Boolean).join(' · ') || '—')))))) : null);
  }

  /* ---- quarantine ---- */

  function quarantineView(params) {
    const v = { name: 'quarantine', params: paramsObj(params) };
    let page = null;
    let region;

    v.mount = (main) => {
      const status = h('select', {
        id: 'q-status',
        onchange: () => navigate('/quarantine', { status: status.value }),
      }, h('option', { value: '' }, 'All'), h('option', { value: 'held' }, 'Held'), h('option', { value: 'reprocessed' }, 'Reprocessed'));
      status.value = v.params.status || '';
      region = h('div', { id: 'quarantine-region' }, h('p', { class: 'loading' }, 'Loading…'));
      replace(main,
        pageHead('Quarantine', {
          sub: 'Bodies that were kept but not counted: not a report, a domain not served, unsigned mail…',
          right: h('div', { class: 'field' }, h('label', { for: 'q-status' }, 'Status'), status),
        }),
        h('section', { class: 'panel', 'aria-label': 'Quarantined bodies' }, region));
    };

    v.load = async () => { page = await api('/quarantine' + qs({ status: v.params.status, before: v.params.before, limit: REPORTS_PAGE })); };

    v.render = () => {
      const rows = page.quarantine.map((q) => h('tr', { 'data-quarantine': q.id },
        h('td', { class: 'num' }, h('a', { href: '#/quarantine/' + q.id, 'data-key': 'q-' + q.id }, '#' + q.id)),
        h('td', null, h('code', null, q.reason_code)),
        h('td', { class: 'key' }, q.reason),
        h('td', null, h('span', { class: ['badge', 'plain', q.status === 'held' ? 'insufficient-data' : 'ready'] }, q.status),
          q.report ? [' ', h('a', { href: hrefReport(q.report) }, 'report #' + q.report)] : null),
        h('td', { class: 'num opt' }, fmtBytes(q.raw_len)),
        h('td', { class: 'num opt' }, fmtInt(q.seen_count)),
        h('td', { class: 'opt nowrap' }, timeEl(q.last_seen, true))));
      if (!rows.length) rows.push(h('tr', { class: 'empty-row' }, h('td', { colspan: 7 }, 'The quarantine is empty.')));
      const older = page.next_before ? h('a', { class: 'btn', href: '#/quarantine' + qs(Object.assign({}, v.params, { before: page.next_before })) }, 'Older →') : null;
      keepFocus(() => replace(region, h('div', { class: 'table-wrap' }, h('table', { id: 'quarantine-table' },
        h('thead', null, h('tr', null, h('th', { scope: 'col', class: 'num' }, 'Id'), h('th', { scope: 'col' }, 'Code'),
          h('th', { scope: 'col' }, 'Reason'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col', class: 'num opt' }, 'Size'),
          h('th', { scope: 'col', class: 'num opt' }, 'Seen'), h('th', { scope: 'col', class: 'opt' }, 'Last seen'))),
        h('tbody', null, rows))),
      older || v.params.before ? h('nav', { class: 'pager', 'aria-label': 'Pages' },
        v.params.before ? h('a', { class: 'btn', href: '#/quarantine' + qs({ status: v.params.status }) }, '← Newest') : h('span'), older) : null));
    };
    return v;
  }

  function quarantineItemView(id) {
    const v = { name: 'qitem', key: id };
    let q = null;
    let rawText = null;   /* the raw body as shown, once loaded */
    let body, result;

    v.mount = (main) => {
      body = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
      result = h('div', { id: 'action-result', class: 'status-line', role: 'status' });
      replace(main, pageHead('Quarantine #' + id, { crumbs: [h('a', { href: '#/quarantine' }, 'Quarantine'), ' / '] }), result, body);
    };

    v.load = async () => { q = await api('/quarantine/' + encodeURIComponent(id)); };

    async function act(kind, btn) {
      btn.disabled = true;
      replace(result, h('p', { class: 'muted' }, kind === 'delete' ? 'Deleting…' : kind === 'release' ? 'Releasing…' : 'Reprocessing…'));
      try {
        if (kind === 'delete') {
          await api('/quarantine/' + encodeURIComponent(id), { method: 'DELETE' });
          cache.clear();
          navigate('/quarantine', {}, { message: 'Quarantine row #' + id + ' was deleted.' });
          return;
        }
        const r = await api('/quarantine/' + encodeURIComponent(id) + '/' + kind, { method: 'POST' });
        const verb = kind === 'release' ? 'Released' : 'Reprocessed';
        if (r.report && r.report.id) {
          replace(result, h('p', { class: 'form-ok' }, verb + ': ' + r.status + ' as ',
            h('a', { href: hrefReport(r.report.id), id: 'result-report' }, 'report #' + r.report.id), '.'));
        } else {
          const e = r.error || {};
          replace(result, h('p', { class: 'form-error' }, verb + ': still ' + (r.status || 'quarantined') +
            (e.code ? ' (' + e.code + (e.reason ? ': ' + e.reason : '') + ')' : '') + '.'));
        }
        cache.clear();
        await refresh();
      } catch (e) {
        if (e instanceof SignInNeeded) return signIn();
        replace(result, h('p', { class: 'form-error' }, (kind === 'delete' ? 'Delete' : kind === 'release' ? 'Release' : 'Reprocess') + ' failed: ' + errorText(e)));
      } finally {
        btn.disabled = false;
      }
    }

    v.render = () => {
      const rawPre = h('pre', { class: 'code', id: 'raw-body', hidden: true });
      const showRaw = () => {
        rawPre.textContent = rawText;
        rawPre.hidden = false;
        rawBtn.textContent = 'Hide raw body';
        rawBtn.setAttribute('aria-expanded', 'true');
      };
      const rawBtn = h('button', {
        type: 'button', class: 'btn', id: 'raw-toggle', 'aria-expanded': 'false', 'aria-controls': 'raw-body',
        onclick: async () => {
          if (!rawPre.hidden) {
            rawPre.hidden = true; rawBtn.textContent = 'Show raw body'; rawBtn.setAttribute('aria-expanded', 'false');
            uiSet('raw-body', false);
            return;
          }
          try {
            const res = await fetch(API + '/quarantine/' + encodeURIComponent(id) + '/raw', { headers: authHeaders(), cache: 'no-store' });
            if (res.status === 401) throw new SignInNeeded('');
            if (!res.ok) throw await errorFrom(res);
            const buf = new Uint8Array(await res.arrayBuffer());
            const binary = buf.subarray(0, 4096).some((b) => b === 0) || (buf[0] === 0x1f && buf[1] === 0x8b);
            rawText = binary
              ? 'Binary body (' + fmtBytes(buf.length) + '); first bytes in hex:\n' + Array.from(buf.subarray(0, 512), (b) => b.toString(16).padStart(2, '0')).join(' ')
              : new TextDecoder('utf-8', { fatal: false }).decode(buf.subarray(0, RAW_SHOW_MAX)) + (buf.length > RAW_SHOW_MAX ? '\n… (' + fmtBytes(buf.length) + ' in all)' : '');
            uiSet('raw-body', true);
            showRaw();
          } catch (e) {
            if (e instanceof SignInNeeded) return signIn();
            showBanner('Could not load the raw body: ' + errorText(e));
          }
        },
      }, 'Show raw body');
      if (uiOpen('raw-body') && rawText !== null) showRaw();
      const reprocess = h('button', { type: 'button', class: 'btn btn-primary', id: 'btn-reprocess', onclick: () => act('reprocess', reprocess) }, 'Reprocess');
      const isDkim = /^dkim/.test(q.reason_code || '');
      const release = isDkim ? h('button', {
        type: 'button', class: 'btn', id: 'btn-release', title: 'Count it even though its DKIM check failed',
        onclick: () => act('release', release),
      }, 'Release (count despite DKIM)') : null;
      const confirm = h('span', { class: 'btn-row', hidden: true, id: 'delete-confirm' },
        h('span', null, 'Delete row #' + id + ' and its raw bytes for good?'),
        h('button', { type: 'button', class: 'btn btn-danger', id: 'btn-delete-confirm', onclick: (ev) => act('delete', ev.currentTarget) }, 'Delete for good'),
        h('button', { type: 'button', class: 'btn', id: 'btn-delete-cancel', onclick: () => { uiSet('delete-confirm', false); confirm.hidden = true; del.hidden = false; del.focus(); } }, 'Cancel'));
      const del = h('button', {
        type: 'button', class: 'btn btn-danger', id: 'btn-delete',
        onclick: () => { uiSet('delete-confirm', true); confirm.hidden = false; del.hidden = true; $('btn-delete-confirm').focus(); },
      }, 'Delete…');
      if (uiOpen('delete-confirm')) { confirm.hidden = false; del.hidden = true; }
      const detail = q.detail && typeof q.detail === 'object' ? Object.entries(q.detail).filter(([k]) => k !== 'code') : [];
      replace(body,
        h('section', { class: 'panel', 'aria-labelledby': 'q-h' },
          h('div', { class: 'panel-head' }, h('h2', { id: 'q-h' }, 'Why it was kept'),
            h('span', { class: ['badge', 'plain', q.status === 'held' ? 'insufficient-data' : 'ready'], id: 'q-status-badge' }, q.status)),
          kv([
            ['Reason', h('span', null, h('code', null, q.reason_code), ' ', q.reason)],
            ['Detail', detail.length ? h('span', null, detail.map(([k, val], i) => [i ? ' · ' : '', k + ' ', h('code', null, typeof val === 'object' ? JSON.stringify(val) : String(val))])) : null],
            ['Report', q.report ? h('a', { href: hrefReport(q.report) }, 'report #' + q.report) : undefined],
            ['Size', fmtBytes(q.raw_len)],
            ['First seen', fmtTime(q.first_seen)],
            ['Last seen', fmtTime(q.last_seen)],
            ['Arrivals', fmtInt(q.seen_count)],
          ]),
          q.status === 'held' ? null : h('p', { class: 'form-ok' }, 'Already reprocessed', q.report ? [' into ', h('a', { href: hrefReport(q.report) }, 'report #' + q.report)] : null, '.'),
          h('div', { class: 'btn-row', id: 'q-actions' }, q.status === 'held' ? [reprocess, release] : null, del, confirm),
          h('p', { class: 'muted small' }, 'Reprocess runs the body through the ingest pipeline again (after a configuration change, e.g. a newly served domain).',
            isDkim ? ' Release counts it even though its DKIM check failed.' : '')),
        h('section', { class: 'panel', 'aria-labelledby': 'qc-h' }, h('h2', { id: 'qc-h' }, 'Copies and provenance'), copiesView(q.copies)),
        h('section', { class: 'panel', 'aria-labelledby': 'qr-h' }, h('h2', { id: 'qr-h' }, 'Raw body'),
          h('div', { class: 'btn-row' }, rawBtn), rawPre));
    };
    return v;
  }

  /* ---- sign-in ---- */

  function signInView() {
    const v = { name: 'signin', noRefresh: true };
    v.mount = (main) => {
      const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off', spellcheck: 'false', required: true, placeholder: 'tlsrpt_…', 'aria-describedby': 'token-help' });
      const msg = h('div', { id: 'signin-error', role: 'alert' });
      if (state.signInMessage) replace(msg, h('p', { class: 'form-error' }, state.signInMessage));
      const btn = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in');
      const form = h('form', {
        'aria-labelledby': 'page-title',
        onsubmit: async (ev) => {
          ev.preventDefault();
          const tok = input.value.trim();
          if (!tok) return;
          btn.disabled = true;
          clear(msg);
          try {
            const res = await fetch(API + '/domains', { headers: { Authorization: 'Bearer ' + tok }, cache: 'no-store' });
            if (res.status === 401) {
              replace(msg, h('p', { class: 'form-error' }, 'That token was not accepted. Check it and try again.'));
              input.select();
              return;
            }
            if (!res.ok) throw await errorFrom(res);
            state.token = tok;
            state.signInMessage = '';
            sessionStorage.setItem(TOKEN_KEY, tok);
            cache.clear();
            await detectRole();
            route(true);
          } catch (e) {
            replace(msg, h('p', { class: 'form-error' }, 'Sign-in failed: ' + errorText(e)));
          } finally {
            btn.disabled = false;
          }
        },
      },
      h('div', { class: 'field' }, h('label', { for: 'token' }, 'API token'), input),
      h('p', { class: 'muted small', id: 'token-help' }, 'Create one on the server with ', h('code', null, 'tlsrptd token create --role read --domain example.com'),
        ' (or ', h('code', null, '--role admin'), '). It is kept in this browser tab only (sessionStorage).'),
      msg, h('div', null, btn));
      replace(main, h('section', { class: 'panel signin' },
        h('h1', { tabindex: '-1', id: 'page-title' }, 'Sign in'),
        h('p', null, 'This collector requires an API token.'), form));
      setTimeout(() => input.focus(), 0);
    };
    v.load = async () => {};
    v.render = () => {};
    return v;
  }

  /* ---- app shell ---------------------------------------------------------------------------- */

  function signIn() {
    document.body.classList.add('signed-out');
    state.token = '';
    state.roleError = null;   /* the admin check is made again after the sign-in */
    hideBanner();
    sessionStorage.removeItem(TOKEN_KEY);
    $('signout').hidden = true;
    $('nav-quarantine').hidden = true;
    state.seq++;
    state.view = signInView();
    state.view.mount($('main'));
    markNav('');
  }

  async function detectRole() {
    /* The quarantine answers only admins (and everyone when auth is off): a 403 says "not an
       admin". Any other failure (503, no network) says nothing about the role: it is shown. */
    const had = state.roleError;
    try {
      await api('/quarantine?limit=1');
      state.admin = true;
      state.roleError = null;
    } catch (e) {
      if (e instanceof SignInNeeded) throw e;
      state.admin = false;
      state.roleError = e instanceof ApiError && e.status === 403 ? null : e;
    }
    $('nav-quarantine').hidden = !state.admin;
    $('signout').hidden = !state.token;
    $('api-link').hidden = !state.authOff;
    if (state.roleError) {
      if (!had) state.roleDismissed = false;
      if (!state.roleDismissed) showRoleBanner();
    } else if ($('banner').dataset.kind === 'role') {
      hideBanner();
    }
  }

  function markNav(name) {
    const map = { domains: 'domains', domain: 'domains', reports: 'reports', report: 'reports', quarantine: 'quarantine', qitem: 'quarantine', setup: 'setup' };
    for (const a of document.querySelectorAll('[data-nav]')) {
      if (a.dataset.nav === map[name]) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  function viewFor(path, params) {
    let m;
    if (path === '/' || path === '/domains') return overviewView(params);
    if ((m = /^\/domains\/([^/]+)$/.exec(path))) {
      let name;
      try { name = decodeURIComponent(m[1]); } catch (e) { return null; }   /* "%E0%A4%A" */
      return name ? domainView(name, params) : null;
    }
    if (path === '/reports') return reportsView(params);
    if ((m = /^\/reports\/(\d+)$/.exec(path))) return reportView(m[1]);
    if (path === '/quarantine') return quarantineView(params);
    if ((m = /^\/quarantine\/(\d+)$/.exec(path))) return quarantineItemView(m[1]);
    if (path === '/setup') return setupView();
    return null;
  }

  function navigate(path, params, opts) {
    if (opts && opts.message) state.flash = opts.message;
    const target = '#' + path + qs(params);
    if (location.hash === target) route(true);
    else location.hash = target;
  }

  async function show(v, focus) {
    document.body.classList.remove('signed-out');
    const seq = ++state.seq;
    state.view = v;
    state.ui = new Set();
    markNav(v.name);
    const main = $('main');
    v.mount(main);
    if (state.flash) {
      const f = h('p', { class: 'form-ok', role: 'status' }, state.flash);
      state.flash = '';
      main.insertBefore(f, main.children[1] || null);
    }
    const title = document.getElementById('page-title');
    document.title = (title ? title.textContent + ' · ' : '') + 'tlsrptd';
    if (focus && title) title.focus({ preventScroll: false });
    main.setAttribute('aria-busy', 'true');
    try {
      await v.load();
      if (seq !== state.seq) return;
      v.render();
      setUpdated();
      hideBanner();
    } catch (e) {
      if (seq !== state.seq) return;
      if (e instanceof SignInNeeded) return signIn();
      showError(main, e, v.name === 'domain' ? 'this domain' : null);
    } finally {
      main.removeAttribute('aria-busy');
    }
  }

  /* An error in place of a view's data: the heading and the controls (data-keep) stay. */
  function showError(main, e, what) {
    for (const el of Array.from(main.children)) {
      if (!el.classList.contains('page-head') && !el.hasAttribute('data-keep')) el.remove();
    }
    main.appendChild(errorPanel(e, what));
  }

  /* Same view, new parameters: keep the controls, reload the data. */
  async function updateView(v, params) {
    const seq = ++state.seq;
    const main = $('main');
    v.update(params);
    main.setAttribute('aria-busy', 'true');   /* as while a view is first loaded */
    try {
      await v.load();
      if (seq !== state.seq) return;
      keepFocus(v.render);
      hideBanner();
    } catch (e) {
      if (e instanceof SignInNeeded) return signIn();
      showBanner(errorText(e));
    } finally {
      if (seq === state.seq) main.removeAttribute('aria-busy');
    }
  }

  /* No view for this route: the old view is dropped (its late answers and refreshes too). */
  function notFound(path, focus) {
    document.body.classList.remove('signed-out');
    state.seq++;
    state.view = null;
    state.ui = new Set();
    markNav('');
    replace($('main'), pageHead('Not found'), h('div', { class: 'panel' }, h('p', null, 'There is no page ', h('code', null, '#' + path), '. ', h('a', { href: '#/domains' }, 'Go to the domains.'))));
    document.title = 'Not found · tlsrptd';
    const title = document.getElementById('page-title');
    if (focus && title) title.focus();
  }

  let first = true;
  function route(forceNew) {
    if (!state.authOff && !state.token) return signIn();
    const { path, params } = parseHash();
    const cur = state.view;
    const focus = !first;
    first = false;
    const next = viewFor(path, params);
    if (!next) return notFound(path, focus);
    if (!forceNew && cur && cur.update && cur.name === next.name && cur.key === next.key) {
      updateView(cur, params);
      return;
    }
    show(next, focus);
  }

  /* The 60-second refresh (and the Refresh button): reload, redraw only what changed. */
  let refreshing = null;
  async function refresh() {
    const v = state.view;
    if (!v || v.noRefresh || refreshing) return refreshing;
    const seq = state.seq;
    const before = state.changes;
    refreshing = (async () => {
      try {
        await v.load();
        if (seq !== state.seq) return;
        if (state.changes !== before) keepFocus(v.render);
        else if (v.loadDetails) await v.loadDetails();
        setUpdated();
        hideBanner();
        if (state.roleError) await detectRole();
      } catch (e) {
        if (e instanceof SignInNeeded) return signIn();
        showBanner('Refresh failed: ' + errorText(e) + '. The page shows the last data it could load.');
      }
    })();
    try { await refreshing; } finally { refreshing = null; }
  }

  async function boot() {
    $('refresh').addEventListener('click', () => refresh());
    /* The skip link focuses <main> itself: "#main" through the hash router would be a route. */
    for (const a of document.querySelectorAll('a.skip')) {
      a.addEventListener('click', (ev) => {
        ev.preventDefault();
        const m = $('main');
        m.focus();
        m.scrollIntoView({ block: 'start' });
      });
    }
    $('signout').addEventListener('click', () => {
      state.signInMessage = '';
      cache.clear();
      signIn();
    });
    window.addEventListener('hashchange', () => route(false));
    let resizeT = null;
    window.addEventListener('resize', () => {
      if (resizeT) cancelAnimationFrame(resizeT);
      resizeT = requestAnimationFrame(() => { if (state.view && state.view.onResize) state.view.onResize(); });
    });
    setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden && state.lastOk && Date.now() - state.lastOk > REFRESH_MS) refresh();
    });
    /* Is a token needed? Ask without one (or with the stored one): a 401 says yes. */
    try {
      const res = await fetch(API + '/domains', { headers: authHeaders(), cache: 'no-store' });
      if (res.status === 401) {
        if (state.token) state.signInMessage = 'Your saved token was not accepted. Sign in again.';
        state.authOff = false;
        return signIn();
      }
      state.authOff = !state.token;
      if (!res.ok) throw await errorFrom(res);
      await detectRole();
    } catch (e) {
      if (e instanceof SignInNeeded) return signIn();
      showBanner(errorText(e));
    }
    route(false);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
