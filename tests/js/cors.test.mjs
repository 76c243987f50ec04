// Cross-origin sockets in Chromium: a page served from one port holds a Socket.IO connection to
// livedoc on another port of the same hostname (Frappe's developer mode, frappe-react-sdk's
// socketPort), started with --allow-same-hostname. The polling handshake needs CORS with
// credentials; the user's own room proves the session cookie went along. A page on another
// hostname is refused.
//
//   go build -o bin/livedoc ./cmd/livedoc && (cd tests/js && node --test cors.test.mjs)

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startCrossOrigin } from './lib/cross-origin.mjs';
import { login, sessionHeaders, startLivedoc } from './lib/server.mjs';

const WAIT_MS = 5000;

let srv;
let page; // Chromium and the page server: another port
let admin;

before(async () => {
  const starting = startCrossOrigin();
  srv = await startLivedoc({ args: ['--allow-same-hostname'] });
  admin = await login(srv.url, 'Administrator', srv.adminPassword);
  page = await starting;
});

after(async () => {
  await page?.close();
  await srv?.stop();
});

/**
 * Opens the page at pageURL with admin's sid cookie, connects a polling-first socket to livedoc
 * from it, and resolves with what happened: {connected, error, transport, hello} (hello: the
 * message of an event sent to the user's own room).
 */
function fromPage(pageURL) {
  return page.connect(pageURL, {
    cookie: { name: 'sid', value: admin.cookie.slice('sid='.length) },
    url: srv.url + '/livedoc',
    ioOptions: { withCredentials: true, transports: ['polling', 'websocket'] },
    waitMs: WAIT_MS,
    sendHello: async () => {
      const res = await fetch(srv.url + '/api/realtime/publish', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', ...sessionHeaders(admin) },
        body: JSON.stringify({ event: 'hello', message: { to: 'admin' }, user: 'Administrator' }),
      });
      assert.equal(res.status, 200, await res.text());
    },
  });
}

test('a page on another port of the same hostname connects with its cookie (CORS with credentials)', async () => {
  const pageURL = `http://127.0.0.1:${page.port}/`;
  assert.notEqual(new URL(pageURL).port, new URL(srv.url).port);
  const got = await fromPage(pageURL);
  assert.equal(got.connected, true, `connect_error: ${got.error}`);
  assert.equal(got.transport, 'polling', 'the handshake went over cross-origin polling');
  assert.deepEqual(got.hello, { to: 'admin' }, "the user's own room: the session cookie went along");
});

test('a page on another hostname is refused', async () => {
  const got = await fromPage(`http://localhost:${page.port}/`);
  assert.equal(got.connected, false);
});
