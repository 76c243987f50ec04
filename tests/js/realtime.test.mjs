// The realtime contract (Socket.IO, Frappe's rooms and events) with the real socket.io-client
// 4.8.4 against a real livedoc server serving the sample invoice app (examples/invoice). No mocks:
// writes go through REST, events come back over Socket.IO.
//
//   go build -o bin/livedoc ./cmd/livedoc && (cd tests/js && node --test realtime.test.mjs)
//
// Notes:
// - every server event carries the log offset as a final string argument, so listeners get
//   (message, offset); the recorder below keeps both.
// - negatives ("X never arrives") are proven by ordering: after the action that must not produce
//   an event, a later committed save produces an event on the same socket; events go out in commit
//   order, so once the later one is here the earlier one would have been too.
// - waits are conditions with deadlines (waitFor), never fixed sleeps.

import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';

import { io } from 'socket.io-client';

import { apiKeysFor, login, sessionHeaders, startLivedoc } from './lib/server.mjs';

const WAIT_MS = 3000; // deadline for any single condition

let srv; // the livedoc server for this file
let admin; // {cookie, csrf, user} of Administrator
let acc; // {cookie, csrf, user} of a user with role Accounts User
let accKeys; // that user's API key pair
let sales; // {cookie, csrf, user} of a user with role Sales User (if_owner on Invoice)
let customer; // a Customer name for invoices

const runId = Date.now().toString(36);
let seq = 0;
const uniq = (prefix) => `${prefix} ${runId}-${++seq}`;

// ---------------------------------------------------------------------------------------------
// helpers

/** Polls fn every few ms until it returns a truthy value, which it resolves with; throws after ms. */
async function waitFor(fn, ms = WAIT_MS, what = fn.toString()) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`waitFor: not true within ${ms} ms: ${what}`);
    await delay(5);
  }
}

/** A REST call as session (cookie + CSRF); resolves with {status, body}. */
async function rest(session, method, path, body) {
  const headers = { Accept: 'application/json', ...(session ? sessionHeaders(session) : {}) };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(srv.url + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed };
}

/** Like rest(), but asserts HTTP 200 and returns body.data (or body.message for methods). */
async function ok(session, method, path, body) {
  const res = await rest(session, method, path, body);
  assert.equal(res.status, 200, `${method} ${path}: HTTP ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body.data ?? res.body.message;
}

function newInvoice(session = admin, items = [{ item: 'Widget', qty: 2, rate: 10 }]) {
  return ok(session, 'POST', '/api/resource/Invoice', { customer, items });
}

function saveInvoice(name, fields, session = admin) {
  return ok(session, 'PUT', `/api/resource/Invoice/${encodeURIComponent(name)}`, fields);
}

const sockets = new Set();

/**
 * A new socket (own Manager) on namespace nsp. session (from login) is sent as the Cookie header;
 * other options go to io(). Closed in after().
 */
function open(nsp = '/', { session, extraHeaders, ...opts } = {}) {
  const headers = { ...(session ? { Cookie: session.cookie } : {}), ...extraHeaders };
  const socket = io(srv.url + (nsp === '/' ? '' : nsp), {
    forceNew: true,
    reconnectionDelay: 20,
    reconnectionDelayMax: 50,
    timeout: WAIT_MS,
    ...(Object.keys(headers).length ? { extraHeaders: headers } : {}),
    ...opts,
  });
  sockets.add(socket);
  return socket;
}

/** Resolves once socket is connected; rejects on connect_error or after the deadline. */
function connected(socket) {
  if (socket.connected) return Promise.resolve(socket);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no connect within ${WAIT_MS} ms`)), WAIT_MS);
    const onConnect = () => finish(null);
    const onError = (err) => finish(new Error(`connect_error: ${err?.message}`));
    function finish(err) {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('connect_error', onError);
      err ? reject(err) : resolve(socket);
    }
    socket.on('connect', onConnect);
    socket.on('connect_error', onError);
  });
}

