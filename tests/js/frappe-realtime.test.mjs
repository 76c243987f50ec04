// `livedoc frappe-realtime` in place of Frappe's Node socket.io server, with no Frappe: a stand-in
// site written here (get_user_info and has_permission, with users, sid cookies and permissions it
// decides), a real redis-server, the real socket.io-client 4.8, and events published through Redis
// exactly as Frappe's publish_realtime does (PUBLISH events {"event","message","room","namespace"}).
//
//   go build -o bin/livedoc ./cmd/livedoc && (cd tests/js && node --test frappe-realtime.test.mjs)
//
// Negatives ("X never arrives") are proven by ordering: a later event on the same socket arrives,
// and events go out in the order Redis delivered them. Waits are conditions with deadlines.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';

import { io } from 'socket.io-client';

import { createStandInSite } from './lib/frappe-site.mjs';
import { startFrappeRealtime, startRedis } from './lib/frappe-realtime.mjs';

const WAIT_MS = 10_000; // a deadline, not a delay: the browser tests run beside this file and load the machine
const SITE_A = 'site-a.test';
const SITE_B = 'site-b.test';

async function waitFor(fn, ms = WAIT_MS, what = fn.toString()) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`waitFor: not true within ${ms} ms: ${what}`);
    await delay(10);
  }
}

// ---------------------------------------------------------------------------------------------
// the stand-in Frappe site: one HTTP server for every site (gunicorn), the site by X-Frappe-Site-Name

const standIn = createStandInSite();
const { readable, calls, siteState, addSession } = standIn;
const startSite = () => standIn.listen();

// ---------------------------------------------------------------------------------------------
// redis-server, PUBLISH as Python sends it, and livedoc frappe-realtime

let redis;
const publish = (...args) => redis.publish(...args);
let site;
let rt; // {proc, url, port, stderr}

const startRealtime = () =>
  startFrappeRealtime({
    redisPort: redis.port,
    siteURL: `http://127.0.0.1:${site.address().port}`,
    args: ['--site', `${SITE_A},${SITE_B}`, '--default-site', SITE_A, '--site-timeout', '1s', '--permission-ttl', '30s'],
  });

const sockets = new Set();

/**
 * A socket as Frappe's client opens it (io(origin + "/" + site, {withCredentials: true})), seen
 * through nginx: the sid cookie, X-Frappe-Site-Name, and the page's Origin. In Node,
 * withCredentials would swap our Cookie header for engine.io-client's own (empty) cookie jar, so
 * the browser's cookie is sent as a header instead.
 */
function open(siteName, sid, { origin, headers = {}, url = rt.url, ...opts } = {}) {
  const extraHeaders = { Origin: origin ?? url, 'X-Frappe-Site-Name': siteName, ...headers };
  if (sid) extraHeaders.Cookie = `sid=${sid}`;
  const socket = io(`${url}/${siteName}`, {
    reconnectionAttempts: 3,
    forceNew: true,
    timeout: WAIT_MS,
    reconnectionDelay: 50,
    reconnectionDelayMax: 100,
    extraHeaders,
    ...opts,
  });
  sockets.add(socket);
  return socket;
}

function connected(socket) {
  return new Promise((resolve, reject) => {
    if (socket.connected) return resolve(socket);
    const timer = setTimeout(() => done(new Error(`no connect within ${WAIT_MS} ms`)), WAIT_MS);
    const onOk = () => done(null);
    const onErr = (e) => done(new Error(`connect_error: ${e?.message}`));
    function done(err) {
      clearTimeout(timer);
      socket.off('connect', onOk);
      socket.off('connect_error', onErr);
      err ? reject(err) : resolve(socket);
    }
    socket.on('connect', onOk);
    socket.on('connect_error', onErr);
  });
}

/** Resolves with the connect_error's message (and fails if the socket connects instead). */
function refused(socket) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('neither connect nor connect_error')), WAIT_MS);
    socket.once('connect', () => (clearTimeout(timer), reject(new Error('connected, expected a refusal'))));
    socket.once('connect_error', (e) => (clearTimeout(timer), socket.close(), resolve(e.message)));
  });
}

function record(socket) {
  const log = [];
  socket.onAny((event, ...args) => log.push({ event, msg: args[0], offset: args.at(-1) }));
  return log;
}

