// The desk's forms for real apps, in Chromium: the test DocTypes of tests/apps/fieldtypes (every
// field type and property, in Frappe's export shape) loaded with --apps. For each DocType a form
// opens without console errors and shows every field where it should be (tab, section, fold);
// depends_on, mandatory_depends_on and collapsible_depends_on follow the values as they change;
// an upload shows its progress; a comment one user adds appears live on another user's form;
// permlevels hide or lock fields; rich text is sanitised; Datetimes show in the user's time zone.
//
//   go build -o bin/livedoc ./cmd/livedoc && cd tests/js && node --test desk-forms.test.mjs
//
// Every wait is on a condition with a deadline. Screenshots go to tests/js/test-output/.

import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startLivedoc, login, sessionHeaders, repoRoot } from './lib/server.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const OUT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'test-output');
const APP = path.join(repoRoot(), 'tests/apps/fieldtypes');
const LAYOUT = new Set(['Section Break', 'Column Break', 'Tab Break', 'Fold']);
const USER = 'lou@example.com'; // LD User: no rule for permlevel 1
const AUDITOR = 'ada@example.com'; // LD User + LD Auditor: may read permlevel 1, not write it
const PW = 'forms-test-pw-1';
const LIVE_MS = 3000;

let srv;
let admin;
let browser;
let metas; // DocType name → its JSON file
const contexts = [];
const consoleErrors = [];

