// `livedoc frappe-realtime` from a page in Chromium on another port of the same hostname, as
// Frappe's developer mode and frappe-react-sdk's socketPort put it: the page (port A) opens
// io("http://127.0.0.1:<B>/<site>", {withCredentials: true}) to frappe-realtime (port B). The
// polling handshake needs CORS with credentials; the user's own room proves the browser's sid
// cookie went along (the stand-in site knows who it is). A page on another hostname is refused.
//
//   go build -o bin/livedoc ./cmd/livedoc && (cd tests/js && node --test frappe-realtime-browser.test.mjs)

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { startFrappeRealtime, startRedis } from './lib/frappe-realtime.mjs';
import { createStandInSite } from './lib/frappe-site.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const WAIT_MS = 10_000;
const SITE = 'dev-site.test';

let redis;
let site;
let rt;
let page; // the page server: another port than frappe-realtime's
let browser;

before(async () => {
  const launching = chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const standIn = createStandInSite();
  standIn.addSession('sid-dev', SITE, 'dev@example.com');
  site = await standIn.listen();
  redis = await startRedis();
  // No X-Frappe-Site-Name without nginx: a socket on 127.0.0.1 belongs to the default site.
  rt = await startFrappeRealtime({ redisPort: redis.port, siteURL: `http://127.0.0.1:${site.address().port}`, args: ['--site', SITE, '--default-site', SITE] });
  const client = await readFile(new URL('./node_modules/socket.io-client/dist/socket.io.min.js', import.meta.url));
  page = http.createServer((req, res) => {
    if (req.url === '/socket.io.min.js') return res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(client);
    res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><script src="/socket.io.min.js"></script>');
  });
  await new Promise((resolve) => page.listen(0, '127.0.0.1', resolve));
  browser = await launching;
});

after(async () => {
  await browser?.close();
  page?.close();
  rt?.proc.kill('SIGTERM');
  redis?.stop();
  site?.close();
  site?.closeAllConnections();
});

/**
 * Opens pageURL in a context holding the sid cookie for 127.0.0.1 (cookies are per hostname, not
 * per port), connects a polling-first socket as Frappe's client does, and resolves with
 * {connected, error, transport, hello}: hello is an event published to the user's room.
 */
async function fromPage(pageURL) {
  const ctx = await browser.newContext();
  try {
    await ctx.addCookies([{ name: 'sid', value: 'sid-dev', domain: '127.0.0.1', path: '/' }]);
    const tab = await ctx.newPage();
    await tab.goto(pageURL);
    const outcome = await tab.evaluate(
      ({ url, waitMs }) =>
        new Promise((resolve) => {
          const s = io(url, { withCredentials: true, reconnection: false });
          let first; // the transport of the handshake: the socket may have upgraded by 'connect'
          s.io.on('open', () => (first = s.io.engine.transport.name));
          const timer = setTimeout(() => resolve({ connected: false, error: 'timeout' }), waitMs);
          s.on('connect_error', (e) => (clearTimeout(timer), resolve({ connected: false, error: e.message })));
          s.on('connect', () => {
            window.hello = new Promise((done) => s.on('hello', (m) => done(m)));
            clearTimeout(timer);
            resolve({ connected: true, transport: first });
          });
        }),
      { url: `${rt.url}/${SITE}`, waitMs: WAIT_MS },
    );
    if (outcome.connected) {
      assert.equal(await redis.publish('hello', { to: 'dev' }, 'user:dev@example.com', SITE), 1);
      outcome.hello = await tab.evaluate((ms) => Promise.race([window.hello, new Promise((r) => setTimeout(() => r(null), ms))]), WAIT_MS);
    }
    return outcome;
  } finally {
    await ctx.close();
  }
}

test('a page on another port of the same hostname connects with its cookie (CORS with credentials)', async () => {
  const pageURL = `http://127.0.0.1:${page.address().port}/`;
  assert.notEqual(new URL(pageURL).port, new URL(rt.url).port);
  const got = await fromPage(pageURL);
  assert.equal(got.connected, true, `connect_error: ${got.error}`);
  assert.equal(got.transport, 'polling', 'the handshake went over cross-origin polling');
  assert.deepEqual(got.hello, { to: 'dev' }, "the user's own room: the sid cookie went along");
});

test('a page on another hostname is refused', async () => {
  const got = await fromPage(`http://localhost:${page.address().port}/`);
  assert.equal(got.connected, false);
});
