// Server Scripts and background jobs in the desk, in Chromium (issue 16): a Before Save script's
// veto is shown at the form, and a job's progress and end reach the desk's progress bar.
//
//   go build -o bin/livedoc ./cmd/livedoc && (cd tests/js && node --test scripts.test.mjs)

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { mkdir } from 'node:fs/promises';

import { chromium } from 'playwright-core';
import { login, sessionHeaders, startLivedoc } from './lib/server.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const OUT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'test-output');

let srv;
let admin;
let browser;
let page;
const errors = [];

async function rest(method, urlPath, body) {
  const res = await fetch(srv.url + urlPath, {
    method,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...sessionHeaders(admin) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${urlPath}: HTTP ${res.status}: ${text}`);
  return JSON.parse(text);
}

before(async () => {
  await mkdir(OUT, { recursive: true });
  const launching = chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  srv = await startLivedoc();
  browser = await launching;
  admin = await login(srv.url, 'Administrator', srv.adminPassword);
  const ctx = await browser.newContext({ baseURL: srv.url, viewport: { width: 1280, height: 860 } });
  const res = await ctx.request.post('/api/method/login', { data: { usr: 'Administrator', pwd: srv.adminPassword } });
  assert.equal(res.status(), 200);
  page = await ctx.newPage();
  page.on('pageerror', (err) => errors.push(err.message));
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

test('a Before Save script vetoes a save made in the desk, and the form says why', async () => {
  await rest('POST', '/api/resource/Server%20Script', {
    name: 'No Forbidden Customers', script_type: 'DocType Event', reference_doctype: 'Customer', doctype_event: 'Before Save',
    script: "if (doc.customer_name.includes('forbidden')) frappe.throw('No forbidden customers, please');",
  });
  await page.goto('/app/customer/new');
  const input = page.locator('.form-page [data-fieldname="customer_name"] input');
  await input.waitFor({ timeout: 10_000 });
  await input.fill('a forbidden one');
  await page.click('.form-page [data-action="save"]');
  await page.getByText('No forbidden customers, please').first().waitFor({ timeout: 5000 });
  const { data } = await rest('GET', '/api/resource/Customer?filters=' + encodeURIComponent(JSON.stringify([['customer_name', '=', 'a forbidden one']])));
  assert.deepEqual(data, [], 'the vetoed customer was not saved');
  assert.deepEqual(errors, []);
});

test("a background job's progress and its end show in the desk's progress bar", async () => {
  for (const sc of [
    {
      name: 'LD Job Start', script_type: 'API', api_method: 'ld_job_start',
      script: "frappe.response['message'] = frappe.enqueue('ld_job_work', {job_id: frappe.form_dict.task});",
    },
    {
      name: 'LD Job Work', script_type: 'API', api_method: 'ld_job_work',
      script: 'let until = Date.now() + 700; while (Date.now() < until) {}\n' +
        "frappe.publish_progress(50, {title: 'Crunching', description: 'half way'});\n" +
        'until = Date.now() + 700; while (Date.now() < until) {}',
    },
  ]) {
    await rest('POST', '/api/resource/Server%20Script', sc);
  }
  await page.goto('/app');
  await page.waitForFunction(() => window.frappe?.realtime && window.frappe.call, null, { timeout: 10_000 });
  // Frappe's desk flow: the page makes the task id, joins its room, then starts the work.
  const id = await page.evaluate(async () => {
    const task = 'task-' + Date.now();
    await window.frappe.realtime.task_subscribe(task);
    const r = await window.frappe.call({ method: 'ld_job_start', args: { task } });
    return r.message === task ? task : null;
  });
  assert.ok(id, 'the job runs as the page\u2019s task');
  await page.waitForFunction(() => {
    const p = document.getElementById('progress');
    return !p.hidden && p.getAttribute('aria-valuenow') === '50' && p.textContent.includes('Crunching');
  }, null, { timeout: 10_000 });
  await page.screenshot({ path: path.join(OUT, 'job-progress.png') });
  await page.waitForFunction(() => document.getElementById('progress').textContent.includes('Finished'), null, { timeout: 10_000 });
  assert.deepEqual(errors, []);
});
