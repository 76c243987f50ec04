// livedoc.js against the real livedoc binary serving the sample invoice app: token auth, REST
// (ld.db, ld.call), realtime over both transports, a denied subscribe, installFrappe, and
// offset-based recovery. Build the binary first: (cd ../.. && go build -o bin/livedoc ./cmd/livedoc)
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Livedoc, LivedocError, installFrappe } from '../livedoc.js';
import { apiKeysFor, login, startLivedoc } from '../../../tests/js/lib/server.mjs';
import { WAIT_MS, nextEvent, record, requireTests, waitFor, within } from './helpers.mjs';

const WS = requireTests('ws');

let srv;
let token; // "key:secret" of Administrator
let customer;
const clients = [];
const runId = Date.now().toString(36);
let seq = 0;
const uniq = (prefix) => `${prefix} ${runId}-${++seq}`;

function client(opts = {}) {
  const ld = new Livedoc({ url: srv.url, site: 'livedoc', token, WebSocket: WS, timeout: WAIT_MS, ...opts });
  clients.push(ld);
  return ld;
}

async function connected(ld) {
  if (!ld.realtime.connected) await nextEvent(ld.realtime, 'connect');
  return ld;
}

function newInvoice(ld, remarks = '') {
  return ld.db.insert({ doctype: 'Invoice', customer, remarks, items: [{ item: 'Widget', qty: 2, rate: 10 }] });
}

before(async () => {
  srv = await startLivedoc();
  const admin = await login(srv.url, 'Administrator', srv.adminPassword);
  const keys = await apiKeysFor(srv.url, admin, 'Administrator');
  token = `${keys.api_key}:${keys.api_secret}`;
  const ld = client({ connect: false });
  customer = (await ld.db.insert({ doctype: 'Customer', customer_name: uniq('Customer') })).name;
});

after(async () => {
  for (const ld of clients) ld.realtime.disconnect();
  await srv?.stop();
});

describe('REST', () => {
  test('ld.db and ld.call with token auth', async () => {
    const ld = client({ connect: false });
    assert.equal(await ld.call('ping'), 'pong');
    assert.equal(await ld.getLoggedUser(), 'Administrator');
    const inv = await newInvoice(ld, 'rest');
    assert.equal(inv.doctype, 'Invoice');
    assert.equal(inv.customer, customer);
    const got = await ld.db.get('Invoice', inv.name);
    assert.equal(got.name, inv.name);
    assert.equal(got.total, 20);
    const rows = await ld.db.list('Invoice', { fields: ['name', 'remarks'], filters: { name: inv.name }, limit_page_length: 5 });
    assert.deepEqual(rows, [{ name: inv.name, remarks: 'rest' }]);
    assert.equal(await ld.db.count('Invoice', { name: inv.name }), 1);
    const saved = await ld.db.save({ ...got, remarks: 'saved' });
    assert.equal(saved.remarks, 'saved');
    assert.notEqual(saved.modified, got.modified);
  });

  test('errors carry status, excType and the server message', async () => {
    const ld = client({ connect: false });
    const inv = await newInvoice(ld);
    await ld.db.save({ ...inv, remarks: 'first' });
    // a save based on the old `modified` is refused
    await assert.rejects(ld.db.save({ ...inv, remarks: 'stale' }), (err) => {
      assert.ok(err instanceof LivedocError);
      assert.equal(err.status, 417);
      assert.equal(err.excType, 'TimestampMismatchError');
      assert.ok(err.message.length > 0 && !err.message.startsWith('HTTP'), err.message);
      return true;
    });
    await assert.rejects(ld.db.get('Invoice', 'no-such-invoice'), (err) => err.status === 404 && err.excType === 'DoesNotExistError');
    await assert.rejects(ld.call('no.such.method'), (err) => err.status === 404 && /no\.such\.method/.test(err.message));
    const guest = client({ connect: false, token: undefined });
    await assert.rejects(guest.db.insert({ doctype: 'Invoice', customer }), (err) => err.status === 403 && err.excType === 'PermissionError');
  });
});

