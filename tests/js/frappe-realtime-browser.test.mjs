// `livedoc frappe-realtime` from a page in Chromium on another port of the same hostname, as
// Frappe's developer mode and frappe-react-sdk's socketPort put it: the page (port A) opens
// io("http://127.0.0.1:<B>/<site>", {withCredentials: true}) to frappe-realtime (port B). The
// polling handshake needs CORS with credentials; the user's own room proves the browser's sid
// cookie went along (the stand-in site knows who it is). A page on another hostname is refused.
//
//   go build -o bin/livedoc ./cmd/livedoc && (cd tests/js && node --test frappe-realtime-browser.test.mjs)

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startCrossOrigin } from './lib/cross-origin.mjs';
import { startFrappeRealtime, startRedis } from './lib/frappe-realtime.mjs';
import { createStandInSite } from './lib/frappe-site.mjs';

const WAIT_MS = 10_000;
const SITE = 'dev-site.test';

let redis;
let site;
let rt;
let page; // Chromium and the page server: another port than frappe-realtime's

before(async () => {
  const starting = startCrossOrigin();
  const standIn = createStandInSite();
  standIn.addSession('sid-dev', SITE, 'dev@example.com');
  site = await standIn.listen();
  redis = await startRedis();
  // No X-Frappe-Site-Name without nginx: a socket on 127.0.0.1 belongs to the default site.
  rt = await startFrappeRealtime({ redisPort: redis.port, siteURL: `http://127.0.0.1:${site.address().port}`, args: ['--site', SITE, '--default-site', SITE] });
  page = await starting;
});

after(async () => {
  await page?.close();
  rt?.proc.kill('SIGTERM');
  redis?.stop();
  site?.close();
  site?.closeAllConnections();
});

/**
 * Opens pageURL with the sid cookie, connects a polling-first socket as Frappe's client does, and
 * resolves with {connected, error, transport, hello}: hello is an event published to the user's
 * room.
 */
function fromPage(pageURL) {
  return page.connect(pageURL, {
    cookie: { name: 'sid', value: 'sid-dev' },
    url: `${rt.url}/${SITE}`,
    ioOptions: { withCredentials: true },
    waitMs: WAIT_MS,
    sendHello: async () => assert.equal(await redis.publish('hello', { to: 'dev' }, 'user:dev@example.com', SITE), 1),
  });
}

test('a page on another port of the same hostname connects with its cookie (CORS with credentials)', async () => {
  const pageURL = `http://127.0.0.1:${page.port}/`;
  assert.notEqual(new URL(pageURL).port, new URL(rt.url).port);
  const got = await fromPage(pageURL);
  assert.equal(got.connected, true, `connect_error: ${got.error}`);
  assert.equal(got.transport, 'polling', 'the handshake went over cross-origin polling');
  assert.deepEqual(got.hello, { to: 'dev' }, "the user's own room: the sid cookie went along");
});

test('a page on another hostname is refused', async () => {
  const got = await fromPage(`http://localhost:${page.port}/`);
  assert.equal(got.connected, false);
});
