// Pure unit tests: codec, backoff, error parsing, and the socket logic (refcounting, offsets,
// recovery auth, resync) against an in-memory fake server behind an injected WebSocket.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import {
  Livedoc,
  LivedocError,
  backoffDelay,
  decodePacket,
  decodePayload,
  encodePacket,
  encodePayload,
  installFrappe,
  parseError,
  parseServerMessages,
} from '../livedoc.js';
import { nextEvent, waitFor, within } from './helpers.mjs';

describe('codec', () => {
  test('encodePacket', () => {
    assert.equal(encodePacket({ type: 0, nsp: '/' }), '0');
    assert.equal(encodePacket({ type: 0, nsp: '/livedoc', data: { token: 'a:b' } }), '0/livedoc,{"token":"a:b"}');
    assert.equal(encodePacket({ type: 0, nsp: '/livedoc' }), '0/livedoc,');
    assert.equal(encodePacket({ type: 2, nsp: '/', id: 7, data: ['ev', 1, 'x'] }), '27["ev",1,"x"]');
    assert.equal(encodePacket({ type: 2, nsp: '/s', id: 0, data: ['ev'] }), '2/s,0["ev"]');
    assert.equal(encodePacket({ type: 3, nsp: '/s', id: 12, data: [{ ok: true }] }), '3/s,12[{"ok":true}]');
    assert.equal(encodePacket({ type: 1, nsp: '/s' }), '1/s,');
  });

  test('decodePacket', () => {
    assert.deepEqual(decodePacket('0{"sid":"a","pid":"p"}'), { type: 0, nsp: '/', id: undefined, data: { sid: 'a', pid: 'p' } });
    assert.deepEqual(decodePacket('0/livedoc,{"sid":"a"}'), { type: 0, nsp: '/livedoc', id: undefined, data: { sid: 'a' } });
    assert.deepEqual(decodePacket('2/livedoc,["doc_update",{"name":"x"},"12"]'), {
      type: 2,
      nsp: '/livedoc',
      id: undefined,
      data: ['doc_update', { name: 'x' }, '12'],
    });
    assert.deepEqual(decodePacket('2/x,15["q",1]'), { type: 2, nsp: '/x', id: 15, data: ['q', 1] });
    assert.deepEqual(decodePacket('33[{"ok":true}]'), { type: 3, nsp: '/', id: 3, data: [{ ok: true }] });
    assert.deepEqual(decodePacket('4/x,{"message":"nope"}'), { type: 4, nsp: '/x', id: undefined, data: { message: 'nope' } });
    assert.deepEqual(decodePacket('1/x,'), { type: 1, nsp: '/x', id: undefined, data: undefined });
    assert.deepEqual(decodePacket('1/x'), { type: 1, nsp: '/x', id: undefined, data: undefined });
    for (const bad of ['', '9', '2[]', '2[1]', '2{"a":1}', '3["x"]', '0[1]', '51-["x",{"_placeholder":true,"num":0}]', '2' + '1'.repeat(16) + '["x"]', '2["x"']) {
      assert.throws(() => decodePacket(bad), Error, JSON.stringify(bad));
    }
  });

  test('long-polling payloads', () => {
    assert.equal(encodePayload(['2', '42["a"]']), '2\x1e42["a"]');
    assert.deepEqual(decodePayload('0{"sid":"s"}\x1e40'), ['0{"sid":"s"}', '40']);
    assert.deepEqual(decodePayload('6'), ['6']);
    assert.throws(() => decodePayload('2\x1e\x1e3'));
    assert.throws(() => decodePayload(''));
  });
});