describe('realtime', () => {
  for (const transports of [['websocket'], ['polling']]) {
    test(`doc_subscribe, then a save through ld.db.save brings doc_update (${transports})`, async () => {
      const ld = client({ transports });
      const log = record(ld.realtime);
      await connected(ld);
      assert.equal(ld.realtime.transport, transports[0]);
      const inv = await newInvoice(ld);
      assert.deepEqual(await within(ld.realtime.doc_subscribe('Invoice', inv.name)), { ok: true });
      const update = nextEvent(ld.realtime, 'doc_update', (m) => m?.name === inv.name);
      const saved = await ld.db.save({ ...inv, remarks: `via ${transports}` });
      const [msg, ...rest] = await update;
      assert.deepEqual(msg, { doctype: 'Invoice', name: inv.name, modified: saved.modified });
      assert.deepEqual(rest, [], 'the offset is not passed to listeners');
      assert.match(ld.realtime.lastOffset, /^\d+$/);
      assert.ok(log.some((e) => e.event === 'doc_update'));
    });
  }

  test('a denied subscribe rejects with the server message (Guest on an Invoice)', async () => {
    const admin = client({ connect: false });
    const inv = await newInvoice(admin);
    const guest = client({ token: undefined, transports: ['polling'] });
    await connected(guest);
    const livedocError = nextEvent(guest.realtime, 'livedoc_error', (m) => m?.event === 'doc_subscribe');
    const err = await within(guest.realtime.doc_subscribe('Invoice', inv.name)).then(
      () => assert.fail('subscribe was not denied'),
      (e) => e,
    );
    assert.ok(err instanceof Error);
    assert.ok(err.message.length > 0);
    const [ev] = await livedocError;
    assert.equal(ev.error, err.message);
    assert.deepEqual(ev.args, ['Invoice', inv.name]);
    assert.deepEqual(guest.realtime.subscriptions(), []);
  });

  test('call(examples.status.refresh_status) brings refresh_invoice', async () => {
    const ld = client();
    await connected(ld);
    const inv = await newInvoice(ld);
    const event = nextEvent(ld.realtime, 'refresh_invoice', (m) => m?.doc_name === inv.name);
    const res = await ld.call('examples.status.refresh_status', { doc_type: 'Invoice', doc_name: inv.name });
    assert.equal(res.doc_name, inv.name);
    const [msg, ...rest] = await event;
    assert.deepEqual(msg, { message: 'Invoice status refreshed!', doc_name: inv.name });
    assert.deepEqual(rest, []);
  });

  test('recovery: events published while the transport is dead are replayed from the offset', async () => {
    // a fixed reconnection delay leaves time to publish while disconnected
    const ld = client({ transports: ['websocket'], backoff: { min: 1500, max: 1500, jitter: 0 } });
    const rt = ld.realtime;
    const log = record(rt);
    let resyncs = 0;
    rt.on('resync', () => resyncs++);
    await connected(ld);
    const pid = rt.pid;
    assert.equal(typeof pid, 'string');
    assert.deepEqual(await within(rt.doctype_subscribe('Invoice')), { ok: true });
    const first = await newInvoice(ld, 'before');
    await waitFor(() => log.some((e) => e.event === 'list_update' && e.args[0].name === first.name));
    const offset = rt.lastOffset;

    const disconnected = nextEvent(rt, 'disconnect');
    rt._dropTransport();
    assert.deepEqual((await disconnected)[0], { reason: 'transport close' });
    const from = log.length;
    const missed = [];
    for (let i = 0; i < 3; i++) missed.push((await newInvoice(ld, `missed ${i}`)).name);
    assert.equal(rt.connected, false, 'reconnected before the events were published');
    assert.equal(log.length, from, 'events arrived while disconnected');

    const [{ recovered }] = await nextEvent(rt, 'connect', () => true, WAIT_MS);
    assert.equal(recovered, true);
    assert.equal(rt.pid, pid);
    await waitFor(() => missed.every((n) => log.some((e) => e.event === 'list_update' && e.args[0].name === n)));
    const live = await newInvoice(ld, 'live');
    await waitFor(() => log.some((e) => e.event === 'list_update' && e.args[0].name === live.name));
    const got = log
      .slice(from)
      .filter((e) => e.event === 'list_update')
      .map((e) => e.args[0].name);
    assert.deepEqual(got, [...missed, live.name], 'each missed event once, in order, then the live one');
    assert.ok(Number(rt.lastOffset) > Number(offset));
    assert.equal(resyncs, 0);
  });
});

