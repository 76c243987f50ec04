// Cross-origin sockets in Chromium: a page served from one port holds a Socket.IO connection to
// livedoc on another port of the same hostname (Frappe's developer mode, frappe-react-sdk's
// socketPort), started with --allow-same-hostname. The polling handshake needs CORS with
// credentials; the user's own room proves the session cookie went along. A page on another
// hostname is refused.
//
//   go build -o bin/livedoc ./cmd/livedoc && (cd tests/js && node --test cors.test.mjs)

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { login, sessionHeaders, startLivedoc } from './lib/server.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const WAIT_MS = 5000;

let srv;
let page; // the page server: another port
let browser;
let admin;

before(async () => {
  const launching = chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  srv = await startLivedoc({ args: ['--allow-same-hostname'] });
  admin = await login(srv.url, 'Administrator', srv.adminPassword);
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
  await srv?.stop();
});

/**
 * Opens the page at pageURL in a context holding admin's sid cookie for 127.0.0.1, connects a
 * polling-first socket to livedoc from it, and resolves with what happened: {connected, error,
 * hello} (hello: the message of an event sent to the user's own room).
 */
async function fromPage(pageURL) {
  const ctx = await browser.newContext();
  try {
    await ctx.addCookies([{ name: 'sid', value: admin.cookie.slice('sid='.length), domain: '127.0.0.1', path: '/' }]);
    const tab = await ctx.newPage();
    await tab.goto(pageURL);
    const outcome = await tab.evaluate(
      ({ url, waitMs }) =>
        new Promise((resolve) => {
          const s = io(url + '/livedoc', { withCredentials: true, transports: ['polling', 'websocket'], reconnection: false });
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
      { url: srv.url, waitMs: WAIT_MS },
    );
    if (outcome.connected) {
      const res = await fetch(srv.url + '/api/realtime/publish', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...sessionHeaders(admin) },
        body: JSON.stringify({ event: 'hello', message: { to: 'admin' }, user: 'Administrator' }),
      });
      assert.equal(res.status, 200, await res.text());
      outcome.hello = await tab.evaluate((ms) => Promise.race([window.hello, new Promise((r) => setTimeout(() => r(null), ms))]), WAIT_MS);
    }
    return outcome;
  } finally {
    await ctx.close();
  }
}

test('a page on another port of the same hostname connects with its cookie (CORS with credentials)', async () => {
  const pageURL = `http://127.0.0.1:${page.address().port}/`;
  assert.notEqual(new URL(pageURL).port, new URL(srv.url).port);
  const got = await fromPage(pageURL);
  assert.equal(got.connected, true, `connect_error: ${got.error}`);
  assert.equal(got.transport, 'polling', 'the handshake went over cross-origin polling');
  assert.deepEqual(got.hello, { to: 'admin' }, "the user's own room: the session cookie went along");
});

test('a page on another hostname is refused', async () => {
  const got = await fromPage(`http://localhost:${page.address().port}/`);
  assert.equal(got.connected, false);
});
