#!/usr/bin/env node
/*
 * End-to-end test of the tlsrptd dashboard in Debian's headless Chromium, driven by
 * playwright-core (no browser download). Started by tests/integration/test_dashboard.py with
 * one JSON argument:
 *   {open, fresh, auth: base URLs of three daemons (seeded with api_auth off, empty, the seeded
 *    database with api_auth on), admin_token, read_token, read_domain, smtp_quarantine (id of
 *    the mailed report held for DKIM), screenshots (folder), chromium (path), today (UTC day),
 *    hostile (report-controlled strings seeded as reporter, contact, result type, MX, mode),
 *    long_domain, long_mx (a 60-character domain and its 70-character MX names)}
 * Every check compares what the page shows with what the API answers. Exit 0 when all pass.
 */
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const cfg = JSON.parse(process.argv[2] || '{}');
const SHOTS = cfg.screenshots || path.join(os.tmpdir(), 'tlsrptd-e2e-screenshots');
const STEP_TIMEOUT = 20000;
const t0 = Date.now();
let failed = 0;
const consoleProblems = [];
const dialogs = [];          /* alert()/confirm() opened by any page: none may open */
const H = cfg.hostile || {};

fs.mkdirSync(SHOTS, { recursive: true });

function log(msg) {
  process.stdout.write('[' + ((Date.now() - t0) / 1000).toFixed(1).padStart(5) + ' s] ' + msg + '\n');
}

async function api(base, p, token, opts) {
  const headers = token ? { Authorization: 'Bearer ' + token } : {};
  const res = await fetch(base + '/api/v1' + p, Object.assign({ headers }, opts || {}));
  const text = await res.text();
  let body = null;
  try { body = JSON.parse(text); } catch (e) { body = text; }
  return { status: res.status, body, headers: res.headers };
}

async function apiOk(base, p, token) {
  const r = await api(base, p, token);
  assert.equal(r.status, 200, 'GET ' + p + ' answered ' + r.status + ': ' + JSON.stringify(r.body).slice(0, 300));
  return r.body;
}

/* Digits of a number as shown ("5,941" -> 5941). */
function num(text) {
  const t = String(text).replace(/[^0-9.\-]/g, '');
  assert.ok(t.length > 0, 'no number in ' + JSON.stringify(text));
  return Number(t);
}

/*
 * A percentage as shown ("12.34 %") checked against the exact ratio n/d of the API's integer
 * counts, without the app's formatting code: the shown hundredths must be n/d rounded to the
 * nearest 0.01 % (a tie either way; the API's rates carry 6 decimals, hence the 1 % slack on
 * the half). Truncating, a factor of 100 or a wrong denominator fail.
 */
function assertPct(text, n, d, what) {
  text = String(text).trim();
  if (!d) { assert.equal(text, '—', what + ': no sessions'); return; }
  if (text === '<0.01 %') {
    assert.ok(n > 0 && n * 20000 < d * 1.01, what + ': "<0.01 %" for ' + n + '/' + d);
    return;
  }
  assert.ok(!(n > 0 && n * 20000 < d * 0.99), what + ': ' + n + '/' + d + ' should show "<0.01 %", not ' + text);
  const m = /^(\d+)\.(\d\d) %$/.exec(text);
  assert.ok(m, what + ': ' + JSON.stringify(text) + ' is not "N.NN %"');
  const hundredths = Number(m[1]) * 100 + Number(m[2]);
  const off = Math.abs(hundredths * d - n * 10000);   /* |shown - exact| * d, in 0.01 % */
  assert.ok(off * 2 <= d * 1.01, what + ': shows ' + text + ' for ' + n + '/' + d + ' = ' + (n * 100 / d) + ' %');
}

/* RFC 4180 CSV (quoted fields with commas, quotes and line breaks) into arrays of strings. */
function parseCsv(text) {
  const rows = [];
  let row = [], f = '', q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) {
      if (c === '"' && text[i + 1] === '"') { f += '"'; i++; } else if (c === '"') q = false; else f += c;
    } else if (c === '"') q = true;
    else if (c === ',') { row.push(f); f = ''; }
    else if (c === '\r' && text[i + 1] === '\n') { row.push(f); rows.push(row); row = []; f = ''; i++; }
    else if (c === '\n') { row.push(f); rows.push(row); row = []; f = ''; }
    else f += c;
  }
  if (f !== '' || row.length) { row.push(f); rows.push(row); }
  return rows;
}

function addDays(day, n) {
  return new Date(Date.parse(day + 'T00:00:00Z') + n * 86400000).toISOString().slice(0, 10);
}

/* Polls cond (a plain function of test state) until it holds or ms pass. */
async function until(cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
}

async function step(name, page, fn) {
  const s = Date.now();
  try {
    await fn();
    log('ok   ' + name + ' (' + (Date.now() - s) + ' ms)');
  } catch (e) {
    failed++;
    log('FAIL ' + name + ': ' + (e && e.stack ? e.stack : e));
    if (page) {
      try { await shot(page, 'FAILED-' + name.replace(/[^a-z0-9]+/gi, '-')); } catch (e2) { /* best effort */ }
    }
  }
}

/*
 * Console errors and page errors are failures. allow: the HTTP statuses a test provokes on
 * purpose (the browser logs every 4xx answer to fetch as a console error).
 */
function watch(page, label, allow, opts) {
  page.on('dialog', (d) => { dialogs.push(label + ': ' + d.type() + ' ' + d.message()); d.dismiss().catch(() => {}); });
  page.on('console', (m) => {
    if (m.type() !== 'error' && m.type() !== 'warning') return;
    const text = m.text();
    if (opts && opts.failOk && m.location() && opts.failOk.test(m.location().url || '')) return;
    const st = /^Failed to load resource: the server responded with a status of (\d+)/.exec(text);
    if (st && allow && allow.includes(Number(st[1]))) return;
    if (m.type() === 'warning' && !/Content.Security.Policy|CSP/i.test(text)) return;
    consoleProblems.push(label + ': console ' + m.type() + ': ' + text);
  });
  page.on('pageerror', (e) => consoleProblems.push(label + ': page error: ' + e.message));
  page.on('requestfailed', (r) => {
    const f = r.failure();
    /* Downloads and aborted navigations are not errors of the page. */
    if (f && /ERR_ABORTED/.test(f.errorText)) return;
    if (opts && opts.failOk && opts.failOk.test(r.url())) return;
    consoleProblems.push(label + ': request failed: ' + r.url() + ' ' + (f ? f.errorText : ''));
  });
}

async function rowsOf(page, selector) {
  return page.$$eval(selector, (trs) => trs.map((tr) => {
    const o = { id: tr.dataset.domain || tr.dataset.report || tr.dataset.quarantine || '' };
    for (const td of tr.querySelectorAll('[data-col]')) o[td.dataset.col] = td.textContent.trim();
    return o;
  }));
}