/** Resolves with the connect_error of socket; rejects if it connects or nothing happens in time. */
function connectError(socket) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no connect_error within ${WAIT_MS} ms`)), WAIT_MS);
    const onConnect = () => finish(new Error('connected, but a connect_error was expected'));
    const onError = (err) => finish(null, err);
    function finish(err, value) {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('connect_error', onError);
      err ? reject(err) : resolve(value);
    }
    socket.on('connect', onConnect);
    socket.on('connect_error', onError);
  });
}

/** Emits with an acknowledgement and resolves with the ack's (first) argument. */
function ask(socket, event, ...args) {
  return socket.timeout(WAIT_MS).emitWithAck(event, ...args);
}

/**
 * Records every event socket receives: {event, msg, offset, args, at}. at is performance.now()
 * at arrival; offset is the final string argument the server adds.
 */
function record(socket) {
  const log = [];
  socket.onAny((event, ...args) => log.push({ event, msg: args[0], offset: args.at(-1), args, at: performance.now() }));
  return log;
}

/** Waits for the first entry of log (from index `from`) with that event whose msg passes pred. */
function waitEvent(log, event, pred = () => true, from = 0, ms = WAIT_MS) {
  return waitFor(
    () => log.slice(from).find((e) => e.event === event && pred(e.msg)),
    ms,
    `${event} matching ${pred}`,
  );
}

const isDocUpdate = (name) => (e) => e.event === 'doc_update' && e.msg?.name === name;

async function createUser(role) {
  const email = `${role.toLowerCase().replace(/\s+/g, '-')}-${runId}@example.com`;
  const password = `pw-${runId}-${role.length}-secret`;
  const user = await ok(admin, 'POST', '/api/resource/User', {
    email,
    first_name: role,
    new_password: password,
    roles: [{ role }],
  });
  assert.equal(user.name, email);
  return login(srv.url, email, password);
}

before(async () => {
  srv = await startLivedoc();
  admin = await login(srv.url, 'Administrator', srv.adminPassword);
  acc = await createUser('Accounts User');
  sales = await createUser('Sales User');
  accKeys = await apiKeysFor(srv.url, admin, acc.user);
  customer = (await ok(admin, 'POST', '/api/resource/Customer', { customer_name: uniq('Customer') })).name;
});

after(async () => {
  for (const s of sockets) s.disconnect();
  await srv?.stop();
});

// ---------------------------------------------------------------------------------------------

describe('transports', () => {
  const modes = [
    ['websocket only', { transports: ['websocket'] }, 'websocket', 'websocket'],
    ['polling only', { transports: ['polling'] }, 'polling', 'polling'],
    ['polling, then upgrade to websocket', {}, 'polling', 'websocket'],
  ];
  for (const [title, opts, first, final] of modes) {
    test(`${title}: receives doc_update for a subscribed document`, async () => {
      const inv = await newInvoice();
      const socket = open('/', { session: admin, ...opts });
      let firstTransport;
      let upgradedTo;
      socket.io.on('open', () => {
        firstTransport = socket.io.engine.transport.name;
        socket.io.engine.on('upgrade', (t) => (upgradedTo = t.name));
      });
      const log = record(socket);
      await connected(socket);
      assert.equal(firstTransport, first);
      if (first !== final) {
        await waitFor(() => socket.io.engine.transport.name === final, WAIT_MS, `upgrade to ${final}`);
        assert.equal(upgradedTo, final);
      }
      assert.deepEqual(await ask(socket, 'doc_subscribe', 'Invoice', inv.name), { ok: true });
      const saved = await saveInvoice(inv.name, { remarks: `via ${title}` });
      const ev = await waitEvent(log, 'doc_update', (m) => m.name === inv.name);
      assert.deepEqual(ev.msg, { doctype: 'Invoice', name: inv.name, modified: saved.modified });
      assert.match(ev.offset, /^\d+$/, 'the offset rides along as a final string argument');
      assert.equal(ev.args.length, 2);
      assert.equal(socket.io.engine.transport.name, final);
      if (first === final) assert.equal(upgradedTo, undefined, 'no upgrade expected');
    });
  }
});

describe('namespaces', () => {
  for (const nsp of ['/', '/livedoc']) {
    test(`namespace ${nsp} connects and delivers events`, async () => {
      const inv = await newInvoice();
      const socket = open(nsp, { session: admin, transports: ['websocket'] });
      const log = record(socket);
      await connected(socket);
      assert.equal(socket.nsp, nsp);
      assert.deepEqual(await ask(socket, 'doc_subscribe', 'Invoice', inv.name), { ok: true });
      const saved = await saveInvoice(inv.name, { remarks: `via ${nsp}` });
      const ev = await waitEvent(log, 'doc_update', (m) => m.name === inv.name);
      assert.equal(ev.msg.modified, saved.modified);
    });
  }

  test('namespace /other is refused with "Invalid namespace"', async () => {
    const socket = open('/other', { session: admin, transports: ['websocket'] });
    const err = await connectError(socket);
    assert.equal(err.message, 'Invalid namespace');
    assert.equal(socket.connected, false);
  });
});

describe('auth', () => {
  /** Opens invoice on socket and returns the users of the doc_viewers it is sent. */
  async function whoIs(socket, log) {
    const inv = await newInvoice();
    const from = log.length;
    assert.deepEqual(await ask(socket, 'doc_open', 'Invoice', inv.name), { ok: true });
    const ev = await waitEvent(log, 'doc_viewers', (m) => m.docname === inv.name, from);
    return ev.msg.users;
  }

  test('cookie session: the socket is that user', async () => {
    const socket = open('/', { session: acc, transports: ['websocket'] });
    const log = record(socket);
    await connected(socket);
    assert.deepEqual(await whoIs(socket, log), [acc.user]);
  });

  test('API token in the auth payload: the socket is that user', async () => {
    const socket = open('/', { auth: { token: `${accKeys.api_key}:${accKeys.api_secret}` }, transports: ['websocket'] });
    const log = record(socket);
    await connected(socket);
    assert.deepEqual(await whoIs(socket, log), [acc.user]);
  });

  test('a bad token is refused with connect_error', async () => {
    const socket = open('/', { auth: { token: `${accKeys.api_key}:wrong-secret` }, transports: ['websocket'] });
    const err = await connectError(socket);
    assert.ok(err.message, 'connect_error carries a message');
    assert.equal(socket.connected, false);
    const unknown = open('/', { auth: { token: 'no-such-key:no-such-secret' }, transports: ['polling'] });
    await connectError(unknown);
  });

  test('Guest connects, but doc_subscribe on an Invoice is denied: error ack and livedoc_error', async () => {
    const inv = await newInvoice();
    const socket = open('/', { transports: ['websocket'] });
    const log = record(socket);
    await connected(socket);
    const ack = await ask(socket, 'doc_subscribe', 'Invoice', inv.name);
    assert.equal(typeof ack.error, 'string', `expected an error ack, got ${JSON.stringify(ack)}`);
    assert.equal(ack.ok, undefined);
    const ev = await waitEvent(log, 'livedoc_error', (m) => m.event === 'doc_subscribe');
    assert.deepEqual(ev.msg.args, ['Invoice', inv.name]);
    assert.equal(ev.msg.error, ack.error);
  });
});

describe('origin', () => {
  test('a foreign browser Origin is refused (polling and websocket)', async () => {
    for (const transports of [['polling'], ['websocket']]) {
      const socket = open('/', {
        session: admin,
        transports,
        reconnection: false,
        extraHeaders: { Origin: 'http://evil.example' },
      });
      await connectError(socket);
      assert.equal(socket.connected, false, `${transports}: connected despite a foreign Origin`);
    }
  });

  test("the server's own Origin is accepted", async () => {
    const inv = await newInvoice();
    const socket = open('/', {
      session: admin,
      transports: ['polling'],
      reconnection: false,
      extraHeaders: { Origin: srv.url },
    });
    const log = record(socket);
    await connected(socket);
    assert.deepEqual(await ask(socket, 'doc_subscribe', 'Invoice', inv.name), { ok: true });
    await saveInvoice(inv.name, { remarks: 'same origin' });
    await waitEvent(log, 'doc_update', (m) => m.name === inv.name);
  });
});

describe('subscriptions', () => {
  test("another user's REST save: doc_update within 1 s, list_update names that user", async () => {
    const inv = await newInvoice(admin);
    const socket = open('/', { session: admin, transports: ['websocket'] });
    const log = record(socket);
    await connected(socket);
    assert.deepEqual(await ask(socket, 'doc_subscribe', 'Invoice', inv.name), { ok: true });
    assert.deepEqual(await ask(socket, 'doctype_subscribe', 'Invoice'), { ok: true });
    const t0 = performance.now();
    const saved = await saveInvoice(inv.name, { remarks: 'edited by the accounts user' }, acc);
    const ev = await waitEvent(log, 'doc_update', (m) => m.name === inv.name);
    const latency = ev.at - t0;
    assert.ok(latency < 1000, `doc_update took ${latency.toFixed(0)} ms`);
    assert.deepEqual(ev.msg, { doctype: 'Invoice', name: inv.name, modified: saved.modified });
    const list = await waitEvent(log, 'list_update', (m) => m.name === inv.name);
    assert.deepEqual(list.msg, { doctype: 'Invoice', name: inv.name, user: acc.user });
  });

  test('denied doc_subscribe (if_owner): error ack, livedoc_error, and no doc_update', async () => {
    const others = await newInvoice(admin);
    const own = await newInvoice(sales, [{ item: 'Sample', qty: 1, rate: 5 }]);
    const socket = open('/', { session: sales, transports: ['websocket'] });
    const log = record(socket);
    await connected(socket);
    const ack = await ask(socket, 'doc_subscribe', 'Invoice', others.name);
    assert.equal(typeof ack.error, 'string', `expected an error ack, got ${JSON.stringify(ack)}`);
    const err = await waitEvent(log, 'livedoc_error', (m) => m.event === 'doc_subscribe');
    assert.deepEqual(err.msg.args, ['Invoice', others.name]);
    assert.equal(err.msg.error, ack.error);
    assert.deepEqual(await ask(socket, 'doc_subscribe', 'Invoice', own.name), { ok: true });

    await saveInvoice(others.name, { remarks: 'not for the sales user' });
    await saveInvoice(own.name, { remarks: 'for the sales user' }, sales);
    await waitEvent(log, 'doc_update', (m) => m.name === own.name);
    assert.equal(log.filter(isDocUpdate(others.name)).length, 0, 'doc_update leaked to a denied subscriber');
  });

  test('doc_subscribe is reference counted per socket', async () => {
    const a = await newInvoice();
    const b = await newInvoice();
    const socket = open('/', { session: admin, transports: ['websocket'] });
    const log = record(socket);
    await connected(socket);
    assert.deepEqual(await ask(socket, 'doc_subscribe', 'Invoice', a.name), { ok: true });
    assert.deepEqual(await ask(socket, 'doc_subscribe', 'Invoice', a.name), { ok: true });
    assert.deepEqual(await ask(socket, 'doc_subscribe', 'Invoice', b.name), { ok: true });

    // one of two references dropped: still subscribed
    assert.deepEqual(await ask(socket, 'doc_unsubscribe', 'Invoice', a.name), { ok: true });
    const s1 = await saveInvoice(a.name, { remarks: 'one reference left' });
    const e1 = await waitEvent(log, 'doc_update', (m) => m.name === a.name && m.modified === s1.modified);
    assert.ok(e1);

    // the last reference dropped: no more doc_update for a (b's later event proves it)
    assert.deepEqual(await ask(socket, 'doc_unsubscribe', 'Invoice', a.name), { ok: true });
    const from = log.length;
    await saveInvoice(a.name, { remarks: 'no reference left' });
    await saveInvoice(b.name, { remarks: 'still subscribed' });
    await waitEvent(log, 'doc_update', (m) => m.name === b.name, from);
    assert.deepEqual(log.slice(from).filter(isDocUpdate(a.name)), [], 'doc_update after the last unsubscribe');
  });

  test("task_subscribe to an id the client made: its progress arrives, nobody else's", async () => {
    // Frappe's desk makes the task id, subscribes, then asks the server to start the work.
    const task = `client-task-${runId}`;
    const mine = open('/', { session: admin, transports: ['websocket'] });
    const other = open('/', { session: acc, transports: ['websocket'] });
    const mineLog = record(mine);
    const otherLog = record(other);
    await Promise.all([connected(mine), connected(other)]);
    assert.deepEqual(await ask(mine, 'task_subscribe', task), { ok: true });
    assert.deepEqual(await ask(other, 'task_subscribe', task), { ok: true });

    await ok(admin, 'POST', '/api/realtime/publish', { event: 'progress', message: { percent: 50 }, task_id: task });
    const got = await waitEvent(mineLog, 'progress', (m) => m.task_id === task);
    assert.equal(got.msg.percent, 50);
    // acc's marker is published after the progress: once it is here, the progress would be too.
    await ok(admin, 'POST', '/api/realtime/publish', { event: 'marker', message: {}, user: acc.user });
    await waitEvent(otherLog, 'marker');
    assert.deepEqual(otherLog.filter((e) => e.event === 'progress'), [], "another user's task progress");
  });
});

describe('hooks and methods', () => {
  test('a failing validate hook: HTTP 417 and no event; a later successful save does send', async () => {
    const inv = await newInvoice();
    const socket = open('/', { session: admin, transports: ['websocket'] });
    const log = record(socket);
    await connected(socket);
    assert.deepEqual(await ask(socket, 'doctype_subscribe', 'Invoice'), { ok: true });
    assert.deepEqual(await ask(socket, 'doc_subscribe', 'Invoice', inv.name), { ok: true });
    const from = log.length;

    // insert that fails in validate (after invoice_validated was published after-commit)
    const failedInsert = await rest(admin, 'POST', '/api/resource/Invoice', {
      customer,
      items: [{ item: 'Broken', qty: -1, rate: 10 }],
    });
    assert.equal(failedInsert.status, 417, JSON.stringify(failedInsert.body));
    assert.equal(failedInsert.body.exc_type, 'ValidationError');

    // save of the subscribed invoice that fails in validate
    const failedSave = await rest(admin, 'PUT', `/api/resource/Invoice/${encodeURIComponent(inv.name)}`, {
      items: [{ item: 'Broken', qty: -1, rate: 10 }],
    });
    assert.equal(failedSave.status, 417, JSON.stringify(failedSave.body));

    // a successful save: its events arrive, and they are the only ones since the subscription
    const saved = await saveInvoice(inv.name, { items: [{ item: 'Fixed', qty: 3, rate: 10 }] });
    assert.equal(saved.total, 30);
    const validated = await waitEvent(log, 'invoice_validated', (m) => m.name === inv.name, from);
    assert.deepEqual(validated.msg, { name: inv.name, total: 30 });
    await waitEvent(log, 'doc_update', (m) => m.name === inv.name && m.modified === saved.modified, from);
    await waitEvent(log, 'list_update', (m) => m.name === inv.name, from);
    const seen = log.slice(from).map((e) => [e.event, e.msg?.name]);
    assert.deepEqual(
      seen.sort(),
      [
        ['doc_update', inv.name],
        ['invoice_validated', inv.name],
        ['list_update', inv.name],
      ],
      'events of the rolled-back saves leaked',
    );
  });

  test('refresh_status publishes refresh_invoice to the all room', async () => {
    const inv = await newInvoice();
    const socket = open('/', { session: admin, transports: ['websocket'] });
    const log = record(socket);
    await connected(socket);
    const res = await ok(admin, 'POST', '/api/method/examples.status.refresh_status', {
      doc_type: 'Invoice',
      doc_name: inv.name,
    });
    assert.equal(res.doc_name, inv.name);
    const ev = await waitEvent(log, 'refresh_invoice', (m) => m.doc_name === inv.name);
    assert.deepEqual(ev.msg, { message: 'Invoice status refreshed!', doc_name: inv.name });
  });
});

describe('connection state recovery', () => {
  test('events missed while disconnected are replayed once, in order', async () => {
    const socket = open('/', { session: admin, transports: ['websocket'] });
    const log = record(socket);
    await connected(socket);
    assert.equal(socket.recovered, false);
    assert.equal(typeof socket._pid, 'string', 'the CONNECT answer has a pid');
    const pid = socket._pid;
    assert.deepEqual(await ask(socket, 'doctype_subscribe', 'Invoice'), { ok: true });
    const before = await newInvoice();
    await waitEvent(log, 'list_update', (m) => m.name === before.name);

    // cut the transport; hold the reconnect until the invoices exist
    socket.io.reconnection(false);
    const disconnected = new Promise((resolve) => socket.once('disconnect', resolve));
    socket.io.engine.close();
    await disconnected;
    const from = log.length;
    const missed = [];
    for (let i = 0; i < 50; i++) missed.push((await newInvoice(admin, [{ item: `Missed ${i}`, qty: 1, rate: 1 }])).name);
    assert.equal(log.length, from, 'events arrived while disconnected');

    socket.io.reconnection(true);
    socket.connect();
    await connected(socket);
    assert.equal(socket.recovered, true, 'the session was not recovered');
    assert.equal(socket._pid, pid);
    await waitFor(() => log.slice(from).filter((e) => e.event === 'list_update').length >= 50);

    // one more live event after the replay: it follows, and nothing else came in between
    const live = await newInvoice();
    await waitEvent(log, 'list_update', (m) => m.name === live.name, from);
    const got = log
      .slice(from)
      .filter((e) => e.event === 'list_update')
      .map((e) => e.msg.name);
    assert.deepEqual(got, [...missed, live.name]);
    const offsets = log.slice(from).filter((e) => e.event === 'list_update').map((e) => Number(e.offset));
    assert.deepEqual(offsets, [...offsets].sort((x, y) => x - y), 'offsets increase');
  });

  test('an unknown pid gets a fresh session: recovered false, rooms not restored', async () => {
    const socket = open('/', { session: admin, transports: ['websocket'] });
    const log = record(socket);
    await connected(socket);
    assert.deepEqual(await ask(socket, 'doctype_subscribe', 'Invoice'), { ok: true });
    const inv = await newInvoice();
    await waitEvent(log, 'list_update', (m) => m.name === inv.name);

    socket._pid = 'unknown';
    socket._lastOffset = '1';
    const reconnected = new Promise((resolve) => socket.once('disconnect', () => socket.once('connect', resolve)));
    socket.io.engine.close(); // reconnects by itself
    await reconnected;
    assert.equal(socket.recovered, false);
    assert.equal(typeof socket._pid, 'string');
    assert.notEqual(socket._pid, 'unknown');

    // doctype:Invoice was not restored: a new invoice's list_update does not come, while a later
    // save of a document subscribed afresh does
    const probe = await newInvoice();
    assert.deepEqual(await ask(socket, 'doc_subscribe', 'Invoice', probe.name), { ok: true });
    const from = log.length;
    const other = await newInvoice();
    await saveInvoice(probe.name, { remarks: 'probe' });
    await waitEvent(log, 'doc_update', (m) => m.name === probe.name, from);
    assert.deepEqual(
      log.slice(from).filter((e) => e.event === 'list_update'),
      [],
      `list_update for ${other.name} after a fresh session`,
    );
    // only the probe's own events (doc_update, and the hook's invoice_validated to doc:) came
    assert.deepEqual(
      log.slice(from).filter((e) => e.msg?.name !== probe.name).map((e) => [e.event, e.msg]),
      [],
    );
  });
});

describe('presence', () => {
  test('doc_viewers on open, second tab, close and disconnect', async () => {
    const inv = await newInvoice();
    const both = [acc.user, 'Administrator'].sort();
    const viewers = (log, from, users) =>
      waitEvent(
        log,
        'doc_viewers',
        (m) => m.doctype === 'Invoice' && m.docname === inv.name && JSON.stringify(m.users) === JSON.stringify(users),
        from,
      );

    const a1 = open('/', { session: admin, transports: ['websocket'] });
    const b = open('/', { session: acc, transports: ['websocket'] });
    const a2 = open('/', { session: admin, transports: ['websocket'] });
    const [la1, lb, la2] = [record(a1), record(b), record(a2)];
    await Promise.all([connected(a1), connected(b), connected(a2)]);

    assert.deepEqual(await ask(a1, 'doc_open', 'Invoice', inv.name), { ok: true });
    await viewers(la1, 0, ['Administrator']);
    let mark = [la1.length, lb.length];
    assert.deepEqual(await ask(b, 'doc_open', 'Invoice', inv.name), { ok: true });
    await viewers(la1, mark[0], both);
    await viewers(lb, mark[1], both);

    // A's second tab: still two distinct users
    mark = [la1.length, lb.length, la2.length];
    assert.deepEqual(await ask(a2, 'doc_open', 'Invoice', inv.name), { ok: true });
    await viewers(la1, mark[0], both);
    await viewers(lb, mark[1], both);
    await viewers(la2, mark[2], both);

    // B closes the form
    mark = [la1.length, la2.length];
    assert.deepEqual(await ask(b, 'doc_close', 'Invoice', inv.name), { ok: true });
    await viewers(la1, mark[0], ['Administrator']);
    await viewers(la2, mark[1], ['Administrator']);

    // B opens it again, then its socket goes away
    mark = [la1.length];
    assert.deepEqual(await ask(b, 'doc_open', 'Invoice', inv.name), { ok: true });
    await viewers(la1, mark[0], both);
    mark = [la1.length];
    b.disconnect();
    await viewers(la1, mark[0], ['Administrator']);

    // every doc_viewers A got lists each user at most once
    for (const e of la1.filter((e) => e.event === 'doc_viewers')) {
      assert.equal(new Set(e.msg.users).size, e.msg.users.length, JSON.stringify(e.msg.users));
    }
  });
});

test('ping is answered by pong', async () => {
  const socket = open('/', { session: admin, transports: ['websocket'] });
  const log = record(socket);
  await connected(socket);
  socket.emit('ping');
  const ev = await waitEvent(log, 'pong');
  assert.match(ev.offset, /^\d+$/);
  assert.deepEqual(await ask(socket, 'ping'), { ok: true });
});
