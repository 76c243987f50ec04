// Save-to-screen in the desk, side by side in one run: two livedoc binaries (e.g. main's desk,
// which re-reads on every change, and a branch's live forms and lists), each serving the sample
// app to Chromium (playwright-core from tests/js/node_modules, /usr/bin/chromium).
//
//   node bench/desk-live-compare.mjs --bin before=/path/to/livedoc --bin after=bin/livedoc [--saves 40]
//
// Per binary, fresh: one page has an Invoice's form open, another the Invoice list (newest
// first). --saves REST saves (PUT remarks) alternate between that invoice and a second one, one at
// a time: each waits until the form shows the value (saves of the open invoice) and the saved
// row is first in the list. Latency = the page's clock when it saw it (polled every 2 ms in the
// page) minus the moment the PUT was sent (same machine clock). Also the HTTP requests the two
// pages made during the saves (/api/...), per save.

import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { login, repoRoot, sessionHeaders, startLivedoc } from '../tests/js/lib/server.mjs';

const { chromium } = createRequire(path.join(repoRoot(), 'tests/js/package.json'))('playwright-core');

const { values: opt } = parseArgs({
  options: {
    bin: { type: 'string', multiple: true },
    saves: { type: 'string', default: '40' },
    chromium: { type: 'string', default: process.env.CHROMIUM_PATH || '/usr/bin/chromium' },
  },
});
const SAVES = Number(opt.saves);
const bins = (opt.bin ?? [`current=${path.join(repoRoot(), 'bin/livedoc')}`]).map((b) => {
  const i = b.indexOf('=');
  return i < 0 ? [path.basename(path.dirname(path.dirname(b))), b] : [b.slice(0, i), b.slice(i + 1)];
});

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function measure(label, bin) {
  process.env.LIVEDOC_BIN = path.resolve(bin);
  const srv = await startLivedoc();
  const browser = await chromium.launch({ executablePath: opt.chromium, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  try {
    const admin = await login(srv.url, 'Administrator', srv.adminPassword);
    const headers = { 'Content-Type': 'application/json', Accept: 'application/json', ...sessionHeaders(admin) };
    const rest = async (method, p, body) => {
      const res = await fetch(srv.url + p, { method, headers, body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
      return (await res.json()).data;
    };
    await rest('POST', '/api/resource/Customer', { customer_name: 'Acme' });
    const inv = async () => (await rest('POST', '/api/resource/Invoice', { customer: 'Acme', remarks: 'start', items: [{ item: 'W', qty: 1, rate: 1 }] })).name;
    const [a, b] = [await inv(), await inv()];
    const ctx = await browser.newContext({ baseURL: srv.url });
    const res = await ctx.request.post('/api/method/login', { data: { usr: 'Administrator', pwd: srv.adminPassword } });
    if (res.status() !== 200) throw new Error(`login: ${res.status()}`);
    const form = await ctx.newPage();
    const list = await ctx.newPage();
    await form.goto(`/app/invoice/${a}`);
    await form.waitForSelector('.form-page[data-live="1"]', { timeout: 15_000 });
    await list.goto('/app/invoice');
    await list.waitForSelector('.list-page[data-live="1"]', { timeout: 15_000 });
    let requests = 0;
    for (const p of [form, list]) p.on('request', (r) => { if (new URL(r.url()).pathname.startsWith('/api/')) requests++; });
    // Each page watches for what the next save should show and notes when it saw it.
    await form.evaluate(() => {
      window.__seen = (want) => new Promise((resolve) => {
        const t = setInterval(() => {
          if (document.querySelector('.form-page [data-fieldname="remarks"] textarea, .form-page [data-fieldname="remarks"] input')?.value === want) {
            clearInterval(t);
            resolve(Date.now());
          }
        }, 2);
      });
    });
    await list.evaluate(() => {
      window.__seen = (name) => new Promise((resolve) => {
        const t = setInterval(() => {
          if (document.querySelector('.list-table tbody tr')?.dataset.name === name) {
            clearInterval(t);
            resolve(Date.now());
          }
        }, 2);
      });
    });
    const formMs = [];
    const listMs = [];
    for (let i = 0; i < SAVES; i++) {
      const name = i % 2 ? b : a;
      const value = `save ${i}`;
      const waits = [list.evaluate((n) => window.__seen(n), name)];
      if (name === a) waits.push(form.evaluate((v) => window.__seen(v), value));
      await Promise.all([list.evaluate(() => 0), form.evaluate(() => 0)]); // the watchers run
      const sent = Date.now();
      await rest('PUT', `/api/resource/Invoice/${name}`, { remarks: value });
      const [l, f] = await Promise.all(waits);
      listMs.push(l - sent);
      if (f !== undefined) formMs.push(f - sent);
    }
    return { label, formMs, listMs, requestsPerSave: requests / SAVES };
  } finally {
    await browser.close();
    await srv.stop();
  }
}

const out = [];
for (const [label, bin] of bins) out.push(await measure(label, bin));
console.log(`${SAVES} saves; latency from PUT sent to shown, ms (p50 / p90 / max)`);
for (const r of out) {
  const f = (xs) => `${pct(xs, 50)} / ${pct(xs, 90)} / ${Math.max(...xs)}`;
  console.log(`${r.label.padEnd(10)} form ${f(r.formMs).padEnd(16)} list ${f(r.listMs).padEnd(16)} HTTP requests per save ${r.requestsPerSave.toFixed(2)}`);
}
