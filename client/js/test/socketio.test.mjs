// Conformance of livedoc.js against the real npm socket.io 4.8.4 server (tests/js/node_modules),
// in-process on a free port: both transports, acks both ways, rooms, connection-state recovery,
// fresh sessions (resync and re-subscription), refcounting as the server sees it.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, describe, test } from 'node:test';

import { Livedoc, backoffDelay } from '../livedoc.js';
import { WAIT_MS, nextEvent, record, requireTests, waitFor, within } from './helpers.mjs';

const { Server } = requireTests('socket.io');
const WS = requireTests('ws');

const SITE = 'livedoc';
const BACKOFF = { min: 250, max: 1000, jitter: 0.5 }; // short, but > the server's close handling

const servers = [];
const clients = [];

after(async () => {
  for (const ld of clients) ld.realtime.disconnect();
  for (const s of servers) await s.close();
});

/**
 * A socket.io server on namespace /livedoc that behaves like livedoc for the events the client
 * uses: doc_subscribe/doc_unsubscribe/doctype_subscribe... join and leave rooms and ack {ok:true}
 * ({error} for the DocType "Secret"), "echo" acks its arguments, "join" joins any room.
 */
async function startIO(opts = {}) {
  const httpServer = http.createServer();
  const io = new Server(httpServer, { pingInterval: 2000, pingTimeout: 2000, ...opts });
  const nsp = io.of('/' + SITE);
  const conns = []; // {socket, pid, recovered, auth, transport, events: [[event, ...args]]}
  nsp.on('connection', (socket) => {
    const c = {
      socket,
      pid: socket.pid,
      recovered: socket.recovered,
      auth: socket.handshake.auth,
      transport: socket.conn.transport.name,
      events: [],
      pongs: 0,
    };
    conns.push(c);
    socket.conn.on('packet', (p) => {
      if (p.type === 'pong') c.pongs++;
    });
    socket.onAny((event, ...args) => c.events.push([event, ...args.filter((a) => typeof a !== 'function')]));
    const room = (event, args) => {
      switch (event) {
        case 'doc_subscribe':
        case 'doc_unsubscribe':
          return `doc:${args[0]}/${args[1]}`;
        case 'doctype_subscribe':
        case 'doctype_unsubscribe':
          return `doctype:${args[0]}`;
        case 'doc_open':
        case 'doc_close':
          return `open_doc:${args[0]}/${args[1]}`;
        default:
          return `task_progress:${args[0]}`;
      }
    };
    for (const ev of ['doc_subscribe', 'doctype_subscribe', 'doc_open', 'task_subscribe']) {
      socket.on(ev, (...args) => {
        const ack = typeof args.at(-1) === 'function' ? args.pop() : () => {};
        if (args[0] === 'Secret') return ack({ error: `No permission to read ${args[0]}` });
        socket.join(room(ev, args));
        ack({ ok: true });
      });
    }
    for (const ev of ['doc_unsubscribe', 'doctype_unsubscribe', 'doc_close', 'task_unsubscribe']) {
      socket.on(ev, (...args) => {
        const ack = typeof args.at(-1) === 'function' ? args.pop() : () => {};
        socket.leave(room(ev, args));
        ack({ ok: true });
      });
    }
    socket.on('echo', (...args) => {
      const ack = args.pop();
      ack(...args);
    });
    socket.on('join', (r, ack) => {
      socket.join(r);
      ack({ ok: true });
    });
  });
  await new Promise((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${httpServer.address().port}`;
  const srv = {
    io,
    nsp,
    conns,
    url,
    close: () =>
      new Promise((resolve) => {
        io.close(() => resolve());
        httpServer.closeAllConnections();
      }),
  };
  servers.push(srv);
  return srv;
}

function client(srv, opts = {}) {
  const ld = new Livedoc({ url: srv.url, site: SITE, WebSocket: WS, backoff: BACKOFF, timeout: WAIT_MS, ...opts });
  clients.push(ld);
  return ld;
}

async function connected(ld) {
  if (!ld.realtime.connected) await nextEvent(ld.realtime, 'connect');
  return ld;
}

const recovery = { connectionStateRecovery: { maxDisconnectionDuration: 60_000, skipMiddlewares: true } };

describe('transports', () => {
  test('websocket: CONNECT with auth, acks both ways, callback-style ack', async () => {
    const srv = await startIO(recovery);
    const ld = client(srv, { transports: ['websocket'], auth: { name: 'ws-client' } });
    await connected(ld);
    assert.equal(ld.realtime.transport, 'websocket');
    await waitFor(() => srv.conns.length === 1);
    const c = srv.conns[0];
    assert.equal(c.transport, 'websocket');
    assert.deepEqual(c.auth, { name: 'ws-client' });
    assert.equal(ld.realtime.id, c.socket.id);
    assert.equal(ld.realtime.pid, c.pid);

    // client → server with ack
    assert.deepEqual(await within(ld.realtime.emitWithAck('echo', { a: 1 }, 'two')), { a: 1 });
    const both = await within(new Promise((resolve) => ld.realtime.emit('echo', 'x', 2, (...a) => resolve(a))));
    assert.deepEqual(both, ['x', 2]);

    // server → client with ack: the listener gets the args and an ack function, no offset
    ld.realtime.on('question', (n, ack) => {
      assert.equal(typeof ack, 'function');
      ack(n * 2, 'done');
    });
    const answer = await c.socket.timeout(WAIT_MS).emitWithAck('question', 21);
    assert.equal(answer, 42);
  });

  test('polling only: handshake, events, acks, pings answered with pongs', async () => {
    const srv = await startIO({ ...recovery, pingInterval: 150, pingTimeout: 300 });
    const ld = client(srv, { transports: ['polling'], WebSocket: undefined });
    const log = record(ld.realtime);
    let disconnects = 0;
    ld.realtime.on('disconnect', () => disconnects++);
    await connected(ld);
    assert.equal(ld.realtime.transport, 'polling');
    await waitFor(() => srv.conns.length === 1);
    const c = srv.conns[0];
    assert.equal(c.transport, 'polling');
    assert.equal(c.socket.conn.transport.name, 'polling', 'the client must not upgrade');

    assert.deepEqual(await within(ld.realtime.emitWithAck('echo', 'over polling')), 'over polling');
    // several packets in one POST: emitted in the same tick
    const acks = await within(Promise.all([1, 2, 3, 4].map((i) => ld.realtime.emitWithAck('echo', i))));
    assert.deepEqual(acks, [1, 2, 3, 4]);

    c.socket.emit('news', { n: 1 });
    c.socket.emit('news', { n: 2 });
    await waitFor(() => log.filter((e) => e.event === 'news').length === 2);
    assert.deepEqual(
      log.filter((e) => e.event === 'news').map((e) => e.args),
      [[{ n: 1 }], [{ n: 2 }]],
    );

    ld.realtime.on('question', (n, ack) => ack(n + 1));
    assert.equal(await c.socket.timeout(WAIT_MS).emitWithAck('question', 1), 2);

    // three ping intervals pass on one session: every ping got its pong
    await waitFor(() => c.pongs >= 3, WAIT_MS, 'three pongs');
    assert.equal(disconnects, 0);
    assert.equal(srv.conns.length, 1);
  });

  test('websocket refused: falls back to polling', async () => {
    const srv = await startIO({ ...recovery, transports: ['polling'] });
    const ld = client(srv, { transports: ['websocket', 'polling'] });
    await connected(ld);
    assert.equal(ld.realtime.transport, 'polling');
    assert.equal(await within(ld.realtime.emitWithAck('echo', 'fallback')), 'fallback');
  });

  test('disconnect() reaches the server at once, over polling and websocket', async () => {
    const srv = await startIO({ ...recovery, pingInterval: 20_000, pingTimeout: 20_000 });
    for (const transports of [['polling'], ['websocket']]) {
      const ld = client(srv, { transports });
      await connected(ld);
      await waitFor(() => srv.conns.length && srv.conns.at(-1).socket.connected);
      const c = srv.conns.at(-1);
      const gone = new Promise((resolve) => c.socket.on('disconnect', resolve));
      const infos = [];
      ld.realtime.on('disconnect', (info) => infos.push(info));
      ld.realtime.disconnect();
      assert.equal(await within(gone, WAIT_MS, `server-side disconnect (${transports})`), 'client namespace disconnect');
      assert.deepEqual(infos, [{ reason: 'io client disconnect' }]);
      assert.equal(ld.realtime.connected, false);
    }
  });

  test('disconnect() while the WebSocket is still opening closes it', async () => {
    const net = await import('node:net');
    const sockets = [];
    const blackhole = net.createServer((s) => sockets.push(s)); // accepts, never answers
    await new Promise((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    const opened = [];
    class SpyWS extends WS {
      constructor(...a) {
        super(...a);
        opened.push(this);
      }
    }
    const ld = new Livedoc({ url: `http://127.0.0.1:${blackhole.address().port}`, site: SITE, WebSocket: SpyWS, transports: ['websocket'], timeout: 60_000 });
    await waitFor(() => sockets.length === 1);
    ld.realtime.disconnect();
    await waitFor(() => opened[0].readyState === WS.CLOSED, WAIT_MS, 'the WebSocket closed');
    assert.equal(ld.realtime._engine, null);
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => blackhole.close(resolve));
  });

  test('emits while disconnected are sent once connected', async () => {
    const srv = await startIO(recovery);
    const ld = client(srv, { connect: false });
    ld.realtime.emit('hello', 1);
    const ack = ld.realtime.emitWithAck('echo', 'buffered');
    ld.realtime.connect();
    assert.equal(await within(ack), 'buffered');
    await waitFor(() => srv.conns[0]?.events.some((e) => e[0] === 'hello'));
    assert.deepEqual(srv.conns[0].events.find((e) => e[0] === 'hello'), ['hello', 1]);
  });
});