function waitEvent(log, event, pred = () => true, from = 0) {
  return waitFor(() => log.slice(from).find((e) => e.event === event && pred(e.msg)), WAIT_MS, `${event} matching ${pred}`);
}

/** A metric's value from /metrics (served to loopback peers); name may carry labels. 0 when absent. */
async function gauge(name) {
  const text = await (await fetch(rt.url + '/metrics')).text();
  const escaped = name.replace(/[{}"().+*?[\]\\]/g, '\\$&');
  return Number(new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
}

const ask = (socket, event, ...args) => socket.timeout(WAIT_MS).emitWithAck(event, ...args);
const shared = (method) => gauge(`frappe_realtime_site_calls_shared_total{method="frappe.realtime.${method}"}`);

before(async () => {
  site = await startSite();
  redis = await startRedis();
  rt = await startRealtime();
  addSession('sid-admin-a', SITE_A, 'admin@a.test');
  addSession('sid-ann-a', SITE_A, 'ann@a.test');
  addSession('sid-web-a', SITE_A, 'web@a.test', 'Website User');
  addSession('sid-bob-b', SITE_B, 'bob@b.test');
  readable.set('admin@a.test', new Set(['ToDo', 'ToDo/T-1', 'ToDo/T-2']));
  readable.set('ann@a.test', new Set(['ToDo/T-1']));
});

after(async () => {
  for (const s of sockets) s.close();
  rt?.proc.kill('SIGTERM');
  redis?.stop();
  site?.close();
  site?.closeAllConnections();
});

describe('frappe-realtime', () => {
  test("Frappe's client flow: rooms joined on connect, events published through Redis arrive", async () => {
    const admin = open(SITE_A, 'sid-admin-a'); // polling first, then the upgrade, as in a browser
    const web = open(SITE_A, 'sid-web-a', { transports: ['websocket'] });
    const adminLog = record(admin);
    const webLog = record(web);
    await Promise.all([connected(admin), connected(web)]);

    await publish('msgprint', { message: 'to admin' }, 'user:admin@a.test', SITE_A);
    await publish('list_update', { doctype: 'ToDo', name: 'T-9' }, 'all', SITE_A); // System Users only
    await publish('site_wide', { n: 1 }, null, SITE_A); // no room: every socket of the site
    await publish('bench_wide', { n: 2 }, null, null); // no namespace: every site
    await publish('website_news', { n: 3 }, 'website', SITE_A);

    const m = await waitEvent(adminLog, 'msgprint');
    assert.equal(m.msg.message, 'to admin');
    assert.match(m.offset, /^\d+$/, 'each event carries its offset last');
    await waitEvent(adminLog, 'list_update');
    await waitEvent(adminLog, 'website_news');
    await waitEvent(webLog, 'website_news');
    assert.deepEqual(
      webLog.map((e) => e.event),
      ['site_wide', 'bench_wide', 'website_news'],
      'a Website User gets neither the admin user room nor all',
    );
    assert.deepEqual(
      adminLog.map((e) => e.event),
      ['msgprint', 'list_update', 'site_wide', 'bench_wide', 'website_news'],
      'in the order published',
    );

    const pong = new Promise((resolve) => admin.once('pong', resolve));
    admin.emit('ping');
    await pong;
  });

  test('multi-site isolation: a room of site B is not site A', async () => {
    const a = open(SITE_A, 'sid-admin-a', { transports: ['websocket'] });
    const b = open(SITE_B, 'sid-bob-b', { transports: ['websocket'] });
    const aLog = record(a);
    const bLog = record(b);
    await Promise.all([connected(a), connected(b)]);
    await publish('secret', { site: 'b' }, 'all', SITE_B);
    await publish('marker', {}, 'all', SITE_A);
    await waitEvent(bLog, 'secret');
    await waitEvent(aLog, 'marker');
    assert.deepEqual(aLog.filter((e) => e.event === 'secret'), [], "site B's event reached site A");

    // A socket may only open its own site's namespace, and only with a session of that site.
    const wrongNs = open(SITE_B, 'sid-admin-a', { headers: { 'X-Frappe-Site-Name': SITE_A } });
    assert.match(await refused(wrongNs), /Invalid namespace/);
    const wrongSite = open(SITE_B, 'sid-admin-a');
    assert.match(await refused(wrongSite), /Unauthorized/);
    const unknown = open('nosuch.test', 'sid-admin-a');
    assert.match(await refused(unknown), /Invalid namespace/);
    const noCookie = open(SITE_A, null);
    assert.match(await refused(noCookie), /No authentication method/);
  });

  test('without a sid cookie, the Authorization header authenticates (and is what the site is asked with)', async () => {
    addSession('key-1:secret-1', SITE_A, 'api@a.test'); // the stand-in reads "token <key:secret>"
    const api = open(SITE_A, null, { transports: ['websocket'], headers: { Authorization: 'token key-1:secret-1' } });
    const log = record(api);
    await connected(api);
    await publish('msgprint', { message: 'to api' }, 'user:api@a.test', SITE_A);
    assert.equal((await waitEvent(log, 'msgprint')).msg.message, 'to api');
    const wrong = open(SITE_A, null, { transports: ['websocket'], reconnection: false, headers: { Authorization: 'token key-1:wrong' } });
    assert.match(await refused(wrong), /Unauthorized/);
    api.close();
  });

  test('doc_subscribe / doctype_subscribe / doc_open ask the site; denials get nothing; answers are cached per session', async () => {
    const ann = open(SITE_A, 'sid-ann-a', { transports: ['websocket'] });
    const annLog = record(ann);
    await connected(ann);
    const before = calls.has_permission;
    assert.deepEqual(await ask(ann, 'doc_subscribe', 'ToDo', 'T-1'), { ok: true });
    assert.equal(typeof (await ask(ann, 'doc_subscribe', 'ToDo', 'T-2')).error, 'string');
    assert.equal(typeof (await ask(ann, 'doctype_subscribe', 'ToDo')).error, 'string');
    assert.equal(calls.has_permission, before + 3);

    await publish('doc_update', { doctype: 'ToDo', name: 'T-2' }, 'doc:ToDo/T-2', SITE_A);
    await publish('list_update', { doctype: 'ToDo', name: 'T-1' }, 'doctype:ToDo', SITE_A);
    await publish('doc_update', { doctype: 'ToDo', name: 'T-1' }, 'doc:ToDo/T-1', SITE_A);
    await waitEvent(annLog, 'doc_update', (m) => m.name === 'T-1');
    assert.deepEqual(annLog.map((e) => `${e.event} ${e.msg.name}`), ['doc_update T-1'], 'only the permitted room');

    // A second tab of the same session: the site is not asked again within the TTL.
    const tab = open(SITE_A, 'sid-ann-a', { transports: ['websocket'] });
    await connected(tab);
    assert.deepEqual(await ask(tab, 'doc_subscribe', 'ToDo', 'T-1'), { ok: true });
    assert.equal(typeof (await ask(tab, 'doc_subscribe', 'ToDo', 'T-2')).error, 'string');
    assert.equal(calls.has_permission, before + 3, 'answers reused within the TTL');

    // The session's sockets all gone: its answers go with them, the site is asked again.
    const open0 = await gauge('frappe_realtime_connections');
    ann.disconnect();
    tab.disconnect();
    await waitFor(async () => (await gauge('frappe_realtime_connections')) === open0 - 2, WAIT_MS, 'both sockets gone');
    const again = open(SITE_A, 'sid-ann-a', { transports: ['websocket'] });
    await connected(again);
    assert.deepEqual(await ask(again, 'doc_subscribe', 'ToDo', 'T-1'), { ok: true });
    assert.equal(calls.has_permission, before + 4, 'asked again once the session had no socket');
  });

  test('simultaneous identical asks share one call to the site; a failed or timed-out call is not remembered', async () => {
    // The stand-in holds its answers: every ask is in flight together, however slow the machine.
    // An ask that joins a call in flight shows in frappe_realtime_site_calls_shared_total.
    const N = 8;
    addSession('sid-cara-a', SITE_A, 'cara@a.test');
    readable.set('cara@a.test', new Set(['ToDo/T-1']));
    const calls0 = { ...calls };
    const infoShared0 = await shared('get_user_info');
    let release = standIn.hold('get_user_info');
    const tabs = Array.from({ length: N }, () => open(SITE_A, 'sid-cara-a', { transports: ['websocket'] }));
    await waitFor(async () => (await shared('get_user_info')) === infoShared0 + N - 1, WAIT_MS, `${N - 1} connects waiting for the first`);
    release('up');
    await Promise.all(tabs.map(connected));
    assert.equal(calls.get_user_info, calls0.get_user_info + 1, `${N} tabs of one session connecting at once: one get_user_info`);

    const logs = tabs.map(record);
    const permShared0 = await shared('has_permission');
    const subscribeAll = async (how, round) => {
      const releasePerm = standIn.hold('has_permission');
      const answers = Promise.all(tabs.map((t) => ask(t, 'doc_subscribe', 'ToDo', 'T-1')));
      await waitFor(async () => (await shared('has_permission')) === permShared0 + round * (N - 1), WAIT_MS, `round ${round}: ${N - 1} asks sharing`);
      releasePerm(how);
      return answers;
    };
    // The site never answers: the deadline (--site-timeout 1s) refuses every ask, once.
    for (const a of await subscribeAll('hang', 1)) assert.match(a.error ?? '', /site unavailable/);
    assert.equal(calls.has_permission, calls0.has_permission + 1);
    // The site fails: refused again, and it was asked again (the timeout was not remembered).
    for (const a of await subscribeAll('down', 2)) assert.match(a.error ?? '', /site unavailable/);
    assert.equal(calls.has_permission, calls0.has_permission + 2);
    // The site answers: one call grants all N, and only now is the answer remembered.
    for (const a of await subscribeAll('up', 3)) assert.deepEqual(a, { ok: true });
    assert.equal(calls.has_permission, calls0.has_permission + 3);
    assert.deepEqual(await ask(tabs[0], 'doc_subscribe', 'ToDo', 'T-1'), { ok: true });
    assert.equal(calls.has_permission, calls0.has_permission + 3, 'the grant is cached');

    await publish('doc_update', { name: 'T-1', to: 'cara' }, 'doc:ToDo/T-1', SITE_A);
    await Promise.all(logs.map((log) => waitEvent(log, 'doc_update', (m) => m.to === 'cara')));
    for (const t of tabs) t.close();
  });

  test('task_subscribe joins task_progress:<id>; doc_open sends doc_viewers', async () => {
    const admin = open(SITE_A, 'sid-admin-a', { transports: ['websocket'] });
    const ann = open(SITE_A, 'sid-ann-a', { transports: ['websocket'] });
    const adminLog = record(admin);
    const annLog = record(ann);
    await Promise.all([connected(admin), connected(ann)]);
    assert.deepEqual(await ask(admin, 'task_subscribe', 'task-42'), { ok: true });
    await publish('task_progress', { task_id: 'task-42', progress: 50 }, 'task_progress:task-42', SITE_A);
    assert.equal((await waitEvent(adminLog, 'task_progress')).msg.progress, 50);

    assert.deepEqual(await ask(admin, 'doc_open', 'ToDo', 'T-1'), { ok: true });
    assert.deepEqual(await ask(ann, 'doc_open', 'ToDo', 'T-1'), { ok: true });
    const both = await waitEvent(adminLog, 'doc_viewers', (m) => m.users.length === 2);
    assert.deepEqual(both.msg, { doctype: 'ToDo', docname: 'T-1', users: ['admin@a.test', 'ann@a.test'] });
    ann.close();
    await waitEvent(adminLog, 'doc_viewers', (m) => m.users.length === 1 && m.users[0] === 'admin@a.test');
    assert.ok(annLog.some((e) => e.event === 'doc_viewers'));
  });

  test('recovery: a reconnecting client gets what it missed, in order, once (socket.recovered)', async () => {
    const socket = open(SITE_A, 'sid-admin-a', { transports: ['websocket'] });
    const log = record(socket);
    await connected(socket);
    assert.deepEqual(await ask(socket, 'doc_subscribe', 'ToDo', 'T-2'), { ok: true });
    await publish('doc_update', { name: 'T-2', n: 0 }, 'doc:ToDo/T-2', SITE_A);
    await waitEvent(log, 'doc_update');

    const reconnected = new Promise((resolve) => socket.io.once('reconnect', resolve));
    socket.io.engine.close(); // the transport drops, as on a network change; the client reconnects
    for (let n = 1; n <= 5; n++) await publish('doc_update', { name: 'T-2', n }, 'doc:ToDo/T-2', SITE_A);
    await reconnected;
    await connected(socket);
    assert.equal(socket.recovered, true, 'the session was recovered');
    await waitEvent(log, 'doc_update', (m) => m.n === 5);
    await publish('doc_update', { name: 'T-2', n: 6 }, 'doc:ToDo/T-2', SITE_A); // the room is still joined
    await waitEvent(log, 'doc_update', (m) => m.n === 6);
    assert.deepEqual(
      log.filter((e) => e.event === 'doc_update').map((e) => e.msg.n),
      [0, 1, 2, 3, 4, 5, 6],
    );
  });

  test('--redis-stream: a restarted process recovers a client that reconnects with its pid and offset', async () => {
    const stream = `frappe_realtime_test_${process.pid}`;
    const opts = {
      redisPort: redis.port,
      siteURL: `http://127.0.0.1:${site.address().port}`,
      args: ['--site', SITE_A, '--redis-stream', stream, '--site-timeout', '1s'],
    };
    let proc = await startFrappeRealtime(opts);
    const url = proc.url;
    try {
      const socket = open(SITE_A, 'sid-admin-a', { url, transports: ['websocket'], reconnection: false });
      const log = record(socket);
      await connected(socket);
      assert.deepEqual(await ask(socket, 'doc_subscribe', 'ToDo', 'T-2'), { ok: true });
      await publish('doc_update', { name: 'T-2', n: 0 }, 'doc:ToDo/T-2', SITE_A);
      await waitEvent(log, 'doc_update', (m) => m.n === 0);

      // The client loses its connection; events come meanwhile; then the process restarts.
      socket.io.engine.close();
      await waitFor(() => !socket.connected);
      for (let n = 1; n <= 3; n++) await publish('doc_update', { name: 'T-2', n }, 'doc:ToDo/T-2', SITE_A);
      await waitFor(async () => (await redis.command('XLEN', stream)) === 4, WAIT_MS, 'the 4 events in the stream');
      proc.proc.kill('SIGTERM');
      await new Promise((resolve) => (proc.proc.exitCode !== null ? resolve() : proc.proc.once('exit', resolve)));
      proc = await startFrappeRealtime({ ...opts, port: proc.port });

      // Another session presenting the client's pid and offset gets a fresh session, nothing else.
      const thief = open(SITE_A, 'sid-ann-a', { url, transports: ['websocket'], reconnection: false, auth: { pid: socket._pid, offset: log[0].offset } });
      const thiefLog = record(thief);
      await connected(thief);
      assert.equal(thief.recovered, false, 'another credential took the session over');

      socket.connect(); // socket.io-client sends its pid and last offset
      await connected(socket);
      assert.equal(socket.recovered, true, 'the session was recovered from the stream');
      await waitEvent(log, 'doc_update', (m) => m.n === 3);
      await publish('doc_update', { name: 'T-2', n: 4 }, 'doc:ToDo/T-2', SITE_A); // its room is joined in the new process
      await waitEvent(log, 'doc_update', (m) => m.n === 4);
      assert.deepEqual(log.filter((e) => e.event === 'doc_update').map((e) => e.msg.n), [0, 1, 2, 3, 4]);
      assert.deepEqual(thiefLog.filter((e) => e.event === 'doc_update'), []);
    } finally {
      proc.proc.kill('SIGTERM');
      await redis.command('DEL', stream);
    }
  });

  test('Origin: the same hostname on any port is accepted, another hostname refused (polling and websocket)', async () => {
    for (const transports of [['polling'], ['websocket']]) {
      const evil = open(SITE_A, 'sid-admin-a', { origin: 'http://evil.test', transports });
      assert.match(await refused(evil), /Invalid origin|xhr poll error|websocket error/, `${transports}`);
      const otherPort = open(SITE_A, 'sid-admin-a', { origin: 'http://127.0.0.1:3000', transports });
      await connected(otherPort);
    }
    // The polling handshake from a page on another port carries CORS with credentials.
    const res = await fetch(`${rt.url}/socket.io/?EIO=4&transport=polling`, {
      headers: { Origin: 'http://127.0.0.1:3000', Cookie: 'sid=sid-admin-a', 'X-Frappe-Site-Name': SITE_A },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), 'http://127.0.0.1:3000');
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    const pre = await fetch(`${rt.url}/socket.io/?EIO=4&transport=polling`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://evil.test', 'Access-Control-Request-Method': 'POST' },
    });
    assert.equal(pre.status, 403);
    assert.equal(pre.headers.get('access-control-allow-origin'), null);
  });

  test('a site that hangs or fails refuses its own sockets only; the others connect and receive meanwhile', async () => {
    siteState.set(SITE_B, 'hang');
    try {
      const stuck = open(SITE_B, 'sid-bob-b', { transports: ['websocket'], reconnection: false });
      const stuckResult = refused(stuck);
      const started = Date.now();
      const a = open(SITE_A, 'sid-admin-a', { transports: ['websocket'] });
      const aLog = record(a);
      await connected(a);
      assert.ok(Date.now() - started < 900, `site A waited ${Date.now() - started} ms for site B`);
      await publish('during_outage', {}, 'all', SITE_A);
      await waitEvent(aLog, 'during_outage');
      assert.match(await stuckResult, /site did not answer/);

      siteState.set(SITE_B, 'down');
      assert.match(await refused(open(SITE_B, 'sid-bob-b', { transports: ['websocket'], reconnection: false })), /site did not answer/);
    } finally {
      siteState.set(SITE_B, 'up');
    }
    await connected(open(SITE_B, 'sid-bob-b', { transports: ['websocket'] }));
  });

  test('a socket that stops reading is dropped at its queue bound; the others get every event', async () => {
    // A WebSocket client of our own: Engine.IO handshake and the namespace CONNECT, then it never
    // reads again (socket.io-client always reads).
    const raw = net.connect(rt.port, '127.0.0.1');
    await new Promise((resolve, reject) => (raw.once('connect', resolve), raw.once('error', reject)));
    raw.write(
      `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:${rt.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nOrigin: ${rt.url}\r\n` +
        `X-Frappe-Site-Name: ${SITE_A}\r\nCookie: sid=sid-admin-a\r\n\r\n`,
    );
    let seen = '';
    raw.on('data', (d) => (seen += d.toString('latin1')));
    await waitFor(() => seen.includes('"sid"'), WAIT_MS, 'the Engine.IO open packet');
    const text = Buffer.from(`40/${SITE_A},`);
    const mask = randomBytes(4);
    raw.write(Buffer.concat([Buffer.from([0x81, 0x80 | text.length]), mask, Buffer.from(text.map((b, i) => b ^ mask[i % 4]))]));
    await waitFor(() => seen.includes(`40/${SITE_A},{`), WAIT_MS, 'the CONNECT answer');
    raw.pause(); // from now on, nothing is read: the kernel's buffers fill, then the server's queue

    const reader = open(SITE_A, 'sid-admin-a', { transports: ['websocket'] });
    const log = record(reader);
    await connected(reader);
    const drops0 = await gauge('frappe_realtime_queue_drops_total');
    const big = 'x'.repeat(100_000);
    for (let n = 0; n < 80; n++) await publish('bulk', { n, big }, 'all', SITE_A); // 8 MB to each socket of the room
    await waitEvent(log, 'bulk', (m) => m.n === 79);
    assert.deepEqual(log.filter((e) => e.event === 'bulk').map((e) => e.msg.n), [...Array(80).keys()], 'the reading socket got every event, in order');
    await waitFor(async () => (await gauge('frappe_realtime_queue_drops_total')) > drops0, WAIT_MS, 'the stalled socket dropped');
    raw.destroy();
    reader.close();
  });

  test('/api/health and /metrics', async () => {
    const health = await fetch(rt.url + '/api/health');
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const metrics = await (await fetch(rt.url + '/metrics')).text();
    assert.match(metrics, /frappe_realtime_events_received_total [1-9]/);
    assert.match(metrics, /frappe_realtime_permission_checks_total\{source="cached"\} [1-9]/);
    assert.match(metrics, /frappe_realtime_site_errors_total\{site="site-b.test"\} [1-9]/);
  });
});