describe('installFrappe', () => {
  test('frappe.call both styles, frappe.realtime, frappe.session.user, frappe.ui.form', async () => {
    const ld = client();
    const win = {};
    const frappe = installFrappe(ld, win);
    assert.equal(win.frappe, frappe);
    assert.equal(await within(frappe.session.ready), 'Administrator');
    assert.equal(frappe.session.user, 'Administrator');
    await connected(ld);
    const inv = await newInvoice(ld);

    const heard = new Promise((resolve) => frappe.realtime.on('refresh_invoice', (data) => data.doc_name === inv.name && resolve(data)));
    const viaCallback = new Promise((resolve, reject) => {
      frappe.call({
        method: 'examples.status.refresh_status',
        args: { doc_type: 'Invoice', doc_name: inv.name },
        callback: resolve,
        error: reject,
      });
    });
    const r = await within(viaCallback);
    assert.equal(r.message.doc_name, inv.name);
    assert.deepEqual(await within(heard), { message: 'Invoice status refreshed!', doc_name: inv.name });

    const r2 = await frappe.call('examples.status.refresh_status', { doc_type: 'Invoice', doc_name: inv.name });
    assert.equal(r2.message.doc_name, inv.name);

    // errors: the error callback gets Frappe's body, the promise rejects, msgprint shows it
    const shown = [];
    frappe.msgprint = (m) => shown.push(m);
    let errBody;
    await assert.rejects(
      frappe.call({ method: 'examples.status.refresh_status', args: { doc_type: 'Invoice', doc_name: 'nope' }, error: (b) => (errBody = b) }),
      (err) => err.status === 404,
    );
    assert.equal(errBody.exc_type, 'DoesNotExistError');
    assert.equal(shown.length, 1);

    // realtime subscriptions go through ld's refcounting
    assert.deepEqual(await within(frappe.realtime.doc_subscribe('Invoice', inv.name)), { ok: true });
    assert.deepEqual(ld.realtime.subscriptions(), [{ event: 'doc_subscribe', args: ['Invoice', inv.name], count: 1 }]);

    // form handlers are registered for the desk, which triggers them
    const calls = [];
    frappe.ui.form.on('Invoice', { refresh: (frm) => calls.push(['refresh', frm.docname]) });
    frappe.ui.form.on('Invoice', 'validate', () => false);
    assert.equal(frappe.ui.form.handlers.Invoice.length, 2);
    assert.equal(await frappe.ui.form.trigger({ doctype: 'Invoice', docname: inv.name }, 'refresh'), true);
    assert.deepEqual(calls, [['refresh', inv.name]]);
    assert.equal(await frappe.ui.form.trigger({ doctype: 'Invoice', docname: inv.name }, 'validate'), false);
  });
});