describe('backoff', () => {
  test('0.5 s doubling to 10 s, ±50%, never above 10 s', () => {
    assert.equal(backoffDelay(1, undefined, () => 0), 250);
    assert.equal(backoffDelay(1, undefined, () => 0.5), 500);
    assert.equal(backoffDelay(1, undefined, () => 1), 750);
    assert.equal(backoffDelay(2, undefined, () => 0.5), 1000);
    assert.equal(backoffDelay(5, undefined, () => 0.5), 8000);
    assert.equal(backoffDelay(5, undefined, () => 1), 10_000); // 12 s capped
    assert.equal(backoffDelay(6, undefined, () => 0), 5000);
    assert.equal(backoffDelay(1000, undefined, () => 0.5), 10_000);
    for (let attempt = 1; attempt <= 40; attempt++) {
      const base = Math.min(10_000, 500 * 2 ** (attempt - 1));
      for (let i = 0; i < 50; i++) {
        const d = backoffDelay(attempt);
        assert.ok(d >= base / 2 && d <= Math.min(10_000, base * 1.5), `attempt ${attempt}: ${d}`);
      }
    }
  });
});

describe('errors', () => {
  test('parseError reads _server_messages, exc_type and status', () => {
    const body = {
      exc_type: 'ValidationError',
      exception: 'frappe.exceptions.ValidationError: Row 1: quantity cannot be negative',
      _server_messages: JSON.stringify([JSON.stringify({ message: 'Row 1: quantity cannot be negative', indicator: 'red' })]),
    };
    const err = parseError(417, body);
    assert.ok(err instanceof LivedocError && err instanceof Error);
    assert.equal(err.status, 417);
    assert.equal(err.excType, 'ValidationError');
    assert.equal(err.message, 'Row 1: quantity cannot be negative');
    assert.deepEqual(err.serverMessages, [{ message: 'Row 1: quantity cannot be negative', indicator: 'red' }]);
    assert.equal(err.response, body);
  });

  test('parseError fallbacks: exception text, plain strings, HTML bodies', () => {
    assert.equal(parseError(500, { exception: 'frappe.exceptions.X: boom' }).message, 'boom');
    assert.equal(parseError(500, { exception: 'frappe.exceptions.X: boom' }).excType, 'X');
    assert.equal(parseError(403, { _server_messages: '["plain text"]' }).message, 'plain text');
    assert.equal(parseError(502, '<html>Bad Gateway</html>').message, '<html>Bad Gateway</html>');
    assert.equal(parseError(404, {}).message, 'HTTP 404');
    assert.deepEqual(parseServerMessages(JSON.stringify([JSON.stringify({ message: 'a' }), JSON.stringify({ message: 'b' })])), [
      { message: 'a' },
      { message: 'b' },
    ]);
    assert.deepEqual(parseServerMessages(undefined), []);
  });
});

// ---------------------------------------------------------------------------------------------
// A fake Socket.IO server behind an injected WebSocket class.

function fakeServer({ recover = true, pingInterval = 25000, pingTimeout = 20000 } = {}) {
  const srv = {
    sockets: [], // FakeWS
    connects: [], // auth payloads of CONNECT
    events: [], // [event, ...args] received
    pids: new Set(),
    deny: new Set(), // DocTypes whose subscriptions are denied
    recover,
    pidSeq: 0,
  };
  class FakeWS {
    constructor(url) {
      this.url = url;
      this.closed = false;
      srv.sockets.push(this);
      setTimeout(() => this._in('0' + JSON.stringify({ sid: 'e' + srv.sockets.length, upgrades: [], pingInterval, pingTimeout, maxPayload: 1e6 })));
    }
    _in(data) {
      if (!this.closed) this.onmessage?.({ data });
    }
    send(data) {
      if (this.closed) throw new Error('closed');
      srv.onPacket(this, data);
    }
    close() {
      this.closed = true;
    }
    kill() {
      this.closed = true;
      this.onclose?.({ code: 1006 });
    }
  }
  srv.WebSocket = FakeWS;
  srv.current = () => srv.sockets.at(-1);
  srv.onPacket = (ws, data) => {
    if (data[0] !== '4') return;
    const p = decodePacket(data.slice(1));
    if (p.type === 0) {
      const auth = p.data ?? {};
      srv.connects.push(auth);
      let pid = null;
      if (srv.recover) {
        pid = auth.pid && srv.pids.has(auth.pid) ? auth.pid : 'pid' + ++srv.pidSeq;
        srv.pids.add(pid);
      }
      setTimeout(() => ws._in('4' + encodePacket({ type: 0, nsp: p.nsp, data: pid ? { sid: 's' + srv.connects.length, pid } : { sid: 's' } })));
    } else if (p.type === 2) {
      srv.events.push(p.data);
      if (p.id !== undefined) {
        const [event, ...args] = p.data;
        const ack = event.endsWith('subscribe') && !event.endsWith('unsubscribe') && srv.deny.has(args[0]) ? { error: `No permission for ${args[0]}` } : { ok: true };
        setTimeout(() => ws._in('4' + encodePacket({ type: 3, nsp: p.nsp, id: p.id, data: [ack] })));
      }
    }
  };
  srv.push = (event, ...args) => srv.current()._in('4' + encodePacket({ type: 2, nsp: '/livedoc', data: [event, ...args] }));
  srv.subs = () => srv.events.filter((e) => /subscribe|doc_open|doc_close/.test(e[0]));
  return srv;
}