/* Every visible form control has a label (or aria-label), every button a name, every image alt text. */
async function checkA11y(page, where) {
  const bad = await page.evaluate(() => {
    const out = [];
    const visible = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
    for (const e of document.querySelectorAll('input, select, textarea')) {
      if (!visible(e) || e.type === 'hidden') continue;
      if (!(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby')) out.push('unlabelled ' + e.outerHTML.slice(0, 80));
    }
    for (const e of document.querySelectorAll('button, a[href]')) {
      if (visible(e) && !e.textContent.trim() && !e.getAttribute('aria-label')) out.push('nameless ' + e.outerHTML.slice(0, 80));
    }
    for (const e of document.querySelectorAll('img')) if (!e.hasAttribute('alt')) out.push('no alt ' + e.outerHTML.slice(0, 80));
    if (!document.querySelector('h1')) out.push('no h1');
    if (document.documentElement.lang !== 'en') out.push('no lang');
    return out;
  });
  assert.deepEqual(bad, [], where);
}

/*
 * No report-controlled string became markup: no on* attribute anywhere, no javascript: link,
 * no <img>/<script>/<iframe> inside <main> (the page itself has none there).
 */
async function checkNoInjection(page, where) {
  const bad = await page.evaluate(() => {
    const out = [];
    for (const el of document.querySelectorAll('*')) {
      for (const a of Array.from(el.attributes)) {
        if (/^on/i.test(a.name)) out.push(el.tagName + '[' + a.name + '=' + a.value + ']');
        if (/^(href|src|xlink:href|action|formaction)$/i.test(a.name) && /^\s*javascript:/i.test(a.value)) out.push(el.tagName + '[' + a.name + '=' + a.value + ']');
      }
    }
    for (const el of document.querySelectorAll('main img, main script, main iframe, main object, main embed')) out.push('element ' + el.outerHTML.slice(0, 80));
    return out;
  });
  assert.deepEqual(bad, [], where + ': markup from report data');
  assert.deepEqual(dialogs, [], where + ': a dialog opened');
}

/* The page is no wider than the viewport (no sideways scrolling). */
async function assertNoSideScroll(page, where) {
  const r = await page.evaluate(() => {
    const vw = document.documentElement.clientWidth;
    const wide = [];
    for (const el of document.querySelectorAll('body *')) {
      const b = el.getBoundingClientRect();
      if (b.width && b.right > vw + 1 && !el.closest('.table-wrap, pre') && getComputedStyle(el).position !== 'absolute') {
        wide.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : '') + ' right=' + Math.round(b.right));
      }
    }
    return { sw: document.documentElement.scrollWidth, vw, wide: wide.slice(0, 5) };
  });
  assert.ok(r.sw <= r.vw, where + ': scrollWidth ' + r.sw + ' > ' + r.vw + '; too wide: ' + r.wide.join(', '));
}