async function rest(method, urlPath, body, session = admin) {
  const res = await fetch(srv.url + urlPath, {
    method,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...sessionHeaders(session) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${urlPath}: HTTP ${res.status}: ${text}`);
  return JSON.parse(text);
}

async function newPage(user, password, opts = {}) {
  const ctx = await browser.newContext({ baseURL: srv.url, viewport: { width: 1280, height: 900 }, ...opts });
  contexts.push(ctx);
  const res = await ctx.request.post('/api/method/login', { data: { usr: user, pwd: password } });
  assert.equal(res.status(), 200, `login ${user}`);
  const page = await ctx.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${user}: ${m.text()}`);
  });
  page.on('pageerror', (err) => consoleErrors.push(`${user}: ${err.message}`));
  page.on('dialog', (d) => {
    if (d.type() === 'beforeunload') return d.accept().catch(() => {}); // leaving a new, unsaved form
    consoleErrors.push(`${user}: unexpected dialog ${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  return page;
}

async function shot(page, file, { fullPage = true } = {}) {
  await page.screenshot({ path: path.join(OUT, file), fullPage });
}

function ctl(page, fieldname) {
  return page.locator(`.form-page [data-fieldname="${fieldname}"]`);
}

function input(page, fieldname) {
  return ctl(page, fieldname).locator('input, textarea, select').first();
}

async function openForm(page, url) {
  await page.goto(url);
  await page.waitForSelector('.form-page .form-layout-body', { timeout: 10_000 });
  await page.waitForFunction(() => window.cur_frm?.doc && window.cur_frm.mounted, null, { timeout: 10_000 });
}

/**
 * The fields a form shows, by tab, from the DocType's JSON: data fields that are not hidden, whose
 * depends_on holds for doc (a plain JS check here: the test DocTypes' expressions are simple).
 */
function expectedByTab(meta, doc) {
  const byName = Object.fromEntries(meta.fields.map((f) => [f.fieldname, f]));
  const order = meta.field_order?.length ? meta.field_order.map((n) => byName[n]).filter(Boolean) : meta.fields;
  const tabs = new Map();
  let tab = 'details';
  for (const f of order) {
    if (f.fieldtype === 'Tab Break') {
      tab = f.fieldname;
      continue;
    }
    if (LAYOUT.has(f.fieldtype) || f.hidden) continue;
    if (f.depends_on) {
      const m = /^eval:doc\.(\w+)\s*==\s*'([^']*)'$/.exec(f.depends_on);
      assert.ok(m, `the test understands ${f.depends_on}`);
      if (doc[m[1]] !== m[2]) continue;
    }
    if (!tabs.has(tab)) tabs.set(tab, []);
    tabs.get(tab).push(f.fieldname);
  }
  return tabs;
}

/** Opens every tab, collapsed section and fold as a user would, and checks each field shows. */
async function checkFieldsVisible(page, meta, doc) {
  const expected = expectedByTab(meta, doc);
  const tabButtons = page.locator('.form-page .form-tab:not([hidden])');
  const tabCount = await tabButtons.count();
  assert.equal(tabCount, meta.fields.some((f) => f.fieldtype === 'Tab Break') ? expected.size : 0, `${meta.name}: tabs`);
  for (const [tab, fields] of expected) {
    if (tabCount) {
      await page.click(`.form-page .form-tab[data-tab="${tab}"]`);
      await page.waitForSelector(`.form-page [data-tab-pane="${tab}"]:not([hidden])`, { timeout: 2000 });
    }
    const pane = tabCount ? `.form-page [data-tab-pane="${tab}"]` : '.form-page';
    for (const t of await page.locator(`${pane} .section-toggle[aria-expanded="false"], ${pane} .form-fold-toggle[aria-expanded="false"]`).all()) {
      if (await t.isVisible()) await t.click();
    }
    for (const f of fields) {
      assert.equal(await ctl(page, f).isVisible(), true, `${meta.name}: ${f} is visible in tab ${tab}`);
      assert.equal(await page.locator(`${pane} [data-fieldname="${f}"]`).count() > 0, true, `${meta.name}: ${f} is in tab ${tab}`);
    }
  }
  // And nothing hidden shows.
  for (const f of meta.fields.filter((x) => x.hidden)) {
    assert.equal(await ctl(page, f.fieldname).isVisible(), false, `${meta.name}: hidden ${f.fieldname} is not shown`);
  }
}

before(async () => {
  await mkdir(OUT, { recursive: true });
  const launching = chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  metas = {};
  for (const file of await readdir(path.join(APP, 'doctype'))) {
    const m = JSON.parse(await readFile(path.join(APP, 'doctype', file), 'utf8'));
    metas[m.name] = m;
  }
  srv = await startLivedoc({ args: ['--apps', APP] });
  admin = await login(srv.url, 'Administrator', srv.adminPassword);
  await rest('POST', '/api/resource/User', { email: USER, first_name: 'Lou', new_password: PW, roles: [{ role: 'LD User' }] });
  await rest('POST', '/api/resource/User', { email: AUDITOR, first_name: 'Ada', new_password: PW, roles: [{ role: 'LD User' }, { role: 'LD Auditor' }] });
  await rest('POST', '/api/resource/LD Category', { category_name: 'Hardware', description: 'Metal things', discount: 5 });
  await rest('POST', '/api/resource/LD Category', { category_name: 'Software', description: 'Code', discount: 12 });
  browser = await launching;
});

afterEach(() => {
  const errors = consoleErrors.splice(0);
  assert.deepEqual(errors, [], 'no console errors');
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await srv?.stop();
});

test('every test DocType: a new form shows each field where it should be, without console errors', async () => {
  const page = await newPage('Administrator', srv.adminPassword);
  for (const meta of Object.values(metas).filter((m) => !m.istable)) {
    const route = meta.name.toLowerCase().replace(/ /g, '-');
    await openForm(page, meta.issingle ? `/app/${route}` : `/app/${route}/new`);
    assert.equal(new URL(page.url()).pathname, meta.issingle ? `/app/${route}` : `/app/${route}/new`);
    const doc = await page.evaluate(() => window.cur_frm.doc);
    await checkFieldsVisible(page, meta, doc);
    if (/^prompt$/i.test(meta.autoname || '')) assert.equal(await ctl(page, '__newname').isVisible(), true, 'Prompt naming asks for the name');
  }
  // The layout of LD All Fields: two tabs; Main has two columns side by side.
  await openForm(page, '/app/ld-all-fields/new');
  assert.deepEqual(await page.locator('.form-page .form-tab').allInnerTexts(), ['Details', 'Texts']);
  const cols = page.locator('.form-page [data-section="main_section"] .form-column');
  assert.equal(await cols.count(), 2);
  const [a, b] = [await cols.nth(0).boundingBox(), await cols.nth(1).boundingBox()];
  assert.ok(b.x > a.x + a.width - 1 && Math.abs(a.y - b.y) < 2, 'columns side by side');
  assert.match(await ctl(page, 'title').innerText(), /What it is/, 'the description under the field');
  assert.equal(await ctl(page, 'title').evaluate((el) => el.classList.contains('bold')), true, 'bold');
  assert.equal(await page.locator('.form-page [data-section="numbers_section"] .section-toggle').getAttribute('aria-expanded'), 'false', 'collapsible: closed');
  await shot(page, 'forms-1-tabs-sections.png', { fullPage: false });
  // On a phone the columns stack.
  await page.setViewportSize({ width: 390, height: 844 });
  const [pa, pb] = [await cols.nth(0).boundingBox(), await cols.nth(1).boundingBox()];
  assert.ok(pb.y >= pa.y + pa.height - 1, 'columns stack on narrow screens');
  await shot(page, 'forms-1-phone.png');
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.locator('.form-page [data-section="numbers_section"] .section-toggle').click();
});

test('depends_on, mandatory_depends_on, collapsible_depends_on and fetch_from follow the values', async () => {
  const page = await newPage('Administrator', srv.adminPassword);
  await openForm(page, '/app/ld-all-fields/new');
  await input(page, 'title').fill('Rules');
  await page.click('.form-page .form-tab[data-tab="texts_tab"]');
  assert.equal(await ctl(page, 'detail').isVisible(), false);
  assert.equal(await ctl(page, 'hidden_reqd').isVisible(), false);
  await input(page, 'kind').selectOption('Detailed');
  await ctl(page, 'detail').waitFor({ state: 'visible', timeout: 2000 });
  assert.equal(await ctl(page, 'detail').locator('.reqd').isVisible(), true, 'mandatory_depends_on: required');
  assert.equal(await ctl(page, 'hidden_reqd').isVisible(), false);
  // Saving without the now-required Detail is stopped at the field.
  await page.click('.form-page [data-action="save"]');
  await page.waitForSelector('.form-page [data-fieldname="detail"].has-error', { timeout: 2000 });
  assert.match(await ctl(page, 'detail').locator('.field-error').innerText(), /Detail is required/);
  await input(page, 'kind').selectOption('Simple');
  await ctl(page, 'detail').waitFor({ state: 'hidden', timeout: 2000 });
  await ctl(page, 'hidden_reqd').waitFor({ state: 'visible', timeout: 2000 });
  await input(page, 'hidden_reqd').fill('needed when Simple');
  // fetch_from: picking a category fills its description and discount.
  await input(page, 'category').click();
  await input(page, 'category').fill('Hard');
  await page.click('.form-page [data-fieldname="category"] .link-item[data-value="Hardware"]', { timeout: 5000 });
  await page.waitForFunction(() => document.querySelector('.form-page [data-fieldname="category_description"] input')?.value === 'Metal things', null, { timeout: 3000 });
  assert.equal(await input(page, 'discount').inputValue(), '5');
  // in_preview: hovering the linked category's arrow shows its preview fields.
  await ctl(page, 'category').locator('.link-open').hover();
  const preview = ctl(page, 'category').locator('.link-preview');
  await preview.waitFor({ state: 'visible', timeout: 3000 });
  assert.match(await preview.innerText(), /Description\s*Metal things/);
  assert.match(await preview.innerText(), /Discount\s*5/);
  await page.mouse.move(0, 0);
  await preview.waitFor({ state: 'hidden', timeout: 2000 });
  // A child row's note appears (and is required) when its qty is over 5, in the row form.
  await page.click('.form-page [data-fieldname="rows"] [data-action="add-row"]');
  await page.locator('.form-page [data-fieldname="rows"] .grid-row[data-idx="1"] [data-fieldname="item"] input').fill('bolts');
  await page.click('.form-page [data-fieldname="rows"] .grid-row[data-idx="1"] [data-action="edit-row"]');
  const rowForm = page.locator('.form-page [data-fieldname="rows"] .grid-row-form');
  await rowForm.waitFor({ timeout: 2000 });
  assert.equal(await rowForm.locator('[data-fieldname="note"]').isVisible(), false);
  await rowForm.locator('[data-fieldname="qty"] input').fill('9');
  await rowForm.locator('[data-fieldname="note"]').waitFor({ state: 'visible', timeout: 2000 });
  await rowForm.locator('[data-fieldname="note"] input').fill('many');
  await rowForm.locator('[data-fieldname="category"] input').click();
  // Table MultiSelect: chips picked by Link search.
  await ctl(page, 'tags').locator('input').click();
  await ctl(page, 'tags').locator('input').fill('Soft');
  await page.click('.form-page [data-fieldname="tags"] .link-item[data-value="Software"]', { timeout: 5000 });
  await ctl(page, 'tags').locator('.chip[data-value="Software"]').waitFor({ timeout: 2000 });
  // collapsible_depends_on: a count opens the Numbers section.
  await page.click('.form-page .form-tab[data-tab="details_tab"]');
  const toggle = page.locator('.form-page [data-section="numbers_section"] .section-toggle');
  assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
  await page.evaluate(() => window.cur_frm.set_value('count', 3));
  await page.waitForFunction(() => document.querySelector('.form-page [data-section="numbers_section"] .section-toggle').getAttribute('aria-expanded') === 'true', null, { timeout: 2000 });
  // Rating, Duration, Percent, Colour, Geolocation, Signature, Time.
  await ctl(page, 'stars').locator('[data-star="4"]').click();
  await ctl(page, 'spent').locator('[data-part="h"]').fill('1');
  await ctl(page, 'spent').locator('[data-part="m"]').fill('30');
  await input(page, 'progress').fill('40');
  await input(page, 'start_time').fill('09:15:00');
  await page.click('.form-page .form-tab[data-tab="texts_tab"]');
  await ctl(page, 'colour').locator('.color-text').fill('#336699');
  await ctl(page, 'place').locator('[data-part="latitude"]').fill('52.52');
  await ctl(page, 'place').locator('[data-part="longitude"]').fill('13.405');
  const pad = ctl(page, 'signature').locator('canvas');
  await pad.scrollIntoViewIfNeeded();
  const box = await pad.boundingBox();
  await page.mouse.move(box.x + 20, box.y + 40);
  await page.mouse.down();
  await page.mouse.move(box.x + 120, box.y + 90, { steps: 8 });
  await page.mouse.up();
  await input(page, 'script').fill('def f():\n    return 1\n');
  await page.keyboard.press('Control+s');
  await page.waitForFunction(() => window.cur_frm.docname && !window.cur_frm.is_dirty(), null, { timeout: 5000 });
  const name = await page.evaluate(() => window.cur_frm.docname);
  const { data: d } = await rest('GET', `/api/resource/LD All Fields/${name}`);
  assert.equal(d.kind, 'Simple');
  assert.equal(d.category_description, 'Metal things');
  assert.equal(d.discount, 5);
  assert.deepEqual(d.rows.map((r) => [r.item, r.qty, r.note]), [['bolts', 9, 'many']]);
  assert.deepEqual(d.tags.map((r) => r.category), ['Software']);
  assert.equal(d.count, 3);
  assert.equal(d.stars, 0.8);
  assert.equal(d.spent, 5400);
  assert.equal(d.progress, 40);
  assert.equal(d.start_time, '09:15:00');
  assert.equal(d.colour, '#336699');
  assert.deepEqual(JSON.parse(d.place).features[0].geometry.coordinates, [13.405, 52.52]);
  assert.match(d.signature, /^data:image\/png;base64,/);
  assert.equal(d.script, 'def f():\n    return 1\n', 'Code keeps its indentation');
  // Reopened, the saved count keeps Numbers open.
  await openForm(page, `/app/ld-all-fields/${name}`);
  assert.equal(await page.locator('.form-page [data-section="numbers_section"] .section-toggle').getAttribute('aria-expanded'), 'true');
  assert.equal(await ctl(page, 'stars').locator('.star.on').count(), 4);
});

test('an upload shows its progress, fills the Attach field and lists the attachment', async () => {
  const page = await newPage('Administrator', srv.adminPassword);
  const { data: d } = await rest('POST', '/api/resource/LD All Fields', { title: 'Upload' });
  await openForm(page, `/app/ld-all-fields/${d.name}`);
  await page.click('.form-page .form-tab[data-tab="texts_tab"]');
  // A slow upload link (2 MB at 1 MB/s), so the progress can be seen moving.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 1024 * 1024 });
  await page.evaluate(() => {
    window.__progress = [];
    const el = document.querySelector('.form-page [data-fieldname="attachment"]');
    new MutationObserver(() => {
      if (el.dataset.progress) window.__progress.push(Number(el.dataset.progress));
    }).observe(el, { attributes: true, attributeFilter: ['data-progress'] });
  });
  const bytes = Buffer.alloc(2 * 1024 * 1024, 'livedoc ');
  await ctl(page, 'attachment').locator('input[type="file"]').setInputFiles({ name: 'report.txt', mimeType: 'text/plain', buffer: bytes });
  await ctl(page, 'attachment').locator('.upload-progress:not([hidden])').waitFor({ timeout: 5000 });
  await ctl(page, 'attachment').locator('.attach-link', { hasText: 'report.txt' }).waitFor({ timeout: 20_000 });
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  const progress = await page.evaluate(() => window.__progress);
  assert.ok(progress.some((p) => p > 0 && p < 100), `progress between 0 and 100 was shown: ${progress}`);
  assert.equal(progress.at(-1), 100);
  assert.equal(await page.evaluate(() => window.cur_frm.is_dirty()), true, 'the field is set; the user saves');
  // The file was attached to the document: the sidebar lists it (docinfo).
  await page.locator('.form-sidebar [data-list="attachments"] li', { hasText: 'report.txt' }).waitFor({ timeout: LIVE_MS });
  await page.click('.form-page [data-action="save"]');
  await page.waitForFunction(() => !window.cur_frm.is_dirty(), null, { timeout: 5000 });
  const { data: saved } = await rest('GET', `/api/resource/LD All Fields/${d.name}`);
  assert.match(saved.attachment, /^\/private\/files\/report.*\.txt$/);
  // Remove clears the field.
  await ctl(page, 'attachment').locator('[data-action="remove"]').click();
  assert.equal(await page.evaluate(() => window.cur_frm.doc.attachment), '');
});

test('a comment by one user appears live on another user\'s open form; versions read as sentences', async () => {
  const { data: d } = await rest('POST', '/api/resource/LD All Fields', { title: 'Talk', status: 'Draft' });
  const pageA = await newPage('Administrator', srv.adminPassword);
  const pageB = await newPage(USER, PW);
  await Promise.all([openForm(pageA, `/app/ld-all-fields/${d.name}`), openForm(pageB, `/app/ld-all-fields/${d.name}`)]);
  await pageB.waitForSelector('.form-page[data-live="1"]', { timeout: 10_000 });
  await pageA.fill('.comment-input', 'Looks good.\nShip it <script>window.__xss = 1</script>');
  await pageA.click('[data-action="comment"]');
  const onB = pageB.locator('.timeline-comment', { hasText: 'Looks good.' });
  await onB.waitFor({ timeout: LIVE_MS });
  assert.match(await onB.innerText(), /Administrator commented/);
  assert.match(await onB.innerText(), /Ship it <script>/, 'the comment is text, not markup');
  assert.equal(await pageB.evaluate(() => window.__xss), undefined);
  // A changes the status in the desk: B's timeline says so in words.
  await input(pageA, 'status').selectOption('Open');
  await pageA.click('.form-page [data-action="save"]');
  await pageB.locator('.timeline-version', { hasText: 'Administrator changed Status from Draft to Open' }).waitFor({ timeout: LIVE_MS });
  // B (an LD User) may not read permlevel 1: Internal Note is not shown.
  assert.equal(await ctl(pageB, 'internal_note').count() > 0 && await ctl(pageB, 'internal_note').isVisible(), false);
  // B assigns A and tags the document: A sees the assignment live.
  await pageB.click('.form-sidebar [data-action="assign"]');
  await pageB.fill('dialog.dialog input', 'Administrator');
  await pageB.click('dialog.dialog button[value="ok"]');
  await pageA.locator('.form-sidebar [data-list="assignments"] li[data-user="Administrator"]').waitFor({ timeout: LIVE_MS });
  await pageA.locator('.timeline-version', { hasText: 'Administrator changed Status from Draft to Open' }).waitFor({ timeout: LIVE_MS });
  await pageA.locator('.form-timeline').scrollIntoViewIfNeeded();
  await shot(pageA, 'forms-2-timeline.png', { fullPage: false });
  await shot(pageB, 'forms-2-timeline-B.png');
});

test('permlevel 1 is read-only for a user who may only read it; rich text is sanitised; Datetime is local', async () => {
  const { data: d } = await rest('POST', '/api/resource/LD All Fields', {
    title: 'Secrets', internal_note: 'for auditors', logged_at: '2024-03-01 10:00:00',
    notes: '<p>Hi <b>there</b><img src="x" onerror="window.__xss = 2"><script>window.__xss = 3</script><a href="javascript:window.__xss=4">link</a></p>',
  });
  const page = await newPage(AUDITOR, PW, { timezoneId: 'Asia/Kolkata' });
  await openForm(page, `/app/ld-all-fields/${d.name}`);
  await page.click('.form-page .form-tab[data-tab="texts_tab"]');
  assert.equal(await ctl(page, 'internal_note').isVisible(), true);
  assert.equal(await input(page, 'internal_note').inputValue(), 'for auditors');
  assert.equal(await input(page, 'internal_note').evaluate((el) => el.readOnly), true, 'permlevel 1 is read-only');
  assert.equal(await input(page, 'remarks').evaluate((el) => el.readOnly), false);
  // The stored rich text is shown without its script, handler or javascript: link.
  const notes = ctl(page, 'notes').locator('.rich-text');
  assert.equal(await notes.locator('b').innerText(), 'there');
  assert.equal(await notes.locator('script, img[onerror], a[href^="javascript"]').count(), 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  // Pasted HTML is sanitised before it reaches the document.
  await notes.click();
  await page.keyboard.press('End');
  await notes.evaluate((el) => {
    const data = new DataTransfer();
    data.setData('text/html', '<ul><li onclick="alert(1)">one</li></ul><iframe src="/app"></iframe><style>*{}</style>');
    el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  });
  const value = await page.evaluate(() => window.cur_frm.doc.notes);
  assert.match(value, /<li>one<\/li>/);
  assert.doesNotMatch(value, /onclick|iframe|style|script|onerror|javascript/);
  // Bold from the toolbar.
  await page.click('.form-page [data-fieldname="notes"] [data-cmd="bold"]');
  // Datetime in the user's time zone (UTC+5:30).
  await page.click('.form-page .form-tab[data-tab="details_tab"]');
  assert.match(await input(page, 'logged_at').inputValue(), /^2024-03-01T15:30(:00)?$/);
  // Password: never shown back; the placeholder says how to keep it.
  await page.click('.form-page .form-tab[data-tab="texts_tab"]');
  assert.equal(await input(page, 'secret').inputValue(), '');
  await shot(page, 'forms-3-auditor.png');
});

test('the awesome bar finds DocTypes and documents by search_fields; lists filter by standard filters', async () => {
  await rest('POST', '/api/resource/LD All Fields', { title: 'Findable', code: 'ZX-42', status: 'Closed' });
  const page = await newPage('Administrator', srv.adminPassword);
  await page.goto('/app');
  await page.waitForSelector('.modules', { timeout: 5000 });
  await page.keyboard.press('Control+g');
  await page.keyboard.type('ZX-4');
  const hit = page.locator('#awesome-list .link-item', { hasText: 'Findable' });
  await hit.waitFor({ timeout: 5000 });
  await page.keyboard.type('2');
  await hit.waitFor({ timeout: 5000 });
  await hit.click();
  await page.waitForFunction(() => window.cur_frm?.doc?.code === 'ZX-42', null, { timeout: 5000 });
  await page.fill('#awesome', 'LD Cat');
  await page.locator('#awesome-list .link-item', { hasText: 'LD Category list' }).click();
  await page.waitForURL(/\/app\/ld-category$/, { timeout: 5000 });
  // The standard filter of LD All Fields (status) and sorting on any field.
  await page.goto('/app/ld-all-fields');
  await page.waitForSelector('.list-page[data-live="1"]', { timeout: 5000 });
  await page.selectOption('.list-toolbar [data-filter="status"]', 'Closed');
  await page.waitForFunction(() => [...document.querySelectorAll('.list-table tbody tr')].length === 1, null, { timeout: 5000 });
  assert.match(await page.locator('.list-table tbody tr').innerText(), /Findable/);
  assert.match(page.url(), /status=Closed/);
  await page.selectOption('[data-sort="field"]', 'code');
  await page.waitForURL(/_sort=code/, { timeout: 5000 });
});