const fakeClients = [];
after(() => {
  for (const ld of fakeClients) ld.realtime.disconnect();
});

function fakeClient(srv, opts = {}) {
  return track(new Livedoc({
    url: 'http://fake',
    site: 'livedoc',
    WebSocket: srv.WebSocket,
    fetch: () => Promise.reject(new Error('no REST in this test')),
    transports: ['websocket'],
    backoff: { min: 5, max: 20, jitter: 0.5 },
    ...opts,
  }));
}

function track(ld) {
  fakeClients.push(ld);
  return ld;
}

describe('socket logic (fake server)', () => {
  test('refcounting: subscribe sends on 0→1, unsubscribe on 1→0', async () => {
    const srv = fakeServer();
    const ld = fakeClient(srv);
    const rt = ld.realtime;
    await nextEvent(rt, 'connect');
    assert.deepEqual(await within(rt.doc_subscribe('Invoice', 'A')), { ok: true });
    assert.deepEqual(await within(rt.doc_subscribe('Invoice', 'A')), { ok: true });
    assert.deepEqual(await within(rt.doc_open('Invoice', 'A')), { ok: true });
    assert.deepEqual(srv.subs(), [
      ['doc_subscribe', 'Invoice', 'A'],
      ['doc_open', 'Invoice', 'A'],
    ]);
    assert.deepEqual(await rt.doc_unsubscribe('Invoice', 'A'), { ok: true });
    assert.equal(srv.subs().length, 2, 'unsubscribe sent while a reference is left');
    assert.deepEqual(await within(rt.doc_unsubscribe('Invoice', 'A')), { ok: true });
    assert.deepEqual(srv.subs().at(-1), ['doc_unsubscribe', 'Invoice', 'A']);
    assert.deepEqual(await within(rt.doc_close('Invoice', 'A')), { ok: true });
    assert.deepEqual(srv.subs().at(-1), ['doc_close', 'Invoice', 'A']);
    assert.deepEqual(await rt.doc_unsubscribe('Invoice', 'A'), { ok: true }); // one too many: nothing sent
    assert.equal(srv.subs().length, 4);
    // concurrent subscribes share one request
    const both = await within(Promise.all([rt.task_subscribe('t1'), rt.task_subscribe('t1')]));
    assert.deepEqual(both, [{ ok: true }, { ok: true }]);
    assert.equal(srv.subs().filter((e) => e[0] === 'task_subscribe').length, 1);
    rt.disconnect();
  });

  test('denied subscribes reject every caller and are forgotten', async () => {
    const srv = fakeServer();
    srv.deny.add('Secret');
    const ld = fakeClient(srv);
    const rt = ld.realtime;
    await nextEvent(rt, 'connect');
    const results = await Promise.allSettled([rt.doctype_subscribe('Secret'), rt.doctype_subscribe('Secret')]);
    assert.deepEqual(
      results.map((r) => r.status + ':' + (r.reason?.message ?? '')),
      ['rejected:No permission for Secret', 'rejected:No permission for Secret'],
    );
    assert.deepEqual(rt.subscriptions(), []);
    // a later subscribe asks again
    await assert.rejects(within(rt.doctype_subscribe('Secret')));
    assert.equal(srv.subs().length, 2);
    rt.disconnect();
  });

  test('offsets: recorded from the last string argument, stripped from listeners, sent on reconnect', async () => {
    const srv = fakeServer();
    const ld = fakeClient(srv, { token: 'key:secret' });
    const rt = ld.realtime;
    await nextEvent(rt, 'connect');
    assert.deepEqual(srv.connects[0], { token: 'key:secret' });
    assert.equal(rt.pid, 'pid1');
    const got = [];
    rt.on('doc_update', (...args) => got.push(args));
    rt.on('q', (...args) => got.push(args));
    srv.push('doc_update', { name: 'A' }, '17');
    srv.push('doc_update', { name: 'B' }, 'text', '18');
    srv.push('doc_update', { name: 'C' }); // no offset: nothing stripped
    assert.deepEqual(got, [[{ name: 'A' }], [{ name: 'B' }, 'text'], [{ name: 'C' }]]);
    assert.equal(rt.lastOffset, '18');
    // an event asking for an ack carries no offset: its last string stays, an ack fn is added
    srv.current()._in('4' + encodePacket({ type: 2, nsp: '/livedoc', id: 4, data: ['q', 'keep'] }));
    assert.equal(got.length, 4);
    assert.equal(got[3][0], 'keep');
    assert.equal(typeof got[3][1], 'function');
    assert.equal(rt.lastOffset, '18');

    // reconnection: CONNECT carries pid and offset, auth keys kept
    const reconnected = nextEvent(rt, 'connect');
    srv.current().kill();
    const [{ recovered }] = await reconnected;
    assert.equal(recovered, true);
    assert.deepEqual(srv.connects[1], { pid: 'pid1', offset: '18', token: 'key:secret' });
    rt.disconnect();
  });

  test('without a pid, nothing is taken as an offset', async () => {
    const srv = fakeServer({ recover: false });
    const ld = fakeClient(srv);
    const rt = ld.realtime;
    await nextEvent(rt, 'connect');
    assert.equal(rt.pid, undefined);
    const got = [];
    rt.on('e', (...args) => got.push(args));
    srv.push('e', 'a', '5');
    assert.deepEqual(got, [['a', '5']]);
    assert.equal(rt.lastOffset, undefined);
    rt.disconnect();
  });

  test('fresh session: subscriptions made online and offline are joined once each, then resync', async () => {
    const srv = fakeServer();
    const ld = fakeClient(srv);
    const rt = ld.realtime;
    const seen = [];
    for (const ev of ['connect', 'disconnect', 'resync']) rt.on(ev, (info) => seen.push(ev + (info ? ':' + JSON.stringify(info) : '')));
    await nextEvent(rt, 'connect');
    await rt.doc_subscribe('Invoice', 'A');
    await rt.doc_subscribe('Invoice', 'A');
    await rt.doctype_subscribe('Invoice');
    srv.push('x', '9'); // an offset, so that the reconnection asks to recover
    srv.pids.clear(); // the server forgets the session: the next CONNECT gets a new pid
    srv.current().kill();
    assert.equal(rt.connected, false);
    // while offline: one more reference, a new subscription, and a dropped one
    const offline = rt.doc_subscribe('Invoice', 'B');
    await rt.doctype_unsubscribe('Invoice');
    const resync = nextEvent(rt, 'resync');
    assert.deepEqual(await within(offline), { ok: true });
    await within(resync);
    assert.deepEqual(srv.connects[1], { pid: 'pid1', offset: '9' });
    const second = srv.subs().slice(2);
    assert.deepEqual(second, [
      ['doc_subscribe', 'Invoice', 'A'],
      ['doc_subscribe', 'Invoice', 'B'],
    ]);
    assert.deepEqual(seen, ['connect:{"recovered":false}', 'disconnect:{"reason":"transport close"}', 'connect:{"recovered":false}', 'resync']);
    assert.equal(rt.pid, 'pid2');
    assert.equal(rt.lastOffset, undefined, 'a fresh session starts without an offset');
    rt.disconnect();
  });

  test('recovered session: only the changes made offline are sent, no resync', async () => {
    const srv = fakeServer();
    const ld = fakeClient(srv);
    const rt = ld.realtime;
    let resyncs = 0;
    rt.on('resync', () => resyncs++);
    await nextEvent(rt, 'connect');
    await rt.doc_subscribe('Invoice', 'A');
    await rt.doctype_subscribe('Invoice');
    srv.current().kill();
    await rt.doctype_unsubscribe('Invoice'); // offline 1→0: the recovered session still has the room
    const b = rt.doc_subscribe('Invoice', 'B');
    const [{ recovered }] = await nextEvent(rt, 'connect');
    assert.equal(recovered, true);
    await within(b);
    assert.deepEqual(srv.subs().slice(2), [
      ['doctype_unsubscribe', 'Invoice'],
      ['doc_subscribe', 'Invoice', 'B'],
    ]);
    await within(rt.emitWithAck('sync'));
    assert.equal(resyncs, 0);
    rt.disconnect();
  });

  test('a subscribe in flight when the connection drops is sent again and then resolves', async () => {
    const srv = fakeServer();
    const ld = fakeClient(srv);
    const rt = ld.realtime;
    await nextEvent(rt, 'connect');
    const p = rt.doc_subscribe('Invoice', 'A'); // sent; the ack comes in a later tick
    srv.current().kill();
    assert.deepEqual(await within(p), { ok: true });
    assert.deepEqual(srv.subs(), [
      ['doc_subscribe', 'Invoice', 'A'],
      ['doc_subscribe', 'Invoice', 'A'],
    ]);
    rt.disconnect();
  });

  test('pings are answered; pingInterval + pingTimeout without a ping is a ping timeout, then a reconnection', async () => {
    const srv = fakeServer({ pingInterval: 60, pingTimeout: 40 });
    const pongs = [];
    const ld = fakeClient(srv);
    const rt = ld.realtime;
    await nextEvent(rt, 'connect');
    const ws = srv.current();
    const send = ws.send.bind(ws);
    ws.send = (data) => (data === '3' ? pongs.push(Date.now()) : send(data));
    const started = Date.now();
    // pings every 50 ms keep the connection for 4 intervals
    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      ws._in('2');
    }
    assert.equal(pongs.length, 4);
    assert.equal(rt.connected, true);
    // then the server goes silent
    const [info] = await nextEvent(rt, 'disconnect');
    assert.deepEqual(info, { reason: 'ping timeout' });
    assert.ok(Date.now() - started >= 200 + 100 - 20, 'not before pingInterval + pingTimeout');
    await nextEvent(rt, 'connect');
    assert.equal(srv.sockets.length, 2);
    rt.disconnect();
  });

  test('acks in flight reject on disconnect; disconnect() stops reconnecting', async () => {
    const srv = fakeServer();
    const ld = fakeClient(srv);
    const rt = ld.realtime;
    await nextEvent(rt, 'connect');
    const pending = rt.emitWithAck('slow');
    rt.disconnect();
    await assert.rejects(pending, /disconnect/);
    assert.equal(rt.connected, false);
    assert.equal(rt._reconnectTimer, null);
    assert.equal(srv.events.at(-1)[0], 'slow');
    assert.equal(srv.sockets.length, 1);
  });
});