async function waitOverview(page) {
  /* the view is not loading any more (a new window keeps the old rows until its data came) */
  await page.waitForSelector('main:not([aria-busy])', { timeout: STEP_TIMEOUT });
  await page.waitForSelector('#domains-table tbody tr[data-domain]', { timeout: STEP_TIMEOUT });
  await page.waitForFunction(() => !document.querySelector('#domains-table .badge.pending'), null, { timeout: STEP_TIMEOUT });
}

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tlsrptd-e2e-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: cfg.chromium || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
    timezoneId: 'UTC',
    locale: 'en-US',
  });
  context.setDefaultTimeout(STEP_TIMEOUT);
  const O = cfg.open, F = cfg.fresh, A = cfg.auth;
  const today = cfg.today;

  try {
    /* ---- empty state on a fresh daemon ---------------------------------------------------- */
    const fresh = await context.newPage();
    watch(fresh, 'fresh');
    await step('empty state shows the DNS records to publish', fresh, async () => {
      await fresh.goto(F + '/');
      await fresh.waitForSelector('#empty-state #dns-records pre');
      const setup = await apiOk(F, '/setup');
      // one mailto and one https URI: the first of each
      const rua = (setup.rua_mailto || []).slice(0, 1).map((m) => 'mailto:' + m.replace(/^mailto:/, ''))
        .concat(setup.rua_https && setup.rua_https.length ? setup.rua_https.slice(0, 1) : [F + setup.ingest_paths[0]]);
      const doms = setup.domains.length ? setup.domains : ['example.com'];
      const shown = await fresh.$$eval('#dns-records pre', (ps) => ps.map((p) => p.textContent));
      // the fresh daemon is configured with two addresses of each kind (test_dashboard.py)
      assert.deepStrictEqual(rua, ['mailto:tlsrpt@example.com', 'https://tlsrpt.example.com/tlsrpt']);
      assert.deepEqual(shown, doms.map((d) => '_smtp._tls.' + d + '. TXT "v=TLSRPTv1; rua=' + rua.join(',') + '"'));
      assert.match(await fresh.textContent('#empty-state'), /No reports yet/);
      await shot(fresh, '01-empty-state');
    });
    await fresh.close();

    /* ---- overview -------------------------------------------------------------------------- */
    const page = await context.newPage();
    watch(page, 'open');
    const list = await apiOk(O, '/domains');

    await step('overview numbers equal the API', page, async () => {
      await page.goto(O + '/');
      await waitOverview(page);
      const doms = list.domains;
      const sessions = doms.reduce((a, d) => a + d.sessions, 0);
      const failures = doms.reduce((a, d) => a + d.failures, 0);
      assert.equal(num(await page.textContent('#card-domains .value')), doms.length);
      assert.equal(num(await page.textContent('#card-sessions .value')), sessions);
      assert.equal(num(await page.textContent('#card-failures .value')), failures);
      assertPct(await page.textContent('#card-rate .value'), failures, sessions, 'overview failure rate card');
      assert.equal(await page.isVisible('#domains-truncated'), false, 'a complete list says it is cut');
      const rows = await rowsOf(page, '#domains-table tbody tr[data-domain]');
      assert.equal(rows.length, Math.min(50, doms.length));
      const byName = new Map(doms.map((d) => [d.domain, d]));
      for (const r of rows) {
        const d = byName.get(r.id);
        assert.ok(d, 'row for unknown domain ' + r.id);
        assert.equal(num(r.sessions), d.sessions, r.id + ' sessions');
        assert.equal(num(r.failures), d.failures, r.id + ' failures');
        assertPct(r.failure_rate, d.failures, d.sessions, r.id + ' failure rate');
        if (d.sessions) assert.ok(Math.abs(d.failure_rate - d.failures / d.sessions) < 1e-6, r.id + ' API rate vs counts');
        assert.equal(num(r.reporters), d.reporters, r.id + ' reporters');
      }
      /* default order: most failures first */
      const f = rows.map((r) => num(r.failures));
      assert.deepEqual(f, f.slice().sort((a, b) => b - a));
      for (const [dom, label] of [['example.com', 'Ready'], ['example.net', 'Not ready'], ['example.org', 'Insufficient data']]) {
        const ready = await apiOk(O, '/domains/' + dom + '/readiness');
        const want = { 'ready': 'Ready', 'not-ready': 'Not ready', 'insufficient-data': 'Insufficient data' }[ready.verdict];
        assert.equal(want, label, 'fixture verdict of ' + dom);
        assert.equal((await page.textContent('tr[data-domain="' + dom + '"] [data-col="readiness"]')).trim(), want, dom + ' badge');
        const spark = await page.getAttribute('tr[data-domain="' + dom + '"] [data-col="trend"] svg', 'aria-label');
        const ts = await apiOk(O, '/domains/' + dom + '/timeseries');
        assert.ok(spark.includes(ts.buckets.reduce((a, b) => a + b.sessions, 0).toLocaleString('en-US') + ' over'), dom + ' sparkline: ' + spark);
      }
      await shot(page, '02-overview');
    });

    await step('overview sorting, filtering and pages', page, async () => {
      await page.click('button[data-sort="sessions"]');
      let rows = await rowsOf(page, '#domains-table tbody tr[data-domain]');
      const top = list.domains.slice().sort((a, b) => b.sessions - a.sessions)[0];
      assert.equal(rows[0].id, top.domain);
      assert.equal(await page.getAttribute('th:has(button[data-sort="sessions"])', 'aria-sort'), 'descending');
      assert.match(page.url(), /sort=sessions/);
      await page.click('button[data-sort="sessions"]');
      rows = await rowsOf(page, '#domains-table tbody tr[data-domain]');
      const s = rows.map((r) => num(r.sessions));
      assert.deepEqual(s, s.slice().sort((a, b) => a - b));
      await page.selectOption('#domain-sort', 'domain:asc');
      rows = await rowsOf(page, '#domains-table tbody tr[data-domain]');
      const names = list.domains.map((d) => d.domain).sort((a, b) => a.localeCompare(b));
      assert.deepEqual(rows.map((r) => r.id), names.slice(0, 50));
      /* pages */
      await page.click('[data-key="page-next"]');
      assert.equal((await page.textContent('#page-info')).trim(), '51–100 of ' + list.domains.length);
      rows = await rowsOf(page, '#domains-table tbody tr[data-domain]');
      assert.deepEqual(rows.map((r) => r.id), names.slice(50, 100));
      /* filter */
      await page.fill('#domain-filter', 'example.');
      rows = await rowsOf(page, '#domains-table tbody tr[data-domain]');
      const want = names.filter((n) => n.includes('example.'));
      assert.deepEqual(rows.map((r) => r.id), want);
      assert.match(await page.textContent('#domains-count'), new RegExp('^' + want.length + ' of ' + list.domains.length));
      assert.match(page.url(), /q=example\./);
      await page.check('#only-failing');
      rows = await rowsOf(page, '#domains-table tbody tr[data-domain]');
      assert.deepEqual(rows.map((r) => r.id), list.domains.filter((d) => d.domain.includes('example.') && d.failures > 0).map((d) => d.domain).sort());
      /* the URL keeps the view: reload and see the same rows */
      await page.reload();
      await waitOverview(page);
      assert.equal(await page.inputValue('#domain-filter'), 'example.');
      assert.deepEqual((await rowsOf(page, '#domains-table tbody tr[data-domain]')).map((r) => r.id), rows.map((r) => r.id));
      await page.uncheck('#only-failing');
      await page.fill('#domain-filter', '');
    });

    await step('overview date range', page, async () => {
      await page.fill('#range-from', addDays(today, -6));
      await page.fill('#range-through', today);
      await page.click('form.range button[type="submit"]');
      await page.waitForURL(/from=/);
      await waitOverview(page);
      const w = await apiOk(O, '/domains?from=' + addDays(today, -6) + '&to=' + addDays(today, 1));
      assert.equal(num(await page.textContent('#card-sessions .value')), w.domains.reduce((a, d) => a + d.sessions, 0));
      assert.equal(await page.getAttribute('button[data-days="7"]', 'aria-pressed'), 'true');
      await page.click('button[data-days="30"]');
      await page.waitForURL(new RegExp('from=' + addDays(today, -29)));
      await waitOverview(page);
      const w30 = await apiOk(O, '/domains?from=' + addDays(today, -29) + '&to=' + addDays(today, 1));
      assert.equal(num(await page.textContent('#card-sessions .value')), w30.domains.reduce((a, d) => a + d.sessions, 0));
    });

    await step('overview: a sort key that is no column ("__proto__") sorts by the default', page, async () => {
      for (const bad of ['__proto__', 'constructor', 'toString']) {
        await page.goto(O + '/#/domains?sort=' + bad + '&dir=' + bad);
        await waitOverview(page);
        assert.equal(await page.inputValue('#domain-sort'), 'failures:desc', bad);
        const f = (await rowsOf(page, '#domains-table tbody tr[data-domain]')).map((r) => num(r.failures));
        assert.deepEqual(f, f.slice().sort((a, b) => b - a), bad + ': not the default order');
      }
    });

    await step('overview: a list the API cut (truncated) says so', null, async () => {
      const tp = await context.newPage();
      watch(tp, 'truncated');
      try {
        await tp.route((u) => u.pathname === '/api/v1/domains', async (route) => {
          const res = await route.fetch();
          if (res.status() !== 200) return route.fulfill({ response: res });
          const j = await res.json();
          j.truncated = true;
          return route.fulfill({ response: res, json: j });
        });
        await tp.goto(O + '/#/domains');
        await waitOverview(tp);
        assert.ok(await tp.isVisible('#domains-truncated'), 'no notice for a cut list');
        assert.match(await tp.textContent('#domains-truncated'), new RegExp('only the first ' + list.domains.length + ' domains'));
        await shot(tp, '02b-overview-truncated');
      } finally {
        await tp.close();
      }
    });

    /* ---- one domain ---------------------------------------------------------------------- */
    await step('domain page numbers, charts, breakdowns and readiness equal the API', page, async () => {
      await page.goto(O + '/#/domains');
      await waitOverview(page);
      await page.click('tr[data-domain="example.net"] td.key a');
      await page.waitForSelector('#chart-sessions svg');
      assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.id), 'page-title');
      const sum = await apiOk(O, '/domains/example.net/summary');
      const ts = await apiOk(O, '/domains/example.net/timeseries');
      const ready = await apiOk(O, '/domains/example.net/readiness');
      assert.equal(num(await page.textContent('#card-sessions .value')), sum.totals.sessions);
      assert.equal(num(await page.textContent('#card-successful .value')), sum.totals.successful);
      assert.equal(num(await page.textContent('#card-failures .value')), sum.totals.failures);
      assertPct(await page.textContent('#card-rate .value'), sum.totals.failures, sum.totals.sessions, 'domain failure rate card');
      assert.equal(num(await page.textContent('#card-reports .value')), sum.totals.reports);
      /* charts: one column per bucket; the tooltips carry the numbers */
      assert.equal(await page.locator('#chart-sessions g.col').count(), ts.buckets.length);
      const titles = await page.$$eval('#chart-sessions g.col > title', (t) => t.map((x) => x.textContent));
      ts.buckets.forEach((b, i) => {
        assert.ok(titles[i].startsWith(b.start), titles[i]);
        assert.ok(titles[i].includes('Failed: ' + b.failed.toLocaleString('en-US')), titles[i]);
        assert.ok(titles[i].includes('Successful: ' + b.successful.toLocaleString('en-US')), titles[i]);
      });
      const legend2 = await page.$$eval('#chart-failures + div .legend li', (l) => l.map((x) => x.textContent));
      for (const rt of ts.result_types) {
        const total = ts.buckets.reduce((a, b) => a + (b.by_result_type[rt] || 0), 0);
        assert.ok(legend2.includes(rt + ' (' + total.toLocaleString('en-US') + ')'), rt + ' in legend ' + legend2);
      }
      /* breakdowns */
      for (const key of ['result_type', 'reporter', 'receiving_mx', 'receiving_ip', 'sending_ip', 'policy_type']) {
        const bd = sum.breakdowns[key];
        const more = page.locator('#bd-' + key + ' button[data-key$="-more"]');
        if (await more.count()) await more.click();
        const rows = await page.$$eval('#bd-' + key + ' tbody tr:not(.other)', (trs) => trs.map((tr) => ({
          key: tr.dataset.keyValue, sessions: tr.querySelector('[data-col="sessions"]').textContent,
          share: tr.querySelector('[data-col="share"]').textContent.trim(),
          rate: tr.querySelector('[data-col="rate"]') ? tr.querySelector('[data-col="rate"]').textContent : null,
        })));
        assert.equal(rows.length, bd.entries.length, key + ' rows');
        const total = bd.entries.reduce((a, e) => a + e.sessions, 0) + (bd.other ? bd.other.sessions : 0);
        assert.equal(total, bd.total, key + ' entries add up to the total');
        bd.entries.forEach((e, i) => {
          assert.equal(rows[i].key, e.key === null ? '' : e.key, key + ' key');
          assert.equal(num(rows[i].sessions), e.sessions, key + ' ' + e.key);
          assertPct(rows[i].share, e.sessions, bd.total, key + ' share of ' + e.key);
          if (rows[i].rate !== null) assertPct(rows[i].rate, e.failed, e.sessions, key + ' failure rate of ' + e.key);
        });
      }
      /* readiness */
      assert.equal((await page.textContent('#ready-verdict')).trim(), 'Not ready');
      assert.deepEqual(await page.$$eval('#ready-reasons li', (l) => l.map((x) => x.dataset.code)), ready.reasons.map((r) => r.code));
      assert.equal(num(await page.textContent('#fact-sts .value')), ready.sessions.sts);
      await shot(page, '03-domain');
    });

    await step('domain date range, weekly buckets and CSV links carry the filters', page, async () => {
      const from = addDays(today, -9), through = addDays(today, -2), to = addDays(through, 1);
      await page.fill('#range-from', from);
      await page.fill('#range-through', through);
      await page.click('form.range button[type="submit"]');
      await page.waitForURL(new RegExp('#/domains/example\\.net\\?from=' + from + '&to=' + to));
      await page.waitForSelector('#chart-sessions svg');
      const sum = await apiOk(O, '/domains/example.net/summary?from=' + from + '&to=' + to);
      await page.waitForFunction((n) => document.querySelector('#card-sessions .value').textContent.replace(/,/g, '') === String(n), sum.totals.sessions);
      assert.equal(num(await page.textContent('#card-failures .value')), sum.totals.failures);
      assert.equal(await page.locator('#chart-sessions g.col').count(), 8);
      const href = await page.getAttribute('a[data-export="failures"]', 'href');
      const u = new URL(href, O);
      assert.equal(u.pathname, '/api/v1/export/failures.csv');
      assert.equal(u.searchParams.get('domain'), 'example.net');
      assert.equal(u.searchParams.get('from'), from);
      assert.equal(u.searchParams.get('to'), to);
      const csv = await fetch(u.href);
      assert.equal(csv.status, 200);
      assert.match(csv.headers.get('content-type'), /text\/csv/);
      await page.selectOption('#interval', 'week');
      await page.waitForURL(/interval=week/);
      await page.waitForSelector('#chart-sessions svg');
      const wk = await apiOk(O, '/domains/example.net/timeseries?from=' + from + '&to=' + to + '&interval=week');
      await page.waitForFunction((n) => document.querySelectorAll('#chart-sessions g.col').length === n, wk.buckets.length);
      /* the breadcrumb keeps the window */
      await page.click('nav.crumbs a');
      await page.waitForURL(new RegExp('#/domains\\?from=' + from));
      await waitOverview(page);
    });

    await step('domain page controls keep the domain encoded in the route (a%2Fb.example)', null, async () => {
      /* No domain with a "/" can be seeded: the API's answers for example.net stand in for it. */
      const ep = await context.newPage();
      watch(ep, 'encoded');
      try {
        await ep.route((u) => u.pathname.startsWith('/api/v1/domains/a%2Fb.example/'), async (route) => {
          const u = new URL(route.request().url());
          u.pathname = u.pathname.replace('/a%2Fb.example/', '/example.net/');
          return route.fulfill({ response: await route.fetch({ url: u.href }) });
        });
        const here = /#\/domains\/a%2Fb\.example\?/i;
        await ep.goto(O + '/#/domains/a%2Fb.example');
        await ep.waitForSelector('#chart-sessions svg');
        assert.equal((await ep.textContent('#page-title')).trim(), 'a/b.example');
        await ep.selectOption('#interval', 'week');
        await ep.waitForURL(/interval=week/);
        assert.match(ep.url(), here, 'Buckets: ' + ep.url());
        await ep.waitForSelector('#chart-sessions svg');
        await ep.selectOption('#ready-days', '30');
        await ep.waitForURL(/days=30/);
        assert.match(ep.url(), here, 'Days looked at: ' + ep.url());
        await ep.waitForSelector('#ready-verdict');
        await ep.fill('#range-from', addDays(today, -9));
        await ep.fill('#range-through', addDays(today, -2));
        await ep.click('form.range button[type="submit"]');
        await ep.waitForURL(new RegExp('from=' + addDays(today, -9)));
        assert.match(ep.url(), here, 'date range: ' + ep.url());
        await ep.waitForSelector('#chart-sessions svg');
        assert.equal((await ep.textContent('#page-title')).trim(), 'a/b.example');
        assert.equal(await ep.locator('text=There is no page').count(), 0);
        /* the links of the page carry it encoded too */
        const hrefs = await ep.$$eval('#exports a, main a[href^="#/reports"]', (as) => as.map((a) => a.getAttribute('href')));
        assert.ok(hrefs.length > 2 && hrefs.every((h) => /domain=a%2Fb\.example/i.test(h)), hrefs.join(' '));
      } finally {
        await ep.close();
      }
    });

    /* ---- reports ------------------------------------------------------------------------- */
    await step('reports list, filters and pages', page, async () => {
      await page.goto(O + '/#/reports');
      await page.waitForSelector('#reports-table tbody tr[data-report]');
      const all = await apiOk(O, '/reports?limit=50');
      let rows = await rowsOf(page, '#reports-table tbody tr[data-report]');
      assert.deepEqual(rows.map((r) => Number(r.id)), all.reports.map((r) => r.id));
      all.reports.forEach((r, i) => {
        assert.equal(num(rows[i].successful), r.totals.successful);
        assert.equal(num(rows[i].failed), r.totals.failed);
      });
      await shot(page, '04-reports');
      await page.click('[data-key="older"]');
      await page.waitForURL(/before=/);
      await page.waitForFunction((id) => document.querySelector('#reports-table tbody tr[data-report]') &&
        document.querySelector('#reports-table tbody tr[data-report]').dataset.report !== String(id), all.reports[0].id);
      const older = await apiOk(O, '/reports?limit=50&before=' + all.next_before);
      rows = await rowsOf(page, '#reports-table tbody tr[data-report]');
      assert.deepEqual(rows.map((r) => Number(r.id)), older.reports.map((r) => r.id));
      await page.goto(O + '/#/reports');
      await page.fill('#f-domain', 'example.org');
      await page.selectOption('#f-has_failures', 'true');
      await page.click('form.toolbar button[type="submit"]');
      await page.waitForURL(/domain=example\.org/);
      const org = await apiOk(O, '/reports?limit=50&domain=example.org&has_failures=true');
      await page.waitForFunction((n) => document.querySelectorAll('#reports-table tbody tr[data-report]').length === n, org.reports.length);
      rows = await rowsOf(page, '#reports-table tbody tr[data-report]');
      assert.deepEqual(rows.map((r) => Number(r.id)), org.reports.map((r) => r.id));
      assert.ok(org.reports.length > 0);
    });

    await step('report detail: normalised fields, lint, copies, raw JSON', page, async () => {
      const lr = await apiOk(O, '/reports?limit=50&domain=example.net&reporter=' + encodeURIComponent('mx.sender-site.example'));
      assert.equal(lr.reports.length, 1);
      const id = lr.reports[0].id;
      const rep = await apiOk(O, '/reports/' + id);
      await page.goto(O + '/#/reports/' + id);
      await page.waitForSelector('#lint-table');
      assert.deepEqual(await page.$$eval('#lint-table tbody tr td:first-child', (t) => t.map((x) => x.textContent)), rep.lint.map((l) => l.code));
      assert.equal(num(await page.textContent('#card-successful .value')), rep.totals.successful);
      assert.equal(num(await page.textContent('#card-copies .value')), rep.copies.length);
      assert.match(await page.textContent('main'), new RegExp(rep.sha256));
      assert.match(await page.textContent('.copy'), /application\/tlsrpt\+json/);
      await page.click('#raw-toggle');
      await page.waitForSelector('#raw-json:not([hidden])');
      assert.match(await page.textContent('#raw-json'), new RegExp('"report-id": "' + rep.report_id + '"'));
      await shot(page, '05-report');
    });

    await step('hostile strings from reports are shown as text, never as markup, links or classes', page, async () => {
      assert.ok(H.reporter && H.result_type && H.mx && H.mode, 'no hostile fixtures in the config');
      /* overview: the mode "enforce hidden" is a neutral chip, shown (it was class="chip enforce hidden") */
      await page.goto(O + '/#/domains?q=example.net');
      await waitOverview(page);
      const chip = page.locator('tr[data-domain="example.net"] [data-col="modes"] .chip', { hasText: H.mode });
      assert.equal(await chip.count(), 1);
      assert.ok(await chip.isVisible(), 'the "' + H.mode + '" chip is hidden');
      assert.equal(await chip.getAttribute('class'), 'chip other');
      await checkNoInjection(page, 'overview');
      /* domain page: reporter, result type and MX tables, charts, readiness */
      await page.goto(O + '/#/domains/example.net');
      await page.waitForSelector('#bd-reporter tbody tr');
      for (const [bd, text] of [['reporter', H.reporter], ['result_type', H.result_type], ['receiving_mx', H.mx]]) {
        const more = page.locator('#bd-' + bd + ' button[data-key$="-more"]');
        if (await more.count()) await more.click();
        const cell = page.locator('#bd-' + bd + ' tbody tr td.key', { hasText: text });
        assert.equal(await cell.count(), 1, bd + ' row of ' + text);
        assert.equal((await cell.textContent()).trim(), text, bd);
      }
      assert.ok((await page.$$eval('#chart-failures + div .legend li', (l) => l.map((x) => x.textContent))).includes(H.result_type + ' (2)'));
      await page.hover('#bd-result_type tbody tr td.key a >> text=' + JSON.stringify(H.result_type));
      await checkNoInjection(page, 'domain page');
      /* the result type link filters the reports by it, the input shows it as it is */
      await page.click('#bd-result_type tbody tr td.key a >> text=' + JSON.stringify(H.result_type));
      await page.waitForURL(/#\/reports\?/);
      await page.waitForSelector('#reports-table tbody tr[data-report]');
      assert.equal(await page.inputValue('#f-result_type'), H.result_type);
      const rows = await page.$$eval('#reports-table tbody tr[data-report]', (trs) => trs.map((tr) => tr.querySelector('td.key').textContent));
      assert.deepEqual(rows, [H.reporter]);
      await checkNoInjection(page, 'reports list');
      /* the report itself */
      await page.click('#reports-table tbody tr[data-report] td.num a');
      await page.waitForSelector('#raw-toggle');
      const main = await page.textContent('main');
      for (const t of [H.reporter, H.contact, H.report_id, H.result_type, H.mx, H.policy_mx]) assert.ok(main.includes(t), 'not shown literally: ' + t);
      assert.equal(await page.locator('main a', { hasText: H.contact }).count(), 0, 'the contact became a link');
      const pchip = page.locator('.policy-head .chip', { hasText: H.mode });
      assert.ok(await pchip.isVisible(), 'the policy\'s mode chip is hidden');
      assert.equal(await pchip.getAttribute('class'), 'chip other');
      await page.click('#raw-toggle');
      await page.waitForSelector('#raw-json:not([hidden])');
      assert.ok((await page.textContent('#raw-json')).includes(H.reporter));
      await checkNoInjection(page, 'report detail');
      await shot(page, '05b-report-hostile');
    });

    /* ---- quarantine ------------------------------------------------------------------------ */
    await step('quarantine list, raw view and reprocess', page, async () => {
      const q = await apiOk(O, '/quarantine');
      await page.goto(O + '/#/quarantine');
      await page.waitForSelector('#quarantine-table tbody tr[data-quarantine]');
      const rows = await rowsOf(page, '#quarantine-table tbody tr[data-quarantine]');
      assert.deepEqual(rows.map((r) => Number(r.id)), q.quarantine.map((x) => x.id));
      await shot(page, '06-quarantine');
      const bad = q.quarantine.find((x) => x.reason_code === 'not-json');
      await page.click('[data-key="q-' + bad.id + '"]');
      await page.waitForSelector('#btn-reprocess');
      await page.click('#raw-toggle');
      await page.waitForSelector('#raw-body:not([hidden])');
      assert.match(await page.textContent('#raw-body'), /Broken Sender/);
      await page.click('#btn-reprocess');
      await page.waitForSelector('#action-result .form-error');
      assert.match(await page.textContent('#action-result'), /still quarantined \(not-json/);
      await shot(page, '07-quarantine-item');
    });

    await step('quarantine release of a mailed report without DKIM, its copy shows the DKIM verdict', page, async () => {
      const id = cfg.smtp_quarantine;
      assert.ok(id, 'no mailed report in quarantine');
      await page.goto(O + '/#/quarantine/' + id);
      await page.waitForSelector('#btn-release');
      assert.match(await page.textContent('.copy'), /DKIM none/);
      await page.click('#btn-release');
      await page.waitForSelector('#result-report');
      const r = await apiOk(O, '/quarantine/' + id);
      assert.equal(r.status, 'reprocessed');
      assert.match(await page.textContent('#action-result'), new RegExp('Released: accepted as report #' + r.report));
      await page.click('#result-report');
      await page.waitForSelector('.copy [data-dkim]');
      const rep = await apiOk(O, '/reports/' + r.report);
      const dk = rep.copies.map((c) => c.meta && c.meta.dkim && c.meta.dkim.result).filter(Boolean);
      assert.deepEqual(await page.$$eval('.copy [data-dkim]', (b) => b.map((x) => x.dataset.dkim)), dk);
      await shot(page, '08-report-released');
    });

    await step('quarantine delete', page, async () => {
      const q = await apiOk(O, '/quarantine');
      const victim = q.quarantine.find((x) => x.reason_code === 'no-date-range');
      await page.goto(O + '/#/quarantine/' + victim.id);
      await page.click('#btn-delete');
      await page.click('#btn-delete-confirm');
      await page.waitForURL(/#\/quarantine$/);
      await page.waitForSelector('#quarantine-table tbody tr');
      assert.match(await page.textContent('main'), new RegExp('#' + victim.id + ' was deleted'));
      assert.equal(await page.locator('tr[data-quarantine="' + victim.id + '"]').count(), 0);
      assert.equal((await api(O, '/quarantine/' + victim.id)).status, 404);
    });

    await step('set-up view', page, async () => {
      await page.goto(O + '/#/setup');
      await page.waitForSelector('#dns-records pre');
      assert.match(await page.textContent('#dns-records'), /_smtp\._tls\.example\.com\. TXT "v=TLSRPTv1; rua=/);
      await shot(page, '09-setup');
    });

    const ep = await context.newPage();
    watch(ep, 'errors', [400, 404]);
    await step('errors are shown, not swallowed', ep, async () => {
      const page = ep;
      await page.goto(O + '/#/reports?from=yesterday');
      await page.waitForSelector('main [role="alert"]');
      const t = await page.textContent('main [role="alert"]');
      assert.match(t, /HTTP 400 bad-parameter: from must be a date/);
      assert.match(t, /\(parameter from\)/);
      assert.ok(await page.isVisible('#f-domain'), 'the filters stay to fix the error');
      await page.goto(O + '/#/domains/no-such-domain.example');
      await page.waitForSelector('main [role="alert"]');
      assert.match(await page.textContent('main [role="alert"]'), /HTTP 404 not-found/);
      await page.goto(O + '/#/nowhere');
      await page.waitForSelector('text=There is no page');
      /* a bad escape in the domain is "Not found", and the old view goes */
      await page.goto(O + '/#/domains');
      await waitOverview(page);
      await page.evaluate(() => { location.hash = '#/domains/%E0%A4%A'; });
      await page.waitForSelector('text=There is no page');
      assert.equal((await page.textContent('#page-title')).trim(), 'Not found');
      assert.equal(await page.locator('#domains-table').count(), 0, 'the old view stayed');
      await page.click('#refresh');        /* no view: nothing to refresh, no error */
      await new Promise((r) => setTimeout(r, 200));
      assert.equal((await page.textContent('#page-title')).trim(), 'Not found');
      /* a domain that is no domain name: its link target is encoded, the API's 4xx is shown */
      await page.goto(O + '/#/domains/' + encodeURIComponent('bad">x.com'));
      await page.waitForSelector('main [role="alert"]');
      assert.match(await page.textContent('main [role="alert"]'), /HTTP 4\d\d /);
      assert.equal((await page.textContent('#page-title')).trim(), 'bad">x.com');
      await checkNoInjection(page, 'bad domain');
    });
    await ep.close();

    await step('labels, names and alt texts on every view', page, async () => {
      for (const [hash, sel] of [['#/domains', '#domains-table tbody tr[data-domain]'], ['#/domains/example.net', '#chart-sessions svg'],
        ['#/reports', '#reports-table tbody tr'], ['#/quarantine', '#quarantine-table tbody tr'],
        ['#/quarantine/' + cfg.smtp_quarantine, '#q-actions'], ['#/reports/1', '#raw-toggle'], ['#/setup', '#dns-records']]) {
        await page.goto(O + '/' + hash);
        await page.waitForSelector(sel);
        await checkA11y(page, hash);
      }
    });

    /* ---- refresh in place with ETags ------------------------------------------------------------ */
    await step('60-second refresh: 304 keeps the page, new data updates it in place', page, async () => {
      const p2 = await context.newPage();
      watch(p2, 'refresh');
      await p2.clock.install();
      await p2.goto(O + '/#/domains?q=example.net');
      await waitOverview(p2);
      await p2.focus('#domain-filter');
      await p2.evaluate(() => { document.getElementById('domains-table').dataset.mark = 'before'; });
      const statuses = [];
      p2.on('response', (r) => { if (r.url().includes('/api/v1/')) statuses.push(r.status()); });
      await p2.clock.runFor(61000);
      /* the list, then the row's timeseries and readiness */
      await until(() => statuses.length >= 3, STEP_TIMEOUT, 'the refresh requests');
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(statuses.every((s) => s === 304), 'refresh without changes: ' + statuses);
      assert.equal(await p2.getAttribute('#domains-table', 'data-mark'), 'before', 'the table was redrawn without a change');
      /* a new report lands */
      const rep = {
        'organization-name': 'Late Sender', 'contact-info': 'tlsrpt@late.example', 'report-id': 'late-1',
        'date-range': { 'start-datetime': addDays(today, -1) + 'T00:00:00Z', 'end-datetime': addDays(today, -1) + 'T23:59:59Z' },
        'policies': [{ 'policy': { 'policy-type': 'sts', 'policy-domain': 'example.net', 'mx-host': ['mx1.example.net'] },
          'summary': { 'total-successful-session-count': 1000, 'total-failure-session-count': 0 } }],
      };
      const post = await fetch(O + '/tlsrpt', { method: 'POST', headers: { 'Content-Type': 'application/tlsrpt+json' }, body: JSON.stringify(rep) });
      assert.equal(post.status, 201);
      const now = (await apiOk(O, '/domains')).domains.find((d) => d.domain === 'example.net');
      statuses.length = 0;
      await p2.clock.runFor(61000);
      await p2.waitForFunction((n) => {
        const td = document.querySelector('tr[data-domain="example.net"] [data-col="sessions"]');
        return td && td.textContent.replace(/,/g, '') === String(n);
      }, now.sessions);
      assert.ok(statuses.includes(200), 'refresh after new data: ' + statuses);
      assert.equal(await p2.inputValue('#domain-filter'), 'example.net');
      assert.equal(await p2.evaluate(() => document.activeElement.id), 'domain-filter', 'focus kept');
      await p2.close();
    });

    await step('a refresh with new data keeps open what the user opened', null, async () => {
      const rp = await context.newPage();
      watch(rp, 'refresh-state');
      const postJson = async (body) => {
        const r = await fetch(O + '/tlsrpt', { method: 'POST', headers: { 'Content-Type': 'application/tlsrpt+json' }, body });
        assert.ok(r.status === 200 || r.status === 201 || r.status === 400, 'POST answered ' + r.status);
      };
      const isOpen = (sel) => rp.$eval(sel, (d) => d.open);
      try {
        /* domain page: both <details> and a "Show all" */
        await rp.goto(O + '/#/domains/example.net');
        await rp.waitForSelector('details[data-ui="series-table"]');
        await rp.click('details[data-ui="series-table"] > summary');
        await rp.click('details[data-ui="ready-mx"] > summary');
        const more = rp.locator('button[data-key$="-more"]').first();
        const bdId = await more.evaluate((b) => b.closest('section').id);
        await more.click();
        const fullRows = await rp.locator('#' + bdId + ' tbody tr').count();
        assert.ok(fullRows > 10, bdId + ' rows after Show all: ' + fullRows);
        await rp.evaluate(() => { document.getElementById('card-sessions').dataset.mark = 'before'; });
        await postJson(JSON.stringify({
          'organization-name': 'Refresh Sender', 'contact-info': 'tlsrpt@refresh.example', 'report-id': 'refresh-state-1',
          'date-range': { 'start-datetime': addDays(today, -1) + 'T00:00:00Z', 'end-datetime': addDays(today, -1) + 'T23:59:59Z' },
          'policies': [{ 'policy': { 'policy-type': 'sts', 'policy-domain': 'example.net', 'mx-host': ['mx1.example.net'] },
            'summary': { 'total-successful-session-count': 500, 'total-failure-session-count': 0 } }],
        }));
        const sum = await apiOk(O, '/domains/example.net/summary');
        await rp.click('#refresh');
        await rp.waitForFunction((n) => document.querySelector('#card-sessions .value').textContent.replace(/,/g, '') === String(n), sum.totals.sessions);
        assert.equal(await rp.getAttribute('#card-sessions', 'data-mark'), null, 'the view was not redrawn');
        assert.equal(await isOpen('details[data-ui="series-table"]'), true, 'the numbers table closed');
        assert.equal(await isOpen('details[data-ui="ready-mx"]'), true, 'the MX details closed');
        assert.ok(await rp.isVisible('#series-table'));
        assert.equal(await rp.locator('#' + bdId + ' tbody tr').count(), fullRows, '"Show all" was undone');
        assert.equal(await rp.locator('#' + bdId + ' button[data-key$="-more"]').count(), 0);

        /* report detail: the raw JSON */
        const rep1 = await apiOk(O, '/reports/1');
        await rp.goto(O + '/#/reports/1');
        await rp.click('#raw-toggle');
        await rp.waitForSelector('#raw-json:not([hidden])');
        await postJson(await (await fetch(O + '/api/v1/reports/1/raw')).text());
        assert.equal((await apiOk(O, '/reports/1')).copies.length, rep1.copies.length + 1, 'the second copy was not kept');
        await rp.click('#refresh');
        await rp.waitForFunction((n) => document.querySelector('#card-copies .value').textContent === String(n), rep1.copies.length + 1);
        assert.ok(await rp.isVisible('#raw-json'), 'the raw JSON closed');
        assert.equal((await rp.textContent('#raw-toggle')).trim(), 'Hide raw JSON');
        assert.equal(await rp.getAttribute('#raw-toggle', 'aria-expanded'), 'true');

        /* quarantine row: the raw body and the delete confirmation */
        const q = (await apiOk(O, '/quarantine')).quarantine.find((x) => x.reason_code === 'not-json');
        await rp.goto(O + '/#/quarantine/' + q.id);
        await rp.click('#raw-toggle');
        await rp.waitForSelector('#raw-body:not([hidden])');
        await rp.click('#btn-delete');
        await rp.waitForSelector('#delete-confirm:not([hidden])');
        await postJson(await (await fetch(O + '/api/v1/quarantine/' + q.id + '/raw')).text());
        const q2 = await apiOk(O, '/quarantine/' + q.id);
        assert.equal(q2.seen_count, q.seen_count + 1);
        await rp.click('#refresh');
        await rp.waitForFunction((n) => [...document.querySelectorAll('dl.kv dt')].some((dt) => dt.textContent === 'Arrivals' && dt.nextElementSibling.textContent === String(n)), q2.seen_count);
        assert.ok(await rp.isVisible('#raw-body'), 'the raw body closed');
        assert.ok(await rp.isVisible('#delete-confirm'), 'the delete confirmation closed');
        assert.equal(await rp.isVisible('#btn-delete'), false);
        await rp.click('#btn-delete-cancel');
        assert.ok(await rp.isVisible('#btn-delete'));
      } finally {
        await rp.close();
      }
    });

    await step('an admin check that fails (503, no network) is shown, not taken for "no quarantine"', null, async () => {
      const rp = await context.newPage();
      watch(rp, 'role', [503], { failOk: /\/api\/v1\/quarantine\?limit=1$/ });
      try {
        const probe = (u) => u.pathname === '/api/v1/quarantine' && u.search === '?limit=1';
        await rp.route(probe, (route) => route.fulfill({ status: 503, contentType: 'application/json',
          body: JSON.stringify({ error: { code: 'unavailable', reason: 'database busy' } }) }));
        await rp.goto(O + '/#/domains');
        await waitOverview(rp);
        assert.ok(await rp.isVisible('#banner'), 'no message for a 503');
        assert.match(await rp.textContent('#banner'), /quarantine: HTTP 503 unavailable: database busy/);
        assert.equal(await rp.isVisible('#nav-quarantine'), false);
        /* the next refresh asks again and gets an answer */
        await rp.unroute(probe);
        await rp.click('#refresh');
        await rp.waitForSelector('#nav-quarantine', { state: 'visible' });
        assert.equal(await rp.isVisible('#banner'), false);
        /* no network */
        await rp.route(probe, (route) => route.abort('internetdisconnected'));
        await rp.reload();
        await waitOverview(rp);
        assert.ok(await rp.isVisible('#banner'), 'no message when tlsrptd cannot be reached');
        assert.match(await rp.textContent('#banner'), /cannot reach tlsrptd/);
        assert.equal(await rp.isVisible('#nav-quarantine'), false);
        await shot(rp, '09b-role-check-failed');
      } finally {
        await rp.close();
      }
    });

    /* ---- keyboard ------------------------------------------------------------------------------ */
    await step('keyboard reaches the main controls', page, async () => {
      /* a fresh load: the first view does not take the focus, Tab starts at the top */
      await page.goto(O + '/#/domains');
      await page.reload();
      await waitOverview(page);
      const seen = new Set();
      for (let i = 0; i < 40; i++) {
        await page.keyboard.press('Tab');
        const id = await page.evaluate(() => {
          const a = document.activeElement;
          return a.id || a.dataset.key || a.dataset.nav || a.dataset.days || a.className || a.tagName;
        });
        seen.add(id);
      }
      for (const want of ['skip', 'domains', 'reports', 'setup', 'refresh', 'range-from', 'range-through', '30', 'domain-filter', 'domain-sort', 'only-failing', 'sort-domain', 'sort-sessions']) {
        assert.ok(seen.has(want), 'Tab did not reach ' + want + ' (reached: ' + [...seen].join(' ') + ')');
      }
      /* the skip link focuses <main> and stays on this view */
      const before = page.url();
      await page.focus('a.skip');
      assert.ok(await page.isVisible('a.skip'));
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'main');
      assert.equal(page.url(), before, 'the skip link changed the route');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(await page.locator('text=There is no page').count(), 0);
      assert.ok(await page.isVisible('#domains-table'));
      /* a domain link by keyboard: Enter opens it */
      await page.focus('[data-key="dom-example.com"]');
      await page.keyboard.press('Enter');
      await page.waitForURL(/#\/domains\/example\.com/);
      await page.waitForSelector('#ready-verdict');
      assert.equal((await page.textContent('#ready-verdict')).trim(), 'Ready');
      /* the focus ring is visible (outline) on a focused control */
      await page.focus('#interval');
      const outline = await page.$eval('#interval', (e) => getComputedStyle(e).outlineStyle);
      assert.notEqual(outline, 'none');
    });

    /* ---- 375 px ---------------------------------------------------------------------------------- */
    await step('375 px wide: no horizontal scrolling, everything reachable', page, async () => {
      const m = await context.newPage();
      watch(m, 'mobile');
      await m.setViewportSize({ width: 375, height: 812 });
      const LONG = cfg.long_domain;
      assert.ok(LONG && LONG.length === 60, 'no long domain in the config');
      await m.goto(O + '/#/domains');
      await waitOverview(m);
      await assertNoSideScroll(m, 'overview');
      assert.ok(await m.isVisible('tr[data-domain="example.net"] [data-col="readiness"] .badge'));
      await m.screenshot({ path: path.join(SHOTS, '10-overview-375.png'), fullPage: false });
      await m.goto(O + '/#/domains?sort=domain&dir=asc');
      await waitOverview(m);
      assert.equal(await m.getAttribute('#domains-table tbody tr:first-child', 'data-domain'), LONG);
      await assertNoSideScroll(m, 'overview with the long domain');
      await m.goto(O + '/#/domains/example.net');
      await m.waitForSelector('#chart-sessions svg');
      await assertNoSideScroll(m, 'domain page');
      await shot(m, '11-domain-375');
      await m.goto(O + '/#/domains/' + encodeURIComponent(LONG));
      await m.waitForSelector('#ready-verdict');
      await m.waitForSelector('#chart-sessions svg');
      assert.deepEqual(await m.$$eval('#readiness p.small code', (c) => c.map((x) => x.textContent)), cfg.long_mx.slice().sort());
      await m.click('details[data-ui="ready-mx"] > summary');
      await m.click('details[data-ui="series-table"] > summary');
      await assertNoSideScroll(m, 'domain page of the long domain');
      await shot(m, '11b-long-domain-375');
      await m.goto(O + '/#/reports?domain=' + encodeURIComponent(LONG));
      await m.waitForSelector('#reports-table tbody tr[data-report]');
      await assertNoSideScroll(m, 'reports list');
      await m.goto(O + '/#/reports');
      await m.waitForSelector('#reports-table tbody tr[data-report]');
      await assertNoSideScroll(m, 'reports list, all');
      const longRep = (await apiOk(O, '/reports?domain=' + encodeURIComponent(LONG))).reports[0].id;
      await m.goto(O + '/#/reports/' + longRep);
      await m.waitForSelector('.policy-head a');
      await m.click('#raw-toggle');
      await m.waitForSelector('#raw-json:not([hidden])');
      await assertNoSideScroll(m, 'report detail');
      await shot(m, '11c-report-375');
      await m.goto(O + '/#/quarantine');
      await m.waitForSelector('#quarantine-table tbody tr[data-quarantine]');
      await assertNoSideScroll(m, 'quarantine');
      const qid = await m.getAttribute('#quarantine-table tbody tr[data-quarantine]', 'data-quarantine');
      await m.goto(O + '/#/quarantine/' + qid);
      await m.waitForSelector('#q-actions');
      await m.click('#raw-toggle');
      await m.waitForSelector('#raw-body:not([hidden])');
      await assertNoSideScroll(m, 'quarantine row');
      await shot(m, '11d-quarantine-375');
      await m.close();
    });
    await page.close();

    /* ---- token sign-in ----------------------------------------------------------------------- */
    const s = await context.newPage();
    watch(s, 'auth', [401, 403]);
    await step('sign-in: a wrong token is refused with a message', s, async () => {
      await s.goto(A + '/');
      await s.waitForSelector('#token');
      assert.equal(await s.evaluate(() => document.activeElement.id), 'token');
      await checkA11y(s, 'sign-in');
      await shot(s, '12-sign-in');
      await s.fill('#token', 'tlsrpt_wrong_' + 'x'.repeat(30));
      await s.press('#token', 'Enter');
      await s.waitForSelector('#signin-error .form-error');
      assert.match(await s.textContent('#signin-error'), /not accepted/);
      assert.equal(await s.evaluate(() => sessionStorage.length), 0);
    });

    await step('sign-in with a read token: only its domains, no quarantine', s, async () => {
      await s.fill('#token', cfg.read_token);
      await s.click('form button[type="submit"]');
      await waitOverview(s);
      const mine = await apiOk(A, '/domains', cfg.read_token);
      const rows = await rowsOf(s, '#domains-table tbody tr[data-domain]');
      assert.deepEqual(rows.map((r) => r.id).sort(), mine.domains.map((d) => d.domain).sort());
      assert.ok(rows.every((r) => r.id === cfg.read_domain || r.id.endsWith('.' + cfg.read_domain)));
      rows.forEach((r) => assert.equal(num(r.sessions), mine.domains.find((d) => d.domain === r.id).sessions));
      assert.equal(await s.isVisible('#nav-quarantine'), false);
      assert.equal(await s.isVisible('#signout'), true);
      await s.goto(A + '/#/quarantine');
      await s.waitForSelector('main [role="alert"]');
      assert.match(await s.textContent('main'), /admin token/);
      /* the token survives a reload of the tab (sessionStorage) */
      await s.goto(A + '/#/domains');
      await s.reload();
      await waitOverview(s);
      await s.click('#signout');
      await s.waitForSelector('#token');
      assert.equal(await s.evaluate(() => sessionStorage.length), 0);
    });

    await step('sign-in with an admin token: every domain, quarantine, CSV with the token', s, async () => {
      await s.fill('#token', cfg.admin_token);
      await s.click('form button[type="submit"]');
      await waitOverview(s);
      const all = await apiOk(A, '/domains', cfg.admin_token);
      assert.equal(num(await s.textContent('#card-domains .value')), all.domains.length);
      /* the token is in this tab's sessionStorage only */
      assert.deepEqual(await s.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie]), [0, 1, '']);
      assert.equal(await s.isVisible('#nav-quarantine'), true);
      await s.click('#nav-quarantine');
      await s.waitForSelector('#quarantine-table tbody tr');
      const q = await apiOk(A, '/quarantine', cfg.admin_token);
      assert.equal(await s.locator('#quarantine-table tbody tr[data-quarantine]').count(), q.quarantine.length);
      await s.goto(A + '/#/domains/example.com');
      await s.waitForSelector('a[data-export="reports"]');
      const [dl] = await Promise.all([s.waitForEvent('download'), s.click('a[data-export="reports"]')]);
      const file = await dl.path();
      const text = fs.readFileSync(file, 'utf8');
      assert.match(text.split('\r\n')[0], /report/i);
      assert.ok(text.split('\r\n').length > 2, 'CSV has rows');
      await shot(s, '13-domain-admin');
      /* the failures CSV of example.net through the page's link: the failed sessions it lists
         (counted rows) are the ones the page shows for that window, type by type */
      await s.goto(A + '/#/domains/example.net');
      await s.waitForSelector('a[data-export="failures"]');
      await s.waitForSelector('#bd-result_type tbody tr');
      for (const a of await s.$$eval('a[data-export]', (as) => as.map((x) => x.getAttribute('href')))) {
        assert.ok(!a.includes(cfg.admin_token) && !a.includes(cfg.admin_token.slice(7, 23)) && !/token|bearer|auth/i.test(a), 'CSV link carries the token: ' + a);
      }
      const [fdl] = await Promise.all([s.waitForEvent('download'), s.click('a[data-export="failures"]')]);
      const rows = parseCsv(fs.readFileSync(await fdl.path(), 'utf8'));
      const head = rows.shift();
      const col = (n) => { const i = head.indexOf(n); assert.ok(i >= 0, 'no column ' + n + ' in ' + head); return i; };
      const cCount = col('failed_session_count'), cCounted = col('counted'), cType = col('result_type'), cDom = col('policy_domain');
      assert.ok(rows.length > 5 && rows.every((r) => r.length === head.length), 'CSV rows');
      assert.ok(rows.every((r) => r[cDom] === 'example.net'));
      const counted = rows.filter((r) => r[cCounted] === '1' || r[cCounted] === 'true');
      const byType = new Map();
      for (const r of counted) byType.set(r[cType], (byType.get(r[cType]) || 0) + Number(r[cCount]));
      assert.equal([...byType.values()].reduce((a, b) => a + b, 0), num(await s.textContent('#card-failures .value')), 'CSV failures vs the Failed card');
      const shown = await s.$$eval('#bd-result_type tbody tr:not(.other)', (trs) => trs.map((tr) => [tr.dataset.keyValue, tr.querySelector('[data-col="sessions"]').textContent]));
      assert.deepEqual(new Map(shown.map(([k, v]) => [k, num(v)])), byType, 'CSV failures by result type vs the page');
      assert.ok(byType.has(H.result_type), 'the hostile result type is in the CSV as it is');
      /* a middle click downloads with the token too (a new tab would get a 401) */
      let opened = 0;
      const onPage = () => { opened++; };
      context.on('page', onPage);
      const [mdl] = await Promise.all([s.waitForEvent('download'), s.click('a[data-export="policies"]', { button: 'middle' })]);
      assert.match(fs.readFileSync(await mdl.path(), 'utf8').split('\r\n')[0], /^report,/);
      await new Promise((r) => setTimeout(r, 300));
      context.off('page', onPage);
      assert.equal(opened, 0, 'the middle click opened a tab');
      await checkNoInjection(s, 'signed-in domain page');
    });
    await s.close();

    await step('no console errors, no failed requests, no CSP violations', null, async () => {
      assert.deepEqual(consoleProblems, []);
      assert.deepEqual(dialogs, []);
    });
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  log((failed ? failed + ' check(s) FAILED' : 'all checks passed') + '; screenshots in ' + SHOTS);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  log('FAIL (harness): ' + (e && e.stack ? e.stack : e));
  process.exit(2);
});
