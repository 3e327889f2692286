#!/usr/bin/env node
/*
 * End-to-end test of the tlsrptd dashboard in Debian's headless Chromium, driven by
 * playwright-core (no browser download). Started by tests/integration/test_dashboard.py with
 * one JSON argument:
 *   {open, fresh, auth: base URLs of three daemons (seeded with api_auth off, empty, the seeded
 *    database with api_auth on), admin_token, read_token, read_domain, smtp_quarantine (id of
 *    the mailed report held for DKIM), screenshots (folder), chromium (path), today (UTC day)}
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

function pct(rate) {
  if (rate === null || rate === undefined) return '—';
  if (rate > 0 && rate < 0.00005) return '<0.01 %';
  return (rate * 100).toFixed(2) + ' %';
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
function watch(page, label, allow) {
  page.on('console', (m) => {
    if (m.type() !== 'error' && m.type() !== 'warning') return;
    const text = m.text();
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

async function waitOverview(page) {
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
      const rua = (setup.rua_mailto || []).map((m) => 'mailto:' + m.replace(/^mailto:/, ''))
        .concat(setup.rua_https && setup.rua_https.length ? setup.rua_https : [F + setup.ingest_paths[0]]);
      const doms = setup.domains.length ? setup.domains : ['example.com'];
      const shown = await fresh.$$eval('#dns-records pre', (ps) => ps.map((p) => p.textContent));
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
      assert.equal((await page.textContent('#card-rate .value')).trim(), pct(failures / sessions));
      const rows = await rowsOf(page, '#domains-table tbody tr[data-domain]');
      assert.equal(rows.length, Math.min(50, doms.length));
      const byName = new Map(doms.map((d) => [d.domain, d]));
      for (const r of rows) {
        const d = byName.get(r.id);
        assert.ok(d, 'row for unknown domain ' + r.id);
        assert.equal(num(r.sessions), d.sessions, r.id + ' sessions');
        assert.equal(num(r.failures), d.failures, r.id + ' failures');
        assert.equal(r.failure_rate, pct(d.failure_rate), r.id + ' failure rate');
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
      assert.match(await page.textContent('#page-info'), /^51–100 of 154|^51–100 of/);
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
      assert.equal((await page.textContent('#card-rate .value')).trim(), pct(sum.totals.failure_rate));
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
        })));
        assert.equal(rows.length, bd.entries.length, key + ' rows');
        bd.entries.forEach((e, i) => {
          assert.equal(rows[i].key, e.key === null ? '' : e.key, key + ' key');
          assert.equal(num(rows[i].sessions), e.sessions, key + ' ' + e.key);
          assert.equal(rows[i].share, pct(e.share), key + ' share of ' + e.key);
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
      for (const want of ['domains', 'reports', 'setup', 'refresh', 'range-from', 'range-through', '30', 'domain-filter', 'domain-sort', 'only-failing', 'sort-domain', 'sort-sessions']) {
        assert.ok(seen.has(want), 'Tab did not reach ' + want + ' (reached: ' + [...seen].join(' ') + ')');
      }
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
      await m.goto(O + '/#/domains');
      await waitOverview(m);
      const sw = await m.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(sw <= 375, 'overview scrollWidth ' + sw);
      assert.ok(await m.isVisible('tr[data-domain="example.net"] [data-col="readiness"] .badge'));
      await m.screenshot({ path: path.join(SHOTS, '10-overview-375.png'), fullPage: false });
      await m.goto(O + '/#/domains/example.net');
      await m.waitForSelector('#chart-sessions svg');
      const sw2 = await m.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(sw2 <= 375, 'domain page scrollWidth ' + sw2);
      await shot(m, '11-domain-375');
      await m.goto(O + '/#/reports');
      await m.waitForSelector('#reports-table tbody tr');
      assert.ok((await m.evaluate(() => document.documentElement.scrollWidth)) <= 375, 'reports page scrolls sideways');
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
    });
    await s.close();

    await step('no console errors, no failed requests, no CSP violations', null, async () => {
      assert.deepEqual(consoleProblems, []);
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