describe('REST and installFrappe (fake fetch)', () => {
  function fakeFetch(routes) {
    const calls = [];
    const f = async (url, init = {}) => {
      calls.push({ url, ...init });
      const u = new URL(url);
      const [status, body] = routes(init.method ?? 'GET', u.pathname, u, init) ?? [404, { exc_type: 'DoesNotExistError' }];
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      return { ok: status >= 200 && status < 300, status, text: async () => text };
    };
    f.calls = calls;
    return f;
  }

  test('headers: token, CSRF on unsafe methods only, JSON body; errors parsed', async () => {
    const fetch = fakeFetch((method, path) => {
      if (path === '/api/method/ok') return [200, { message: { a: 1 } }];
      if (path === '/api/resource/Invoice') return [200, { data: [{ name: 'I-1' }] }];
      return [417, { exc_type: 'ValidationError', _server_messages: JSON.stringify([JSON.stringify({ message: 'bad' })]) }];
    });
    const ld = new Livedoc({ url: 'http://x/', site: '', connect: false, fetch, token: 'k:s', csrfToken: 'tok' });
    assert.deepEqual(await ld.call('ok', { x: 1 }), { a: 1 });
    assert.equal(fetch.calls[0].url, 'http://x/api/method/ok');
    assert.equal(fetch.calls[0].method, 'POST');
    assert.equal(fetch.calls[0].body, '{"x":1}');
    assert.equal(fetch.calls[0].headers.Authorization, 'token k:s');
    assert.equal(fetch.calls[0].headers['X-Frappe-CSRF-Token'], 'tok');
    assert.deepEqual(await ld.db.list('Invoice', { fields: ['name'], filters: [['total', '>', 1]], limit_page_length: 2 }), [{ name: 'I-1' }]);
    const listURL = new URL(fetch.calls[1].url);
    assert.equal(listURL.searchParams.get('fields'), '["name"]');
    assert.equal(listURL.searchParams.get('filters'), '[["total",">",1]]');
    assert.equal(listURL.searchParams.get('limit_page_length'), '2');
    assert.equal(fetch.calls[1].headers['X-Frappe-CSRF-Token'], undefined);
    await assert.rejects(ld.call('fails'), (err) => err.status === 417 && err.excType === 'ValidationError' && err.message === 'bad');
    assert.equal(ld.realtime.nsp, '/');
  });

  test('installFrappe: call styles, session user, csrf token, msgprint from the server', async () => {
    const fetch = fakeFetch((method, path, u, init) => {
      if (path === '/api/method/echo') return [200, { message: JSON.parse(init.body ?? '{}'), _server_messages: JSON.stringify([JSON.stringify({ message: 'note' })]) }];
      if (path === '/api/method/get') return [200, { message: u.searchParams.get('q') }];
      return [404, { exc_type: 'DoesNotExistError', _server_messages: JSON.stringify([JSON.stringify({ message: 'missing' })]) }];
    });
    const ld = new Livedoc({ url: 'http://x', connect: false, fetch, csrfToken: 'c1' });
    const win = { frappe: { boot: { keep: true } } };
    const frappe = installFrappe(ld, win, { user: 'a@example.com' });
    assert.equal(win.frappe.boot.keep, true, 'an existing frappe object is extended');
    assert.equal(frappe.session.user, 'a@example.com');
    assert.equal(await frappe.session.ready, 'a@example.com');
    assert.equal(frappe.csrf_token, 'c1');
    frappe.csrf_token = 'c2';
    assert.equal(ld.csrfToken, 'c2');
    const shown = [];
    frappe.msgprint = (m) => shown.push(m);

    let cb;
    const r = await frappe.call({ method: 'echo', args: { a: 1 }, callback: (x) => (cb = x) });
    assert.deepEqual(r.message, { a: 1 });
    assert.equal(cb, r);
    assert.deepEqual(shown, [{ message: 'note' }]);
    assert.deepEqual((await frappe.call('echo', { b: 2 })).message, { b: 2 });
    assert.equal((await frappe.call({ method: 'get', type: 'GET', args: { q: 'v' } })).message, 'v');
    assert.deepEqual(await frappe.xcall('echo', { c: 3 }), { c: 3 });
    let errArg;
    await assert.rejects(frappe.call({ method: 'nope', error: (b) => (errArg = b) }), (err) => err.status === 404);
    assert.equal(errArg.exc_type, 'DoesNotExistError');
    assert.deepEqual(shown.at(-1), { message: 'missing' });
    // a failing call without handlers does not leave an unhandled rejection behind
    frappe.call({ method: 'nope' });

    // frappe.realtime maps to ld.realtime; server msgprint events go to frappe.msgprint
    const got = [];
    frappe.realtime.on('x', (m) => got.push(m));
    ld.realtime._fire('x', 1);
    assert.deepEqual(got, [1]);
    frappe.realtime.off('x');
    ld.realtime._fire('x', 2);
    assert.deepEqual(got, [1]);
    ld.realtime._fire('msgprint', { message: 'from the server' });
    assert.deepEqual(shown.at(-1), { message: 'from the server' });
    assert.equal(win.__('Hello {0}', ['you']), 'Hello you');
    await waitFor(() => true);
  });
});
