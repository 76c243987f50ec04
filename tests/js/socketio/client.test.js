// Conformance of livedoc's realtime/socketio server with the real
// socket.io-client. Run by `go test ./realtime/socketio/`
// (TestSocketIOClientConformance), which serves its test application and
// sets SOCKETIO_URL. The application is described in
// realtime/socketio/app_test.go.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";

const URL = process.env.SOCKETIO_URL;
if (!URL) {
  throw new Error("SOCKETIO_URL is not set: run these through go test ./realtime/socketio/");
}
const TIMEOUT = 5000;

// connect opens a socket on a namespace; t.after closes it.
function connect(t, nsp, opts = {}) {
  const socket = io(URL + (nsp === "/" ? "" : nsp), {
    forceNew: true,
    reconnectionDelay: 20,
    reconnectionDelayMax: 50,
    timeout: TIMEOUT,
    ...opts,
  });
  t.after(() => socket.disconnect());
  return socket;
}

// within rejects if promise does not settle in time.
function within(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${TIMEOUT}ms`)), TIMEOUT);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// next resolves with the arguments of the next `event`.
function next(emitter, event) {
  return within(new Promise((resolve) => emitter.once(event, (...args) => resolve(args))), event);
}

async function connected(socket) {
  if (!socket.connected) {
    await next(socket, "connect");
  }
  return socket;
}

// ask emits with an ack and resolves with all the ack's arguments.
function ask(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    socket.timeout(TIMEOUT).emit(event, ...args, (err, ...reply) => (err ? reject(err) : resolve(reply)));
  });
}

for (const transport of ["websocket", "polling"]) {
  describe(`${transport} only`, () => {
    const only = { transports: [transport] };

    test("connects to / and /site, with the pid from ConnectReply", async (t) => {
      const root = await connected(connect(t, "/", only));
      const site = await connected(connect(t, "/site", only));
      assert.equal(typeof root.id, "string");
      assert.notEqual(root.id, site.id);
      assert.equal(root._pid, "pid/");
      assert.equal(site._pid, "pid/site");
      assert.deepEqual(await ask(root, "transport"), [transport]);
      assert.deepEqual(await ask(site, "transport"), [transport]);
    });

    test("namespaces share one Engine.IO session", async (t) => {
      const root = await connected(connect(t, "/", only));
      const site = await connected(root.io.socket("/site"));
      t.after(() => site.disconnect());
      assert.deepEqual(await ask(site, "echo", "via /site"), ["via /site"]);
      assert.deepEqual(await ask(root, "echo", "via /"), ["via /"]);
    });

    test("client emits with an ack", async (t) => {
      const s = await connected(connect(t, "/site", only));
      const args = ["a", { b: 1, c: [true, null] }, [1, 2], 3.5, "é€😀"];
      assert.deepEqual(await ask(s, "echo", ...args), args);
      assert.deepEqual(await ask(s, "echo"), []);
    });

    test("client emits without an ack, server emits back", async (t) => {
      const s = await connected(connect(t, "/", only));
      const echoed = next(s, "echo");
      s.emit("echo", "x", 2);
      assert.deepEqual(await echoed, ["x", 2]);
    });

    test("server emits with an ack", async (t) => {
      const s = await connected(connect(t, "/site", only));
      s.on("question", (q, cb) => cb(`answer to ${q}`, 42));
      const answer = next(s, "answer");
      s.emit("ask", "life");
      assert.deepEqual(await answer, ["answer to life", 42]);
    });

    test("a pre-encoded broadcast reaches every socket of the namespace", async (t) => {
      const a = await connected(connect(t, "/site", only));
      const b = await connected(connect(t, "/site", only));
      const gotA = next(a, "bcast");
      const gotB = next(b, "bcast");
      assert.deepEqual(await ask(a, "broadcast", { n: 1 }), [true]);
      assert.deepEqual(await gotA, [{ n: 1 }]);
      assert.deepEqual(await gotB, [{ n: 1 }]);
    });

    test("answers server pings and stays connected", async (t) => {
      const s = await connected(connect(t, "/", only));
      for (let i = 0; i < 3; i++) {
        await next(s.io.engine, "ping");
      }
      assert.equal(s.connected, true);
      assert.deepEqual(await ask(s, "echo", "still here"), ["still here"]);
    });

    test("server-side disconnect", async (t) => {
      const s = await connected(connect(t, "/", only));
      const gone = next(s, "disconnect");
      s.emit("leave");
      assert.deepEqual(await gone, ["io server disconnect", undefined]);
    });
  });
}

test("polling, then upgrade to websocket", async (t) => {
  const s = connect(t, "/site", { autoConnect: false });
  const upgrade = new Promise((resolve, reject) => {
    s.io.once("open", () => {
      const engine = s.io.engine;
      if (engine.transport.name !== "polling") {
        reject(new Error(`opened on ${engine.transport.name}`));
      }
      engine.once("upgrade", resolve);
      engine.once("upgradeError", reject);
    });
  });
  s.connect();
  await connected(s);
  const upgraded = await within(upgrade, "upgrade");
  assert.equal(upgraded.name, "websocket");
  assert.deepEqual(await ask(s, "transport"), ["websocket"]);
  assert.deepEqual(await ask(s, "echo", "after upgrade"), ["after upgrade"]);
});

test("auth payload reaches Connect", async (t) => {
  const s = await connected(connect(t, "/site", { auth: { token: "t1", extra: [1, { x: "y" }] } }));
  assert.deepEqual(await ask(s, "auth"), [{ token: "t1", extra: [1, { x: "y" }] }]);
});

test("CONNECT_ERROR surfaces as connect_error", async (t) => {
  for (const nsp of ["/", "/site"]) {
    const s = connect(t, nsp, { auth: { token: "bad" } });
    const [err] = await next(s, "connect_error");
    assert.equal(err.message, "unauthorized: bad token");
    assert.equal(s.connected, false);
  }
  const unknown = connect(t, "/nope");
  const [err] = await next(unknown, "connect_error");
  assert.equal(err.message, "Invalid namespace");
});

for (const transport of ["websocket", "polling"]) {
  test(`${transport}: reconnect carries pid and offset to Connect`, async (t) => {
    const s = await connected(connect(t, "/", { transports: [transport], auth: { token: "t2" } }));
    assert.equal(s._pid, "pid/");
    assert.equal(s.recovered, false);
    const news = [];
    s.on("news", (...args) => news.push(args));
    assert.deepEqual(await ask(s, "feed", 3), [3]);
    assert.deepEqual(news, [
      [1, "off-1"],
      [2, "off-2"],
      [3, "off-3"],
    ]);
    assert.equal(s._lastOffset, "off-3");

    const reconnected = next(s, "connect");
    s.io.engine.close();
    await reconnected;
    assert.equal(s.recovered, true);
    assert.deepEqual(await ask(s, "auth"), [{ pid: "pid/", offset: "off-3", token: "t2" }]);
  });
}