describe('rooms', () => {
  test('a room broadcast reaches its members only, offset recorded and stripped', async () => {
    const srv = await startIO(recovery);
    const [a, b, outsider] = [client(srv), client(srv, { transports: ['polling'] }), client(srv)];
    const [la, lb, lo] = [record(a.realtime), record(b.realtime), record(outsider.realtime)];
    await Promise.all([connected(a), connected(b), connected(outsider)]);
    assert.deepEqual(await within(a.realtime.emitWithAck('join', 'r1')), { ok: true });
    assert.deepEqual(await within(b.realtime.emitWithAck('join', 'r1')), { ok: true });

    srv.nsp.to('r1').emit('news', { n: 1 }, 'second');
    srv.nsp.emit('everyone', 'hi'); // after news: once it is here, news would have been too
    await waitFor(() => lo.some((e) => e.event === 'everyone'));
    await waitFor(() => la.some((e) => e.event === 'everyone') && lb.some((e) => e.event === 'everyone'));
    for (const log of [la, lb]) {
      assert.deepEqual(log.find((e) => e.event === 'news').args, [{ n: 1 }, 'second']);
      assert.deepEqual(log.find((e) => e.event === 'everyone').args, ['hi']);
    }
    assert.equal(lo.filter((e) => e.event === 'news').length, 0, 'news leaked outside the room');
    assert.equal(typeof a.realtime.lastOffset, 'string');
    assert.ok(a.realtime.lastOffset.length > 0);
    assert.notEqual(a.realtime.lastOffset, 'hi');
  });

  test('subscriptions are reference counted: one subscribe and one unsubscribe reach the server', async () => {
    const srv = await startIO(recovery);
    const ld = client(srv);
    const log = record(ld.realtime);
    await connected(ld);
    await waitFor(() => srv.conns.length === 1);
    const c = srv.conns[0];
    const rt = ld.realtime;
    assert.deepEqual(await within(rt.doc_subscribe('Invoice', 'A')), { ok: true });
    assert.deepEqual(await within(rt.doc_subscribe('Invoice', 'A')), { ok: true });
    assert.deepEqual(rt.subscriptions(), [{ event: 'doc_subscribe', args: ['Invoice', 'A'], count: 2 }]);
    assert.deepEqual(await within(rt.doc_unsubscribe('Invoice', 'A')), { ok: true });
    // still subscribed: the server still has the room
    assert.deepEqual(await within(rt.emitWithAck('echo', 'sync')), 'sync');
    assert.deepEqual(
      c.events.filter((e) => e[0].startsWith('doc_')),
      [['doc_subscribe', 'Invoice', 'A']],
    );
    srv.nsp.to('doc:Invoice/A').emit('doc_update', { name: 'A', n: 1 });
    await waitFor(() => log.some((e) => e.event === 'doc_update'));
    assert.deepEqual(await within(rt.doc_unsubscribe('Invoice', 'A')), { ok: true });
    assert.deepEqual(
      c.events.filter((e) => e[0].startsWith('doc_')),
      [
        ['doc_subscribe', 'Invoice', 'A'],
        ['doc_unsubscribe', 'Invoice', 'A'],
      ],
    );
    assert.deepEqual(rt.subscriptions(), []);
    // one more unsubscribe than subscribes: nothing sent
    assert.deepEqual(await within(rt.doc_unsubscribe('Invoice', 'A')), { ok: true });
    assert.equal(c.events.filter((e) => e[0] === 'doc_unsubscribe').length, 1);
  });

  test('a denied subscribe rejects with the server message and is not counted', async () => {
    const srv = await startIO(recovery);
    const ld = client(srv);
    await connected(ld);
    await assert.rejects(within(ld.realtime.doc_subscribe('Secret', 'S-1')), /No permission to read Secret/);
    await assert.rejects(within(ld.realtime.doctype_subscribe('Secret')), (err) => {
      assert.equal(err.message, 'No permission to read Secret');
      assert.deepEqual(err.ack, { error: 'No permission to read Secret' });
      return true;
    });
    assert.deepEqual(ld.realtime.subscriptions(), []);
  });
});

