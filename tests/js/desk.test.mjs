// The desk in a real browser: playwright-core drives Debian's Chromium against a livedoc binary.
// Two browser contexts are two users (A: Administrator, B: an Accounts User) looking at the same
// invoices; a third (C, no roles) checks what a user without permission sees.
//
//   go build -o bin/livedoc ./cmd/livedoc && cd tests/js && node --test desk.test.mjs
//
// Every wait is on a condition with a deadline; the only fixed wait is scenario 5's offline period,
// which is the scenario itself. Each scenario saves a screenshot of its final state in
// tests/js/test-output/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startLivedoc, login, sessionHeaders } from './lib/server.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const OUT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'test-output');
const B_USER = 'bea@example.com';
const C_USER = 'nora@example.com';
const PW = 'desk-test-pw-1';
const LIVE_MS = 2000; // "within 2 s"

let srv;
let admin; // Administrator's REST session
let browser;
let launching; // the browser starts while the server does
let ctxA;
let ctxB;
let pageA;
let pageB;

async function rest(session, method, urlPath, body) {
  const res = await fetch(srv.url + urlPath, {
    method,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...sessionHeaders(session) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${urlPath}: HTTP ${res.status}: ${text}`);
  return JSON.parse(text);
}

async function newInvoice(remarks) {
  const { data } = await rest(admin, 'POST', '/api/resource/Invoice', {
    customer: 'Acme', remarks, items: [{ item: 'Widget', qty: 2, rate: 10 }],
  });
  return data.name;
}

/** A saves through REST (not through a form, so no client script runs). */
async function saveAsAdmin(name, values) {
  return (await rest(admin, 'PUT', `/api/resource/Invoice/${encodeURIComponent(name)}`, values)).data;
}

async function newContext(user, password, { viaForm = false } = {}) {
  const ctx = await browser.newContext({ baseURL: srv.url, viewport: { width: 1280, height: 860 } });
  if (viaForm) {
    const page = await ctx.newPage();
    await page.goto('/app');
    await page.fill('#login-usr', user);
    await page.fill('#login-pwd', password);
    await page.click('#login-form button[type="submit"]');
    await page.waitForSelector('.navbar #conn', { timeout: 10_000 });
    await page.close();
  } else {
    const res = await ctx.request.post('/api/method/login', { data: { usr: user, pwd: password } });
    assert.equal(res.status(), 200, `login ${user}: ${await res.text()}`);
  }
  return ctx;
}

async function newPage(ctx) {
  const page = await ctx.newPage();
  page.on('dialog', (d) => d.accept().catch(() => {}));
  page.on('pageerror', (err) => console.error(`[browser] ${err.message}`));
  return page;
}

/** Opens a document's form and waits until it is loaded and live (subscribed and open). */
async function openForm(page, name) {
  await page.goto(`/app/invoice/${encodeURIComponent(name)}`);
  await page.waitForSelector('.form-page[data-live="1"]', { timeout: 10_000 });
  await page.waitForFunction((n) => window.cur_frm?.doc?.name === n, name, { timeout: 10_000 });
}

function field(page, fieldname) {
  return page.locator(`.form-page [data-fieldname="${fieldname}"]`).locator('input, textarea, select').first();
}

/** Waits until the form's field shows value. */
async function waitValue(page, fieldname, value, timeout = LIVE_MS) {
  await page.waitForFunction(([f, v]) => {
    const el = document.querySelector(`.form-page [data-fieldname="${f}"] :is(input, textarea, select)`);
    return el && el.value === v;
  }, [fieldname, value], { timeout, polling: 50 });
}

async function shot(page, file) {
  await page.screenshot({ path: path.join(OUT, file), fullPage: true });
}

before(async () => {
  await mkdir(OUT, { recursive: true });
  launching = chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  srv = await startLivedoc();
  admin = await login(srv.url, 'Administrator', srv.adminPassword);
  await rest(admin, 'POST', '/api/resource/User', { email: B_USER, first_name: 'Bea', new_password: PW, roles: [{ role: 'Accounts User' }] });
  await rest(admin, 'POST', '/api/resource/User', { email: C_USER, first_name: 'Nora', new_password: PW, roles: [] });
  for (const customer_name of ['Acme', 'Globex']) await rest(admin, 'POST', '/api/resource/Customer', { customer_name });
  browser = await launching;
  ctxA = await newContext('Administrator', srv.adminPassword, { viaForm: true });
  ctxB = await newContext(B_USER, PW);
  pageA = await newPage(ctxA);
  pageB = await newPage(ctxB);
});

after(async () => {
  browser ??= await launching?.catch(() => null);
  await browser?.close();
  await srv?.stop();
});

test('1: A saves a field, B sees it live; B\'s list shows A\'s new document', async () => {
  const name = await newInvoice('first');
  await Promise.all([openForm(pageA, name), openForm(pageB, name)]);
  await pageB.evaluate(() => { window.__marker = 'still here'; });

  await field(pageA, 'remarks').fill('Updated by A');
  await pageA.click('.form-page [data-action="save"]');
  await pageA.waitForFunction(() => !window.cur_frm.is_dirty() && window.cur_frm.doc.remarks === 'Updated by A', null, { timeout: 5000 });
  await waitValue(pageB, 'remarks', 'Updated by A');
  assert.equal(await pageB.evaluate(() => window.__marker), 'still here', 'B reloaded the page');

  // B goes to the list (in the page), A creates an invoice through the form.
  await pageB.click('.crumbs a.crumb');
  await pageB.waitForSelector('.list-page[data-live="1"]', { timeout: 5000 });
  await pageA.goto('/app/invoice/new');
  await pageA.waitForSelector('.form-page [data-fieldname="customer"] input');
  // The customer field has the focus, but its dropdown stays closed (it covered the next field).
  await pageA.waitForFunction(() => document.activeElement?.closest('[data-fieldname]')?.dataset.fieldname === 'customer', null, { timeout: 5000 });
  assert.equal(await pageA.locator('.form-page [data-fieldname="customer"] .link-dropdown').isHidden(), true, 'the Link dropdown opened by itself');
  await field(pageA, 'customer').click();
  await field(pageA, 'customer').fill('Acm');
  await pageA.click('.form-page [data-fieldname="customer"] .link-item[data-value="Acme"]', { timeout: 5000 });
  await field(pageA, 'remarks').fill('made by A');
  await pageA.keyboard.press('Control+s');
  await pageA.waitForURL(/\/app\/invoice\/INV-/, { timeout: 5000 });
  const created = await pageA.evaluate(() => window.cur_frm.docname);
  await pageB.waitForSelector(`.list-table tr[data-name="${created}"]`, { timeout: LIVE_MS + 1000 });
  assert.equal(await pageB.evaluate(() => window.__marker), 'still here', 'B reloaded the page');
  // The list's filter and sort.
  assert.equal(await pageB.locator('.list-table tbody tr').first().getAttribute('data-name'), created, 'newest first');
  await pageB.click('[data-sort="order"]');
  await pageB.waitForFunction((n) => document.querySelector('.list-table tbody tr')?.dataset.name === n, name, { timeout: 5000 });
  await pageB.click('[data-action="filters"]');
  await pageB.selectOption('.filter-builder [data-filter="field"]', 'remarks');
  assert.equal(await pageB.locator('.filter-builder [data-filter="op"]').inputValue(), 'like');
  await pageB.fill('.filter-builder [data-filter="value"]', 'made by');
  await pageB.waitForFunction((n) => [...document.querySelectorAll('.list-table tbody tr')].map((tr) => tr.dataset.name).join() === n, created, { timeout: 5000 });
  assert.deepEqual(JSON.parse(new URL(pageB.url()).searchParams.get('_filters')), [['remarks', 'like', '%made by%']]);
  // The customer is the title and a column: shown once per row.
  assert.equal(await pageB.locator(`.list-table tr[data-name="${created}"]`).innerText().then((t) => t.split('Acme').length - 1), 1);
  await shot(pageB, '1-live-update-B-list.png');
  await shot(pageA, '1-live-update-A-form.png');
});

test('2: B keeps unsaved edits when A saves in the desk (the sample script reloads B), sees "Changed by", and its save shows the conflict in words', async () => {
  const name = await newInvoice('second');
  await Promise.all([openForm(pageA, name), openForm(pageB, name)]);
  await pageB.evaluate(() => window.livedoc.realtime.on('refresh_invoice', (m) => { window.__refresh2 = m; }));
  await field(pageB, 'remarks').fill('B is typing');
  await pageB.waitForFunction(() => window.cur_frm.is_dirty());

  // A saves through the form, as a person would: the sample's after_save calls refresh_status,
  // whose refresh_invoice makes B's client script call cur_frm.reload_doc().
  await field(pageA, 'remarks').fill('A saved first');
  await pageA.click('.form-page [data-action="save"]');
  await pageB.waitForFunction((n) => window.__refresh2?.doc_name === n, name, { timeout: 5000 });
  const bar = pageB.locator('.changed-bar:not([hidden])');
  await bar.waitFor({ timeout: LIVE_MS });
  assert.match(await bar.innerText(), /Changed by Administrator/);
  assert.match(await bar.innerText(), /Reload/);
  assert.equal(await field(pageB, 'remarks').inputValue(), 'B is typing');
  assert.equal(await pageB.evaluate(() => window.cur_frm.is_dirty()), true);

  await pageB.click('.form-page [data-action="save"]');
  const msg = pageB.locator('.form-message:not([hidden])');
  await msg.waitFor({ timeout: 5000 });
  await pageB.locator('.form-message:not([hidden])', { hasText: 'Administrator saved this Invoice' }).waitFor({ timeout: 5000 });
  const text = await msg.innerText();
  assert.match(text, /Not saved: Administrator saved this Invoice (just now|a minute ago), after you opened it/);
  assert.doesNotMatch(text, /\d{2}:\d{2}:\d{2}\.\d{6}|TimestampMismatchError/, 'no raw timestamps or exception names');
  assert.equal(await field(pageB, 'remarks').inputValue(), 'B is typing', 'the edits survive the failed save');
  await shot(pageB, '2-conflict-B.png');
});

test('3: viewers see each other\'s avatars; closing the form removes it; renames are followed', async () => {
  const name = await newInvoice('third');
  await Promise.all([openForm(pageA, name), openForm(pageB, name)]);
  await pageA.waitForSelector(`.viewers [data-user="${B_USER}"]`, { timeout: LIVE_MS });
  await pageB.waitForSelector('.viewers [data-user="Administrator"]', { timeout: LIVE_MS });
  assert.equal(await pageA.locator('.viewers [data-user="Administrator"]').count(), 0, 'A does not see itself');
  assert.equal(await pageB.locator(`.viewers [data-user="${B_USER}"]`).count(), 0, 'B does not see itself');
  assert.equal(await pageA.locator(`.viewers [data-user="${B_USER}"]`).innerText(), 'BE');
  await shot(pageA, '3-viewers-both-A.png');

  await pageB.click('.crumbs a.crumb'); // B closes the form
  await pageA.waitForSelector(`.viewers [data-user="${B_USER}"]`, { state: 'detached', timeout: LIVE_MS });

  // A's open form follows a rename, and shows server progress as a bar.
  await pageA.evaluate(() => { window.__marker = 'rename'; });
  await rest(admin, 'POST', '/api/method/frappe.client.rename_doc', { doctype: 'Invoice', old_name: name, new_name: `${name}-R` });
  await pageA.waitForURL(new RegExp(`/app/invoice/${name}-R$`), { timeout: LIVE_MS });
  await pageA.waitForFunction((n) => window.cur_frm.docname === n && document.querySelector('.form-title').textContent === n, `${name}-R`, { timeout: LIVE_MS });
  await pageA.waitForSelector('.form-page[data-live="1"]', { timeout: LIVE_MS });
  await rest(admin, 'POST', '/api/realtime/publish', { event: 'progress', message: { percent: 40, title: 'Importing', description: 'rows' }, user: 'Administrator' });
  await pageA.locator('#progress:not([hidden])', { hasText: 'Importing — rows 40%' }).waitFor({ timeout: LIVE_MS });
  assert.equal(await pageA.evaluate(() => window.__marker), 'rename', 'A reloaded the page');
  await shot(pageA, '3-viewers-A.png');
});

test('4: the seed flow: refresh_invoice reloads a clean form, keeps a dirty form\'s edits (changed-by bar); an unchanged Save sends nothing', async () => {
  const name = await newInvoice('fourth');
  await Promise.all([openForm(pageA, name), openForm(pageB, name)]);
  await pageB.evaluate(() => {
    window.__marker = 'seed';
    window.__refresh = [];
    window.livedoc.realtime.on('refresh_invoice', (m) => { window.__refresh.push(m); });
  });

  // B has no edits: A's save (through the form) shows on B.
  await field(pageA, 'remarks').fill('A via the form');
  await pageA.click('.form-page [data-action="save"]');
  await waitValue(pageB, 'remarks', 'A via the form', 5000);
  await pageB.waitForFunction((n) => window.__refresh.some((m) => m.doc_name === n), name, { timeout: 5000 });

  // B types; A saves again. The sample script's cur_frm.reload_doc() must not drop B's text.
  await field(pageB, 'remarks').fill('B unsaved');
  await pageB.waitForFunction(() => window.cur_frm.is_dirty());
  await field(pageA, 'remarks').fill('A again');
  await pageA.click('.form-page [data-action="save"]');
  await pageB.waitForFunction(() => window.__refresh.length >= 2, null, { timeout: 5000 });
  const bar = pageB.locator('.changed-bar:not([hidden])');
  await bar.waitFor({ timeout: LIVE_MS });
  assert.match(await bar.innerText(), /Changed by Administrator/);
  // Whatever the caller: a script's reload_doc() on the dirty form keeps the edits too.
  await pageB.evaluate(() => window.cur_frm.reload_doc());
  assert.equal(await field(pageB, 'remarks').inputValue(), 'B unsaved');
  assert.equal(await pageB.evaluate(() => window.cur_frm.is_dirty()), true);
  await shot(pageB, '4-dirty-reload-kept-B.png');
  // Reload in the bar is the user's choice to drop them.
  await pageB.click('.changed-bar [data-action="reload"]');
  await waitValue(pageB, 'remarks', 'A again', 5000);
  assert.equal(await pageB.evaluate(() => window.cur_frm.is_dirty()), false);
  assert.equal(await pageB.evaluate(() => window.__marker), 'seed', 'B reloaded the page');

  // Save on the unchanged form: "No changes in document", nothing sent, modified stays.
  const before = (await rest(admin, 'GET', `/api/resource/Invoice/${name}`)).data.modified;
  const requests = [];
  const onRequest = (r) => { if (r.method() !== 'GET') requests.push(r.url()); };
  pageB.on('request', onRequest);
  await pageB.click('.form-page [data-action="save"]');
  await pageB.locator('.toast', { hasText: 'No changes in document' }).waitFor({ timeout: 5000 });
  pageB.off('request', onRequest);
  assert.deepEqual(requests, []);
  assert.equal((await rest(admin, 'GET', `/api/resource/Invoice/${name}`)).data.modified, before);
  // And the server agrees: a PUT of the same values writes nothing either.
  const same = await saveAsAdmin(name, {});
  assert.equal(same.modified, before);
});

test('5: B offline for 5 s while A saves three times; back online B shows the last value', async () => {
  const name = await newInvoice('fifth');
  await openForm(pageB, name);
  await pageB.evaluate(() => {
    window.__marker = 'offline';
    window.__log = [];
    for (const ev of ['connect', 'resync', 'doc_update']) window.livedoc.realtime.on(ev, (m) => window.__log.push([ev, m]));
  });
  const started = Date.now();
  // Going offline, the client drops its socket at once (the browser's offline event) and comes
  // back when the browser is online again, recovering its session.
  await ctxB.setOffline(true);
  await pageB.waitForSelector('#conn[data-state="offline"]', { timeout: 2000 });
  const saved = [];
  for (let i = 1; i <= 3; i++) saved.push((await saveAsAdmin(name, { remarks: `offline save ${i}` })).modified);
  await delay(Math.max(0, 5000 - (Date.now() - started))); // the offline period is the scenario
  assert.equal(await field(pageB, 'remarks').inputValue(), 'fifth', 'B cannot have the saves while offline');
  await ctxB.setOffline(false);
  await waitValue(pageB, 'remarks', 'offline save 3', 20_000);
  await pageB.waitForSelector('#conn[data-state="connected"]', { timeout: 5000 });
  assert.equal(await pageB.evaluate(() => window.__marker), 'offline', 'B reloaded the page');
  // The socket recovered its session: the three missed doc_updates arrived, in order, no resync.
  const log = await pageB.evaluate(() => window.__log);
  assert.deepEqual(log.filter(([ev]) => ev === 'doc_update').map(([, m]) => m.modified), saved);
  assert.deepEqual(log.filter(([ev]) => ev !== 'doc_update'), [['connect', { recovered: true }]]);
  await shot(pageB, '5-offline-B.png');
  await pageB.setViewportSize({ width: 390, height: 844 }); // a phone
  await shot(pageB, '5-offline-B-phone.png');
  await pageB.setViewportSize({ width: 1280, height: 860 });
});

test('6: a user without read permission sees no list, gets no events, and a clear message', async () => {
  const ctxC = await newContext(C_USER, PW);
  const pageC = await newPage(ctxC);
  try {
    await pageC.goto('/app');
    await pageC.waitForSelector('.empty-state, .modules', { timeout: 5000 });
    assert.equal(await pageC.locator('[data-doctype="Invoice"]').count(), 0, 'Invoice is not offered');

    await pageC.goto('/app/invoice');
    const problem = pageC.locator('.empty-state[data-problem="forbidden"]');
    await problem.waitFor({ timeout: 5000 });
    assert.match(await problem.innerText(), /Not permitted/);
    assert.match(await problem.innerText(), /Invoice/);
    assert.equal(await pageC.locator('.list-table').count(), 0);

    // Even asking for the rooms directly is refused, and no Invoice event reaches C.
    await pageC.waitForSelector('#conn[data-state="connected"]', { timeout: 5000 });
    const name = await newInvoice('sixth');
    const denied = await pageC.evaluate(async (n) => {
      window.__events = [];
      for (const ev of ['doc_update', 'list_update', 'doc_viewers', 'doc_rename']) {
        window.livedoc.realtime.on(ev, (m) => window.__events.push([ev, m]));
      }
      const out = [];
      for (const [fn, args] of [['doctype_subscribe', ['Invoice']], ['doc_subscribe', ['Invoice', n]], ['doc_open', ['Invoice', n]]]) {
        try {
          await window.livedoc.realtime[fn](...args);
          out.push(`${fn}: allowed`);
        } catch (err) {
          out.push(`${fn}: ${err.message}`);
        }
      }
      return out;
    }, name);
    for (const d of denied) assert.doesNotMatch(d, /allowed/, d);

    await pageC.goto(`/app/invoice/${name}`);
    await pageC.locator('.empty-state[data-problem="forbidden"]').waitFor({ timeout: 5000 });

    await pageC.evaluate(() => {
      window.__events = [];
      for (const ev of ['doc_update', 'list_update', 'doc_viewers', 'doc_rename']) {
        window.livedoc.realtime.on(ev, (m) => window.__events.push([ev, m]));
      }
    });
    await pageC.waitForSelector('#conn[data-state="connected"]', { timeout: 5000 });
    await saveAsAdmin(name, { remarks: 'secret change' });
    await newInvoice('another secret');
    // A later event to C's own room: delivery is in log order, so once it arrives any Invoice
    // event would have arrived before it.
    await rest(admin, 'POST', '/api/realtime/publish', { event: 'msgprint', message: { message: 'Marker for Nora', indicator: 'green' }, user: C_USER });
    await pageC.locator('.toast', { hasText: 'Marker for Nora' }).waitFor({ timeout: 5000 });
    assert.deepEqual(await pageC.evaluate(() => window.__events), []);
    await shot(pageC, '6-no-permission-C.png');
  } finally {
    await ctxC.close();
  }
});

test('7: every field type round-trips through the form; mandatory errors at the field; submit, cancel, delete', async () => {
  await rest(admin, 'POST', '/api/resource/DocType', {
    name: 'Probe Row', module: 'Tests', istable: 1,
    fields: [{ fieldname: 'label', fieldtype: 'Data', in_list_view: 1 }, { fieldname: 'n', fieldtype: 'Int', in_list_view: 1 }],
  });
  await rest(admin, 'POST', '/api/resource/DocType', {
    name: 'Field Probe', module: 'Tests', is_submittable: 1, autoname: 'hash',
    fields: [
      { fieldname: 'data', fieldtype: 'Data', reqd: 1, in_list_view: 1 },
      { fieldname: 'small', fieldtype: 'Small Text' },
      { fieldname: 'text', fieldtype: 'Text' },
      { fieldname: 'int', fieldtype: 'Int', in_list_view: 1 },
      { fieldname: 'float', fieldtype: 'Float' },
      { fieldname: 'money', fieldtype: 'Currency' },
      { fieldname: 'flag', fieldtype: 'Check' },
      { fieldname: 'color', fieldtype: 'Select', options: 'Red\nGreen\nBlue' },
      { fieldname: 'day', fieldtype: 'Date' },
      { fieldname: 'at', fieldtype: 'Datetime' },
      { fieldname: 'customer', fieldtype: 'Link', options: 'Customer' },
      { fieldname: 'rows', fieldtype: 'Table', options: 'Probe Row' },
      { fieldname: 'extra', fieldtype: 'JSON' },
      { fieldname: 'secret', fieldtype: 'Password' },
    ],
    permissions: [{ role: 'System Manager', read: 1, write: 1, create: 1, delete: 1, submit: 1, cancel: 1 }],
  });
  const page = pageA;
  await page.goto('/app/field-probe/new');
  await page.waitForSelector('.form-page [data-fieldname="data"] input');
  // Mandatory: saving without Data names it at the field.
  await page.click('.form-page [data-action="save"]');
  await page.waitForSelector('.form-page [data-fieldname="data"].has-error', { timeout: 5000 });
  assert.match(await page.locator('.form-page [data-fieldname="data"] .field-error').innerText(), /Data is required/);

  await field(page, 'data').fill('hello');
  await field(page, 'small').fill('a small text');
  await field(page, 'text').fill('line 1\nline 2');
  await field(page, 'int').fill('42');
  await field(page, 'float').fill('2.5');
  await field(page, 'money').fill('19.99');
  await field(page, 'flag').check();
  await field(page, 'color').selectOption('Green');
  await field(page, 'day').fill('2024-02-29');
  await field(page, 'at').fill('2024-03-01T13:14:15');
  await field(page, 'customer').fill('Glob');
  await page.click('.form-page [data-fieldname="customer"] .link-item[data-value="Globex"]', { timeout: 5000 });
  await field(page, 'extra').fill('{"k": [1, 2]}');
  await field(page, 'secret').fill('s3cret-pw');
  await page.click('.form-page [data-fieldname="rows"] .grid-foot button');
  await page.locator('.form-page [data-fieldname="rows"] .grid-row[data-idx="1"] [data-fieldname="label"] input').fill('first row');
  await page.locator('.form-page [data-fieldname="rows"] .grid-row[data-idx="1"] [data-fieldname="n"] input').fill('7');
  await page.click('.form-page [data-fieldname="rows"] .grid-foot button');
  await page.locator('.form-page [data-fieldname="rows"] .grid-row[data-idx="2"] [data-fieldname="label"] input').fill('doomed row');
  await page.click('.form-page [data-fieldname="rows"] .grid-row[data-idx="2"] .grid-remove');
  await page.keyboard.press('Control+s');
  await page.waitForFunction(() => window.cur_frm.docname && !window.cur_frm.is_dirty(), null, { timeout: 5000 });
  assert.match(page.url(), /\/app\/field-probe\/[0-9a-z]+$/);
  const name = await page.evaluate(() => window.cur_frm.docname);
  const { data: stored } = await rest(admin, 'GET', `/api/resource/Field Probe/${name}`);
  assert.deepEqual(
    { data: stored.data, small: stored.small, text: stored.text, int: stored.int, float: stored.float, money: stored.money, flag: stored.flag,
      color: stored.color, day: stored.day, at: stored.at.slice(0, 19), customer: stored.customer, extra: stored.extra,
      rows: stored.rows.map((r) => [r.label, r.n]) },
    { data: 'hello', small: 'a small text', text: 'line 1\nline 2', int: 42, float: 2.5, money: 19.99, flag: 1, color: 'Green',
      day: '2024-02-29', at: '2024-03-01 13:14:15', customer: 'Globex', extra: { k: [1, 2] }, rows: [['first row', 7]] });
  assert.equal(stored.secret, undefined, 'a password is never sent back');
  assert.equal(await field(page, 'secret').inputValue(), '');

  // Submit, then cancel, then delete, each through the buttons and the confirm dialog.
  await page.click('.form-page [data-action="submit"]');
  await page.click('dialog.dialog button[value="ok"]');
  await page.waitForSelector('.form-page .pill[data-status="Submitted"]', { timeout: 5000 });
  assert.equal(await field(page, 'data').evaluate((el) => el.readOnly), true, 'a submitted document is read-only');
  await page.click('.form-page [data-action="cancel"]');
  await page.click('dialog.dialog button[value="ok"]');
  await page.waitForSelector('.form-page .pill[data-status="Cancelled"]', { timeout: 5000 });
  await shot(page, '7-field-types-cancelled.png');
  await page.click('.form-page [data-action="delete"]');
  await page.click('dialog.dialog button[value="ok"]');
  await page.waitForURL(/\/app\/field-probe$/, { timeout: 5000 });
  await page.waitForSelector('.list-empty:not([hidden])', { timeout: 5000 });
});

/** Records the page's REST requests (method and path): what a live view must not make. */
function restRequests(page) {
  const seen = [];
  const on = (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/api/')) seen.push(`${r.method()} ${decodeURIComponent(u.pathname)}`);
  };
  page.on('request', on);
  return { seen, stop: () => page.off('request', on) };
}

test('8: live views: a list\'s rows appear, move and leave in place and a form takes others\' saves, with no GET', async () => {
  const tag = `live8-${Date.now().toString(36)}`;
  const names = [];
  for (const r of ['b', 'c', 'd']) names.push(await newInvoice(`${tag} ${r}`));
  const [b, c, d] = names;
  const filters = encodeURIComponent(JSON.stringify([['remarks', 'like', `%${tag}%`]]));
  await pageB.goto(`/app/invoice?_filters=${filters}`); // newest first (modified desc)
  await pageB.waitForSelector('.list-page[data-live="1"]', { timeout: 10_000 });
  const waitOrder = (want) => pageB.waitForFunction((w) => [...document.querySelectorAll('.list-table tbody tr')].map((tr) => tr.dataset.name).join() === w, want.join(), { timeout: LIVE_MS, polling: 50 });
  await waitOrder([d, c, b]);
  // Each row element is marked: a row that moves or changes must be the same element.
  await pageB.evaluate(() => document.querySelectorAll('.list-table tbody tr').forEach((tr) => { tr.__mark = tr.dataset.name; }));
  const listRequests = restRequests(pageB);

  await saveAsAdmin(b, { remarks: `${tag} b2` }); // saved last: moves to the top
  await waitOrder([b, d, c]);
  await pageB.locator(`.list-table tr.flash[data-name="${b}"]`).waitFor({ timeout: LIVE_MS }); // the changed row flashes
  const added = await newInvoice(`${tag} e`); // appears at the top
  await waitOrder([added, b, d, c]);
  await pageB.locator('.list-count', { hasText: '1–4 of 4' }).waitFor({ timeout: LIVE_MS });
  await saveAsAdmin(d, { remarks: `gone ${Date.now()}` }); // leaves the filter
  await waitOrder([added, b, c]);
  await pageB.locator('.list-count', { hasText: '1–3 of 3' }).waitFor({ timeout: LIVE_MS });
  const kept = await pageB.evaluate(() => [...document.querySelectorAll('.list-table tbody tr')].map((tr) => tr.__mark ?? 'new'));
  assert.deepEqual(kept, ['new', b, c], 'moved and changed rows are the same elements; only the new one is new');
  assert.match(await pageB.locator(`.list-table tr[data-name="${b}"]`).innerText(), /Acme/);
  listRequests.stop();
  assert.deepEqual(listRequests.seen, [], 'no list query, no count: the rows came with the changes');

  // The form: another user's save is patched in with no GET of the document.
  const name = c;
  await openForm(pageA, name);
  const formRequests = restRequests(pageA);
  const doc = `/api/resource/Invoice/${name}`;
  await saveAsAdmin(name, { remarks: `${tag} theirs` });
  await waitValue(pageA, 'remarks', `${tag} theirs`);
  // A dirty form keeps its edits and shows who changed the document, still with no GET.
  await field(pageA, 'remarks').fill('A is typing');
  await pageA.waitForFunction(() => window.cur_frm.is_dirty());
  await saveAsAdmin(name, { remarks: `${tag} theirs again` });
  const bar = pageA.locator('.changed-bar:not([hidden])');
  await bar.waitFor({ timeout: LIVE_MS });
  assert.match(await bar.innerText(), /Changed by Administrator/);
  assert.equal(await field(pageA, 'remarks').inputValue(), 'A is typing');
  assert.deepEqual(formRequests.seen.filter((r) => r.startsWith('GET') && r.endsWith(doc)), [], 'no GET of the document');
  // The bar's Reload is the user's choice (one GET); then A's own save: its echo costs nothing.
  // The sample's client script asks for a reload_doc() after each save (refresh_invoice): that
  // GET is the script's, counted apart.
  await pageA.click('.changed-bar [data-action="reload"]');
  await waitValue(pageA, 'remarks', `${tag} theirs again`, 5000);
  await pageA.evaluate(() => {
    window.__echoes = [];
    window.__reloads = 0;
    window.livedoc.realtime.on('doc_update', (m) => window.__echoes.push(m.modified));
    const reload = window.cur_frm.reload_doc.bind(window.cur_frm);
    window.cur_frm.reload_doc = () => (window.__reloads++, reload());
  });
  formRequests.seen.length = 0;
  await field(pageA, 'remarks').fill(`${tag} mine`);
  await pageA.click('.form-page [data-action="save"]');
  await pageA.waitForFunction(() => !window.cur_frm.is_dirty() && window.__echoes.includes(window.cur_frm.doc.modified) && window.__reloads === 1, null, { timeout: 5000 });
  const deadline = Date.now() + 5000;
  while (!formRequests.seen.includes(`GET ${doc}`) && Date.now() < deadline) await delay(20);
  assert.deepEqual(formRequests.seen.filter((r) => r.endsWith(doc)), [`PUT ${doc}`, `GET ${doc}`], 'the save, and only the script\'s reload after it');
  formRequests.stop();
  assert.equal(await field(pageA, 'remarks').inputValue(), `${tag} mine`);
  await shot(pageB, '8-live-list-B.png');
});

test('9: a list longer than its page: the page is a live window, the total is counted only when rows enter or leave', async () => {
  const tag = `page9-${Date.now().toString(36)}`;
  const names = [];
  for (let i = 0; i < 21; i++) names.push(await newInvoice(`${tag} ${i}`));
  const filters = encodeURIComponent(JSON.stringify([['remarks', 'like', `%${tag}%`]]));
  await pageB.goto(`/app/invoice?_filters=${filters}`); // 20 a page, newest first
  await pageB.waitForSelector('.list-page[data-live="1"]', { timeout: 10_000 });
  const count = pageB.locator('.list-count');
  await pageB.locator('.list-count', { hasText: '1–20 of 21' }).waitFor({ timeout: LIVE_MS });
  assert.equal(await pageB.locator('.list-table tbody tr').count(), 20);
  assert.equal(await pageB.locator('.pager button', { hasText: 'Next' }).isEnabled(), true);
  const requests = restRequests(pageB);
  // A change that keeps the rows on the page: redrawn in place, nothing counted.
  await saveAsAdmin(names[5], { remarks: `${tag} 5 changed` });
  await pageB.waitForFunction((n) => document.querySelector('.list-table tbody tr')?.dataset.name === n, names[5], { timeout: LIVE_MS });
  assert.deepEqual(requests.seen, []);
  // A row that enters the page pushes the last one out: counted once (get_count), 22.
  const added = await newInvoice(`${tag} new`);
  await pageB.waitForFunction((n) => document.querySelector('.list-table tbody tr')?.dataset.name === n, added, { timeout: LIVE_MS });
  await pageB.locator('.list-count', { hasText: '1–20 of 22' }).waitFor({ timeout: LIVE_MS });
  assert.deepEqual(requests.seen, ['GET /api/method/frappe.client.get_count']);
  requests.stop();
  // The next page: the last two rows, and the total from the rows themselves.
  await pageB.click('.pager button:has-text("Next")');
  await pageB.locator('.list-count', { hasText: '21–22 of 22' }).waitFor({ timeout: LIVE_MS });
  assert.deepEqual(await pageB.evaluate(() => [...document.querySelectorAll('.list-table tbody tr')].map((tr) => tr.dataset.name)), [names[1], names[0]]);
  assert.equal(await pageB.locator('.pager button', { hasText: 'Next' }).isDisabled(), true);
  assert.match(new URL(pageB.url()).search, /_start=20/);
  // It is live too: a row that leaves the filter leaves this page.
  await saveAsAdmin(names[1], { remarks: `gone ${Date.now()}` });
  await count.filter({ hasText: '21–21 of 21' }).waitFor({ timeout: LIVE_MS });
  await shot(pageB, '9-list-pages-B.png');
});