describe('live documents', () => {
  /**
   * A new invoice followed with ld.live.doc once its snapshot is in: seen holds each version,
   * reads each ld.db.get call (orig is the unwrapped get).
   */
  async function watchNewInvoice(remarks) {
    const ld = await connected(client());
    const inv = await newInvoice(ld, remarks);
    const reads = [];
    const orig = ld.db.get;
    ld.db.get = (...a) => (reads.push(a), orig(...a));
    const seen = [];
    const stop = ld.live.doc('Invoice', inv.name, (d) => seen.push(d));
    await waitFor(() => seen.length === 1, WAIT_MS, 'the snapshot');
    return { ld, inv, reads, orig, seen, stop };
  }

  test('ld.live.doc: the snapshot, then each change patched in with no read', async () => {
    const { ld, inv, reads, orig, seen, stop } = await watchNewInvoice('first');
    assert.equal(seen[0].remarks, 'first');
    const writer = client({ connect: false });
    await writer.db.save({ doctype: 'Invoice', name: inv.name, remarks: 'second' });
    await waitFor(() => seen.length === 2, WAIT_MS, 'the change');
    assert.equal(seen[1].remarks, 'second');
    assert.equal(seen[1].total, 20, 'the rest of the copy stays');
    assert.equal(seen[1].modified, (await orig('Invoice', inv.name)).modified);
    assert.deepEqual(reads, [], 'no GET: the change came with what changed');
    stop();
    await writer.db.save({ doctype: 'Invoice', name: inv.name, remarks: 'third' });
    await writer.db.save({ doctype: 'Invoice', name: inv.name, remarks: 'fourth' });
    // A live document stopped gets nothing more: a second watcher sees the fourth, the first not.
    const again = [];
    const stop2 = ld.live.doc('Invoice', inv.name, (d) => again.push(d));
    await waitFor(() => again.length === 1, WAIT_MS, 'a second snapshot');
    assert.equal(again[0].remarks, 'fourth');
    assert.equal(seen.length, 2);
    stop2();
  });
  test('ld.live.doc: the app\'s own save costs no read, even one too big to say what changed', async () => {
    const { ld, inv, reads, seen, stop } = await watchNewInvoice('mine');
    const echo = nextEvent(ld.realtime, 'doc_update', (m) => m?.name === inv.name);
    const saving = ld.db.save({ doctype: 'Invoice', name: inv.name, remarks: 'x'.repeat(40_000) });
    stop.saved(saving); // its doc_update may come before the answer: it waits for it
    const saved = await saving;
    const [m] = await echo;
    assert.equal(m.changed, undefined, 'a 40 KB change comes without `changed`');
    assert.equal(m.modified, saved.modified);
    // Someone else's change applies to the saved version: patched, and still nothing read.
    const writer = client({ connect: false });
    await writer.db.save({ doctype: 'Invoice', name: inv.name, remarks: 'theirs' });
    await waitFor(() => seen.length === 2, WAIT_MS, 'their change');
    assert.equal(seen[1].remarks, 'theirs');
    assert.deepEqual(reads, [], 'no GET: the save answered with the new version');
    stop();
  });

  test('ld.live.doc: a document that cannot be read reaches onError', async () => {
    const ld = await connected(client());
    const err = await within(new Promise((resolve) => ld.live.doc('Invoice', 'INV-NOPE-1', () => {}, resolve)), WAIT_MS, 'onError');
    assert.equal(err.status, 404);
  });
});