describe('connection state recovery', () => {
  test('recovered after the transport dies: same pid, missed broadcast delivered, no resync', async () => {
    const srv = await startIO(recovery);
    const ld = client(srv, { transports: ['websocket'], token: 'k:s' });
    const rt = ld.realtime;
    const log = record(rt);
    const seen = [];
    for (const ev of ['connect', 'disconnect', 'reconnecting', 'resync']) rt.on(ev, (info) => seen.push([ev, info]));
    await connected(ld);
    await waitFor(() => srv.conns.length === 1);
    const first = srv.conns[0];
    assert.deepEqual(first.auth, { token: 'k:s' });
    assert.deepEqual(await within(rt.doc_subscribe('Invoice', 'INV-1')), { ok: true });
    srv.nsp.to('doc:Invoice/INV-1').emit('doc_update', { name: 'INV-1', n: 1 });
    await waitFor(() => log.some((e) => e.event === 'doc_update'));
    const offset = rt.lastOffset;
    assert.equal(typeof offset, 'string');

    // while the server handles the dead transport, the missed update is broadcast
    first.socket.on('disconnect', () => srv.nsp.to('doc:Invoice/INV-1').emit('doc_update', { name: 'INV-1', n: 2 }));
    rt._dropTransport();
    const [{ recovered }] = await nextEvent(rt, 'connect');
    assert.equal(recovered, true);
    assert.equal(rt.recovered, true);
    await waitFor(() => srv.conns.length === 2);
    const second = srv.conns[1];
    assert.equal(second.recovered, true);
    assert.equal(second.pid, first.pid, 'the server sees the same pid');
    assert.deepEqual(second.auth, { pid: first.pid, offset, token: 'k:s' });
    await waitFor(() => log.filter((e) => e.event === 'doc_update').length === 2);
    assert.deepEqual(
      log.filter((e) => e.event === 'doc_update').map((e) => e.args),
      [[{ name: 'INV-1', n: 1 }], [{ name: 'INV-1', n: 2 }]],
    );
    // after a round trip, no resync came and nothing was re-subscribed
    assert.equal(await within(rt.emitWithAck('echo', 'after')), 'after');
    assert.deepEqual(
      seen.map(([ev]) => ev),
      ['connect', 'disconnect', 'reconnecting', 'connect'],
    );
    assert.deepEqual(seen[1][1], { reason: 'transport close' });
    assert.equal(seen[2][1].attempt, 1);
    assert.ok(seen[2][1].delay >= 125 && seen[2][1].delay <= 375, `delay ${seen[2][1].delay}`);
    assert.equal(second.events.filter((e) => e[0] === 'doc_subscribe').length, 0);
    // the room is still joined on the server
    srv.nsp.to('doc:Invoice/INV-1').emit('doc_update', { name: 'INV-1', n: 3 });
    await waitFor(() => log.filter((e) => e.event === 'doc_update').length === 3);
  });

  for (const [title, opts] of [
    ['no recovery on the server', {}],
    ['recovery window expired', { connectionStateRecovery: { maxDisconnectionDuration: 1, skipMiddlewares: true } }],
  ]) {
    test(`fresh session (${title}): subscriptions re-joined once each, then resync`, async () => {
      const srv = await startIO(opts);
      const ld = client(srv, { transports: ['websocket'] });
      const rt = ld.realtime;
      const log = record(rt);
      await connected(ld);
      await waitFor(() => srv.conns.length === 1);
      const firstPid = rt.pid;
      await within(Promise.all([rt.doc_subscribe('Invoice', 'A'), rt.doc_subscribe('Invoice', 'A'), rt.doctype_subscribe('Invoice')]));
      await within(rt.doc_subscribe('Invoice', 'B'));
      await within(rt.doc_unsubscribe('Invoice', 'B'));
      assert.equal(srv.conns[0].events.filter((e) => e[0] === 'doc_subscribe').length, 2);

      const resync = nextEvent(rt, 'resync');
      let resyncs = 0;
      rt.on('resync', () => {
        resyncs++;
        // by the time resync fires, the server has answered the re-subscriptions
        const c = srv.conns[1];
        assert.deepEqual(c?.events.filter((e) => e[0].endsWith('subscribe')).sort(), [
          ['doc_subscribe', 'Invoice', 'A'],
          ['doctype_subscribe', 'Invoice'],
        ]);
        assert.ok(c.socket.rooms.has('doc:Invoice/A') && c.socket.rooms.has('doctype:Invoice'));
      });
      const connect = nextEvent(rt, 'connect');
      rt._dropTransport();
      const [{ recovered }] = await connect;
      assert.equal(recovered, false);
      await within(resync, WAIT_MS, 'resync');
      assert.equal(resyncs, 1);
      await waitFor(() => srv.conns.length === 2);
      assert.equal(srv.conns[1].recovered, false);
      if (firstPid) {
        assert.equal(srv.conns[1].auth.pid, firstPid, 'the client asked to recover');
        assert.notEqual(rt.pid, firstPid);
      } else {
        assert.deepEqual(srv.conns[1].auth, {});
      }
      assert.deepEqual(rt.subscriptions(), [
        { event: 'doc_subscribe', args: ['Invoice', 'A'], count: 2 },
        { event: 'doctype_subscribe', args: ['Invoice'], count: 1 },
      ]);
      srv.nsp.to('doc:Invoice/A').emit('doc_update', { name: 'A' });
      await waitFor(() => log.some((e) => e.event === 'doc_update'));
      assert.deepEqual(log.find((e) => e.event === 'doc_update').args, [{ name: 'A' }]);
    });
  }

  test('keeps reconnecting while the server is down, with backoff within bounds', async () => {
    const srv = await startIO(recovery);
    const ld = client(srv, { transports: ['websocket'] });
    const rt = ld.realtime;
    await connected(ld);
    const attempts = [];
    rt.on('reconnecting', (info) => attempts.push(info));
    // the server stops accepting: every attempt fails
    await srv.close();
    await waitFor(() => attempts.length >= 3, WAIT_MS, 'three reconnection attempts');
    assert.deepEqual(
      attempts.slice(0, 3).map((a) => a.attempt),
      [1, 2, 3],
    );
    for (const { attempt, delay } of attempts) {
      const base = Math.min(BACKOFF.max, BACKOFF.min * 2 ** (attempt - 1));
      assert.ok(delay >= base / 2 && delay <= Math.min(BACKOFF.max, base * 1.5), `attempt ${attempt}: ${delay}`);
    }
    assert.equal(rt.connected, false);
    rt.disconnect();
    const n = attempts.length;
    // disconnect() stops the loop: no timer is left (the test process would otherwise hang)
    assert.equal(rt._reconnectTimer, null);
    assert.equal(attempts.length, n);
    assert.equal(backoffDelay(1, BACKOFF, () => 0.5), 250);
  });
});