describe('live lists', () => {
  test('ld.live.list: the snapshot, then rows that enter, move and leave, with no read', async () => {
    const ld = await connected(client());
    const tag = uniq('list').replace(/\s/g, '-');
    const writer = client({ connect: false });
    const a = await newInvoice(writer, `${tag} b`);
    const query = {
      doctype: 'Invoice',
      fields: ['name', 'remarks'],
      filters: [['remarks', 'like', `${tag}%`]],
      order_by: 'remarks asc',
    };
    const reads = [];
    const orig = ld.request.bind(ld);
    ld.request = (...args) => (reads.push(args), orig(...args));
    const seen = [];
    const stop = ld.live.list(query, (rows) => seen.push(rows));
    await waitFor(() => seen.length === 1, WAIT_MS, 'the snapshot');
    assert.deepEqual(seen[0], [{ name: a.name, remarks: `${tag} b` }]);
    const remarks = () => seen[seen.length - 1].map((r) => r.remarks);
    const b = await newInvoice(writer, `${tag} a`);
    await waitFor(() => remarks().length === 2, WAIT_MS, 'an insert');
    assert.deepEqual(remarks(), [`${tag} a`, `${tag} b`]);
    await writer.db.save({ doctype: 'Invoice', name: b.name, remarks: `${tag} c` });
    await waitFor(() => remarks()[0] === `${tag} b`, WAIT_MS, 'a move');
    assert.deepEqual(remarks(), [`${tag} b`, `${tag} c`]);
    await writer.db.save({ doctype: 'Invoice', name: a.name, remarks: `gone ${tag}` });
    await waitFor(() => remarks().length === 1, WAIT_MS, 'a row that leaves');
    assert.deepEqual(remarks(), [`${tag} c`]);
    assert.deepEqual(reads, [], 'no read: the changes came with the rows');
    const fresh = await writer.db.list('Invoice', { ...query, limit: 20 });
    assert.deepEqual(seen[seen.length - 1], fresh);
    stop();
    const count = seen.length;
    await newInvoice(writer, `${tag} d`);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(seen.length, count, 'nothing after stop()');
  });

  test('ld.live.list: a recovered reconnection resumes the list with the changes missed, in order', async () => {
    // a fixed reconnection delay leaves time to change rows while disconnected
    const ld = await connected(client({ transports: ['websocket'], backoff: { min: 1500, max: 1500, jitter: 0 } }));
    const rt = ld.realtime;
    const tag = uniq('resume').replace(/\s/g, '-');
    const writer = client({ connect: false });
    const a = await newInvoice(writer, `${tag} b`);
    const query = { doctype: 'Invoice', fields: ['name', 'remarks'], filters: [['remarks', 'like', `${tag}%`]], order_by: 'remarks asc' };
    const subscribes = []; // [args, ack] of each list_subscribe
    const send = rt._send.bind(rt);
    rt._send = (event, args, cb) =>
      send(event, args, (err, ackArgs) => {
        if (event === 'list_subscribe') subscribes.push([args[0], ackArgs?.[0]]);
        cb(err, ackArgs);
      });
    const reads = [];
    const orig = ld.request.bind(ld);
    ld.request = (...args) => (reads.push(args), orig(...args));
    const seen = [];
    ld.live.list(query, (rows) => seen.push(rows));
    await waitFor(() => seen.length === 1, WAIT_MS, 'the snapshot');
    const remarks = () => seen[seen.length - 1].map((r) => r.remarks);
    await newInvoice(writer, `${tag} a`);
    await waitFor(() => remarks().length === 2, WAIT_MS, 'an insert');

    const connections = async () => {
      const res = await fetch(`${srv.url}/metrics`, { headers: { Authorization: `token ${token}` } });
      return Number(/^livedoc_realtime_connections (\S+)$/m.exec(await res.text())[1]);
    };
    const open = await connections();
    const disconnected = nextEvent(rt, 'disconnect');
    rt._dropTransport();
    await disconnected;
    await waitFor(async () => (await connections()) < open, WAIT_MS, 'the server sees the socket go');
    const shown = seen.length;
    const c = await newInvoice(writer, `${tag} c`); // enters at the end
    await writer.db.save({ doctype: 'Invoice', name: a.name, remarks: `${tag} d` }); // moves after c
    assert.equal(rt.connected, false, 'reconnected before the rows changed');
    assert.equal(seen.length, shown, 'changes arrived while disconnected');

    const [{ recovered }] = await nextEvent(rt, 'connect', () => true, WAIT_MS);
    assert.equal(recovered, true);
    await waitFor(() => remarks().length === 3 && remarks()[2] === `${tag} d`, WAIT_MS, 'the changes missed');
    assert.deepEqual(remarks(), [`${tag} a`, `${tag} c`, `${tag} d`]);
    assert.equal(seen.length, shown + 2, 'one call per change missed, no snapshot');
    assert.equal(subscribes.length, 2);
    const [[, first], [resume, ack]] = subscribes;
    assert.equal(resume.resume, first.id);
    assert.equal(resume.received, 1);
    assert.deepEqual(ack, { ok: true, id: first.id, resumed: true });
    assert.deepEqual(seen[seen.length - 1], await writer.db.list('Invoice', { ...query, limit: 20 }));
    await writer.db.save({ doctype: 'Invoice', name: c.name, remarks: `${tag} e` }); // and it goes on live
    await waitFor(() => remarks()[2] === `${tag} e`, WAIT_MS, 'a live change after the resume');
    assert.deepEqual(reads, [], 'no read');
  });

  test('ld.live.list: a refused query reaches onError', async () => {
    const ld = await connected(client());
    const err = await new Promise((resolve) => ld.live.list({ doctype: 'Invoice', fields: ['nope'] }, () => {}, resolve));
    assert.match(err.message, /nope/);
  });
});
