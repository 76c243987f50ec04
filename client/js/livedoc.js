// livedoc's JavaScript client: Engine.IO v4 / Socket.IO v5 (WebSocket, falling back to HTTP
// long-polling) with connection-state recovery, client-side reference-counted subscriptions,
// Frappe's REST API, and a `window.frappe` shim for code written for Frappe.
//
// One ES module with no dependencies; runs in browsers and in Node >= 20 (pass `WebSocket`, e.g.
// the `ws` package, and optionally `fetch` in the options there). See README.md and
// docs/js-client.md for the API.

// ---------------------------------------------------------------------------------------------
// Protocol constants and codec

/** Engine.IO v4 packet types (first character of a text packet). */
export const EIO = Object.freeze({ OPEN: '0', CLOSE: '1', PING: '2', PONG: '3', MESSAGE: '4', UPGRADE: '5', NOOP: '6' });

/** Socket.IO v5 packet types. */
export const SIO = Object.freeze({
  CONNECT: 0,
  DISCONNECT: 1,
  EVENT: 2,
  ACK: 3,
  CONNECT_ERROR: 4,
  BINARY_EVENT: 5,
  BINARY_ACK: 6,
});

/** Separator of the packets of one HTTP long-polling payload. */
export const PAYLOAD_SEPARATOR = '\x1e';

const MAX_ACK_ID_DIGITS = 15; // within JavaScript's safe integers

/** Joins Engine.IO packets (strings) into one long-polling payload. */
export function encodePayload(packets) {
  return packets.join(PAYLOAD_SEPARATOR);
}

/** Splits a long-polling payload into its Engine.IO packets; throws on an empty packet. */
export function decodePayload(text) {
  const packets = text.split(PAYLOAD_SEPARATOR);
  for (const p of packets) {
    if (p.length === 0) throw new Error('engine.io: empty packet in payload');
  }
  return packets;
}

/**
 * Encodes a Socket.IO packet (without the Engine.IO "4"): type, "/nsp," unless nsp is "/", the
 * ack id, then the JSON data.
 * @param {{type: number, nsp?: string, id?: number, data?: any}} p
 */
export function encodePacket({ type, nsp = '/', id, data }) {
  let s = String(type);
  if (nsp && nsp !== '/') s += nsp + ',';
  if (id !== undefined && id !== null) s += String(id);
  if (data !== undefined) s += JSON.stringify(data);
  return s;
}

/**
 * Decodes a Socket.IO packet as a server sends it (the Engine.IO message without its "4").
 * Throws on malformed packets and on binary packets (not supported).
 * @returns {{type: number, nsp: string, id: number | undefined, data: any}}
 */
export function decodePacket(str) {
  if (typeof str !== 'string' || str.length === 0) throw new Error('socket.io: empty packet');
  const type = str.charCodeAt(0) - 48;
  if (!(type >= 0 && type <= 6)) throw new Error(`socket.io: unknown packet type ${JSON.stringify(str[0])}`);
  if (type === SIO.BINARY_EVENT || type === SIO.BINARY_ACK) throw new Error('socket.io: binary packets are not supported');
  let i = 1;
  let nsp = '/';
  if (str[i] === '/') {
    const j = str.indexOf(',', i);
    if (j < 0) {
      nsp = str.slice(i);
      i = str.length;
    } else {
      nsp = str.slice(i, j);
      i = j + 1;
    }
  }
  const start = i;
  while (i < str.length && str.charCodeAt(i) >= 48 && str.charCodeAt(i) <= 57) i++;
  let id;
  if (i > start) {
    if (i - start > MAX_ACK_ID_DIGITS) throw new Error('socket.io: ack id too large');
    id = Number(str.slice(start, i));
  }
  let data;
  if (i < str.length) data = JSON.parse(str.slice(i));
  switch (type) {
    case SIO.CONNECT:
      if (data !== undefined && (data === null || typeof data !== 'object' || Array.isArray(data))) {
        throw new Error('socket.io: CONNECT payload is not an object');
      }
      break;
    case SIO.EVENT:
      if (!Array.isArray(data) || data.length === 0 || typeof data[0] !== 'string') {
        throw new Error('socket.io: EVENT without an event name');
      }
      break;
    case SIO.ACK:
      if (id === undefined || !Array.isArray(data)) throw new Error('socket.io: malformed ACK');
      break;
    case SIO.CONNECT_ERROR:
      break;
    case SIO.DISCONNECT:
      break;
  }
  return { type, nsp, id, data };
}

// ---------------------------------------------------------------------------------------------
// Backoff

/** The default reconnection backoff: 0.5 s doubling to 10 s, ±50% jitter. */
export const DEFAULT_BACKOFF = Object.freeze({ min: 500, max: 10_000, jitter: 0.5 });

/**
 * The delay in ms before reconnection attempt `attempt` (1-based): min·2^(attempt-1), capped at
 * max, ±jitter, and never above max.
 */
export function backoffDelay(attempt, { min = 500, max = 10_000, jitter = 0.5 } = {}, random = Math.random) {
  const n = Math.max(1, attempt | 0);
  const base = Math.min(max, min * 2 ** Math.min(n - 1, 30));
  const d = base * (1 + (random() * 2 - 1) * jitter);
  return Math.max(0, Math.min(max, Math.round(d)));
}

// ---------------------------------------------------------------------------------------------
// Errors

/** An error from a REST call: HTTP status, Frappe's exception type and the server's messages. */
export class LivedocError extends Error {
  constructor(message, { status = 0, excType = '', serverMessages = [], response, cause } = {}) {
    super(message, cause ? { cause } : undefined);
    this.name = 'LivedocError';
    this.status = status;
    this.excType = excType;
    this.serverMessages = serverMessages;
    this.response = response;
  }
}

/**
 * Reads Frappe's `_server_messages` (a JSON list of JSON-encoded message objects, or of plain
 * strings) into a list of {message, title, indicator, ...}.
 */
export function parseServerMessages(raw) {
  if (raw === undefined || raw === null || raw === '') return [];
  let list = raw;
  if (typeof list === 'string') {
    try {
      list = JSON.parse(list);
    } catch {
      return [{ message: raw }];
    }
  }
  if (!Array.isArray(list)) list = [list];
  return list.map((m) => {
    if (typeof m === 'string') {
      try {
        const v = JSON.parse(m);
        if (v && typeof v === 'object') return v;
        return { message: String(v) };
      } catch {
        return { message: m };
      }
    }
    return m && typeof m === 'object' ? m : { message: String(m) };
  });
}

/** Builds the LivedocError for a failed response (status and parsed body, or its text). */
export function parseError(status, body) {
  const obj = body && typeof body === 'object' ? body : {};
  const serverMessages = parseServerMessages(obj._server_messages);
  const excType = obj.exc_type || (typeof obj.exception === 'string' ? obj.exception.split(':')[0].split('.').pop() : '') || '';
  let message = serverMessages
    .map((m) => m.message)
    .filter((m) => m !== undefined && m !== null && m !== '')
    .join('\n');
  if (!message && typeof obj.exception === 'string') {
    const i = obj.exception.indexOf(': ');
    message = i >= 0 ? obj.exception.slice(i + 2) : obj.exception;
  }
  if (!message && typeof obj.message === 'string') message = obj.message;
  if (!message && typeof body === 'string' && body) message = body.slice(0, 500);
  if (!message) message = `HTTP ${status}`;
  return new LivedocError(message, { status, excType, serverMessages, response: body });
}

// ---------------------------------------------------------------------------------------------
// Emitter

function report(err) {
  if (typeof globalThis.reportError === 'function') globalThis.reportError(err);
  else console.error(err);
}

/** A small event emitter; a listener that throws is reported and does not stop the others. */
export class Emitter {
  constructor() {
    this._listeners = new Map();
  }
  /** Adds cb for event. */
  on(event, cb) {
    if (typeof cb !== 'function') throw new TypeError('listener must be a function');
    let list = this._listeners.get(event);
    if (!list) this._listeners.set(event, (list = []));
    list.push(cb);
    return this;
  }
  /** Removes cb (every registration of it), or every listener of event when cb is omitted. */
  off(event, cb) {
    if (cb === undefined) {
      this._listeners.delete(event);
      return this;
    }
    const list = this._listeners.get(event);
    if (!list) return this;
    const rest = list.filter((l) => l !== cb && l._orig !== cb);
    if (rest.length) this._listeners.set(event, rest);
    else this._listeners.delete(event);
    return this;
  }
  /** Adds cb for the next event only. */
  once(event, cb) {
    const wrapper = (...args) => {
      this.off(event, wrapper);
      return cb(...args);
    };
    wrapper._orig = cb;
    return this.on(event, wrapper);
  }
  /** Number of listeners of event. */
  listenerCount(event) {
    return this._listeners.get(event)?.length ?? 0;
  }
  _fire(event, ...args) {
    const list = this._listeners.get(event);
    if (!list) return false;
    for (const cb of [...list]) {
      try {
        cb(...args);
      } catch (err) {
        report(err);
      }
    }
    return true;
  }
}

// ---------------------------------------------------------------------------------------------
// Engine.IO v4 client (one connection attempt / session)

function withQuery(base, params) {
  const qs = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => encodeURIComponent(k) + '=' + encodeURIComponent(v))
    .join('&');
  return base + (base.includes('?') ? '&' : '?') + qs;
}

let tsCounter = 0;
function cacheBuster() {
  return Date.now().toString(36) + (tsCounter++).toString(36);
}

/**
 * One Engine.IO session over one transport. open() resolves once the handshake (OPEN packet) is
 * in; listen() then delivers packets (strings, without the transport framing) and the close
 * reason, once. Pings are answered here and a missing ping closes it ("ping timeout").
 */
export class Engine {
  /**
   * @param {object} o
   * @param {string} o.url    http(s) origin (and optional base path) of the server
   * @param {string} [o.path] "/socket.io/"
   * @param {Function} [o.WebSocket]
   * @param {Function} [o.fetch]
   * @param {Record<string,string>} [o.headers]  extra headers (Node: WebSocket handshake, polling)
   * @param {number} [o.timeout]  bound of the handshake, ms
   * @param {boolean} [o.withCredentials]
   */
  constructor(o) {
    this.o = o;
    this.transport = null;
    this.state = 'new'; // new | opening | open | closed
    this.sid = null;
    this.pingInterval = 0;
    this.pingTimeout = 0;
    this.maxPayload = 0;
    this._onPacket = null;
    this._onClose = null;
    this._inbox = [];
    this._closeReason = null;
    this._pingTimer = null;
    // polling
    this._wbuf = [];
    this._posting = false;
    this._pollAbort = null;
    this._postAbort = null;
    this._ws = null;
  }

  _base() {
    const path = this.o.path || '/socket.io/';
    const url = String(this.o.url).replace(/\/+$/, '');
    return url + '/' + path.replace(/^\/+/, '');
  }

  /** Opens the session over transport "websocket" or "polling". */
  open(transport) {
    this.transport = transport;
    this.state = 'opening';
    if (transport === 'websocket') return this._openWS();
    if (transport === 'polling') return this._openPolling();
    this.state = 'closed';
    return Promise.reject(new Error(`engine.io: unknown transport ${transport}`));
  }

  /** Delivers packets and the close to these callbacks; what arrived before is delivered now. */
  listen(onPacket, onClose) {
    this._onPacket = onPacket;
    this._onClose = onClose;
    const inbox = this._inbox;
    this._inbox = [];
    for (const p of inbox) {
      if (this._onPacket !== onPacket) return;
      onPacket(p);
    }
    if (this.state === 'closed' && this._closeReason !== null) {
      const reason = this._closeReason;
      this._closeReason = null;
      onClose(reason);
    }
  }

  _handshake(text) {
    if (text[0] !== EIO.OPEN) throw new Error(`engine.io: expected the open packet, got ${JSON.stringify(text.slice(0, 50))}`);
    const h = JSON.parse(text.slice(1));
    if (!h || typeof h.sid !== 'string' || !h.sid) throw new Error('engine.io: open packet without sid');
    this.sid = h.sid;
    this.pingInterval = Number(h.pingInterval) || 0;
    this.pingTimeout = Number(h.pingTimeout) || 0;
    this.maxPayload = Number(h.maxPayload) || 0;
    this.state = 'open';
    this._resetPingTimer();
  }

  _resetPingTimer() {
    clearTimeout(this._pingTimer);
    if (this.state !== 'open' || !(this.pingInterval > 0 && this.pingTimeout > 0)) return;
    this._pingTimer = setTimeout(() => this.drop('ping timeout'), this.pingInterval + this.pingTimeout);
  }

  /** One Engine.IO packet from the server. */
  _packet(p) {
    if (this.state !== 'open') return;
    switch (p[0]) {
      case EIO.PING:
        this._resetPingTimer();
        this.send(EIO.PONG);
        return;
      case EIO.MESSAGE:
        if (this._onPacket) this._onPacket(p.slice(1));
        else this._inbox.push(p.slice(1));
        return;
      case EIO.CLOSE:
        this._closed('transport close');
        return;
      case EIO.PONG:
      case EIO.NOOP:
      case EIO.UPGRADE:
      case EIO.OPEN:
        return;
      default:
        this._closed('parse error');
    }
  }

  /** Sends one Engine.IO packet (e.g. "40/ns,{}"); dropped when not open. */
  send(packet) {
    if (this.state !== 'open') return false;
    if (this.transport === 'websocket') {
      try {
        this._ws.send(packet);
      } catch {
        this._closed('transport error');
        return false;
      }
      return true;
    }
    this._wbuf.push(packet);
    this._flush();
    return true;
  }

  /** Closes cleanly (Engine.IO close packet), without calling onClose. */
  close() {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    this._onClose = null;
    this._onPacket = null;
    if (this.transport === 'polling' && wasOpen) {
      // what is still queued (a DISCONNECT) and the close packet, after a POST in flight
      const body = encodePayload([...this._wbuf, EIO.CLOSE]);
      this._wbuf = [];
      const url = withQuery(this._base(), { EIO: 4, transport: 'polling', sid: this.sid, t: cacheBuster() });
      const post = () =>
        this._fetchText(url, { method: 'POST', body, headers: { 'Content-Type': 'text/plain;charset=UTF-8' } }).catch(() => {});
      (this._postDone || Promise.resolve()).then(post, post);
      this._keepPost = true;
    } else if (this.transport === 'websocket' && wasOpen) {
      try {
        this._ws.send(EIO.CLOSE);
      } catch {
        // closing anyway
      }
    }
    this._closed('io client disconnect');
  }

  /** Drops the transport at once, as a network cut would; onClose gets reason. */
  drop(reason = 'transport close') {
    this._closed(reason);
  }

  _closed(reason) {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this._pingTimer);
    this._pingTimer = null;
    this._pollAbort?.abort();
    if (!this._keepPost) this._postAbort?.abort();
    this._wbuf = [];
    if (this._failOpen) this._failOpen(new Error('engine.io: closed while opening'));
    if (this._ws) {
      const ws = this._ws;
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      try {
        ws.onerror = () => {}; // `ws` (Node) emits an error event when closed while connecting
        ws.close();
      } catch {
        // already closed
      }
    }
    const cb = this._onClose;
    this._onClose = null;
    this._onPacket = null;
    if (cb) cb(reason);
    else this._closeReason = reason;
  }

  _openWS() {
    return new Promise((resolve, reject) => {
      const WS = this.o.WebSocket;
      if (typeof WS !== 'function') {
        this.state = 'closed';
        reject(new Error('engine.io: no WebSocket implementation (pass options.WebSocket)'));
        return;
      }
      const url = withQuery(this._base().replace(/^http/i, 'ws'), { EIO: 4, transport: 'websocket' });
      let ws;
      try {
        const headers = this.o.headers;
        ws = headers && Object.keys(headers).length ? new WS(url, [], { headers }) : new WS(url);
      } catch (err) {
        this.state = 'closed';
        reject(err);
        return;
      }
      this._ws = ws;
      let settled = false;
      this._failOpen = (err) => fail(err);
      const timer = setTimeout(() => fail(new Error('engine.io: websocket handshake timed out')), this.o.timeout ?? 20_000);
      const fail = (err) => {
        this._failOpen = null;
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this._onClose = null;
        this._closed('transport error');
        this._closeReason = null;
        reject(err);
      };
      ws.onmessage = (ev) => {
        const data = ev.data;
        if (typeof data !== 'string') return; // binary attachments are not supported
        if (!settled) {
          try {
            this._handshake(data);
          } catch (err) {
            fail(err);
            return;
          }
          settled = true;
          this._failOpen = null;
          clearTimeout(timer);
          resolve();
          return;
        }
        this._packet(data);
      };
      ws.onerror = () => {
        if (!settled) fail(new Error('engine.io: websocket error'));
        else this._closed('transport error');
      };
      ws.onclose = (ev) => {
        if (!settled) fail(new Error(`engine.io: websocket closed before the handshake (code ${ev?.code})`));
        else this._closed('transport close');
      };
    });
  }

  async _fetchText(url, init, signal) {
    const f = this.o.fetch;
    if (typeof f !== 'function') throw new Error('engine.io: no fetch implementation (pass options.fetch)');
    const res = await f(url, {
      ...init,
      headers: { ...init.headers, ...this.o.headers },
      credentials: this.o.withCredentials === false ? 'same-origin' : 'include',
      signal,
    });
    const text = await res.text();
    if (!res.ok) {
      const err = new Error(`engine.io: HTTP ${res.status}: ${text.slice(0, 200)}`);
      err.status = res.status;
      throw err;
    }
    return text;
  }

  async _openPolling() {
    const abort = new AbortController();
    this._pollAbort = abort;
    const timer = setTimeout(() => abort.abort(), this.o.timeout ?? 20_000);
    let packets;
    try {
      const text = await this._fetchText(
        withQuery(this._base(), { EIO: 4, transport: 'polling', t: cacheBuster() }),
        { method: 'GET', headers: { Accept: 'text/plain' } },
        abort.signal,
      );
      packets = decodePayload(text);
      this._handshake(packets[0]);
    } catch (err) {
      this.state = 'closed';
      throw err;
    } finally {
      clearTimeout(timer);
    }
    for (const p of packets.slice(1)) this._packet(p);
    this._pollLoop();
  }

  async _pollLoop() {
    while (this.state === 'open') {
      const abort = new AbortController();
      this._pollAbort = abort;
      let text;
      try {
        text = await this._fetchText(
          withQuery(this._base(), { EIO: 4, transport: 'polling', sid: this.sid, t: cacheBuster() }),
          { method: 'GET', headers: { Accept: 'text/plain' } },
          abort.signal,
        );
      } catch {
        this._closed('transport error');
        return;
      }
      if (this.state !== 'open') return;
      let packets;
      try {
        packets = decodePayload(text);
      } catch {
        this._closed('parse error');
        return;
      }
      for (const p of packets) {
        this._packet(p);
        if (this.state !== 'open') return;
      }
    }
  }

  async _flush() {
    if (this._posting || this._wbuf.length === 0 || this.state !== 'open') return;
    const body = encodePayload(this._wbuf);
    this._wbuf = [];
    this._posting = true;
    const abort = new AbortController();
    this._postAbort = abort;
    let done;
    this._postDone = new Promise((resolve) => (done = resolve));
    try {
      await this._fetchText(
        withQuery(this._base(), { EIO: 4, transport: 'polling', sid: this.sid, t: cacheBuster() }),
        { method: 'POST', body, headers: { 'Content-Type': 'text/plain;charset=UTF-8' } },
        abort.signal,
      );
    } catch {
      this._posting = false;
      done();
      this._closed('transport error');
      return;
    }
    this._posting = false;
    done();
    this._flush();
  }
}

// ---------------------------------------------------------------------------------------------
// Socket.IO client with recovery, reconnection and reference-counted subscriptions

/** Subscription events and their inverse. */
export const SUBSCRIPTIONS = Object.freeze({
  doc_subscribe: 'doc_unsubscribe',
  doctype_subscribe: 'doctype_unsubscribe',
  doc_open: 'doc_close',
  task_subscribe: 'task_unsubscribe',
});

const RESERVED = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);

const subKey = (event, args) => event + '\u0000' + JSON.stringify(args);

/** The subscription key of a livedoc room name (for livedoc_error "unsubscribed"). */
function roomKey(room) {
  if (typeof room !== 'string') return null;
  const i = room.indexOf(':');
  if (i < 0) return null;
  const kind = room.slice(0, i);
  const rest = room.slice(i + 1);
  const two = () => {
    const j = rest.indexOf('/');
    return j < 0 ? null : [rest.slice(0, j), rest.slice(j + 1)];
  };
  switch (kind) {
    case 'doctype':
      return subKey('doctype_subscribe', [rest]);
    case 'task_progress':
      return subKey('task_subscribe', [rest]);
    case 'doc': {
      const a = two();
      return a && subKey('doc_subscribe', a);
    }
    case 'open_doc': {
      const a = two();
      return a && subKey('doc_open', a);
    }
  }
  return null;
}

/**
 * The realtime side of a Livedoc: a Socket.IO socket on namespace "/<site>" that reconnects
 * forever, recovers its session when the server allows, and keeps reference-counted
 * subscriptions. Server events and connection-state events (connect, disconnect, reconnecting,
 * resync, connect_error) are delivered on this emitter.
 */
export class Realtime extends Emitter {
  constructor(o = {}) {
    super();
    this._o = o;
    this.nsp = o.site ? '/' + String(o.site).replace(/^\/+/, '') : '/';
    this._transports = o.transports?.length ? [...o.transports] : ['websocket', 'polling'];
    this._backoff = { ...DEFAULT_BACKOFF, ...o.backoff };
    this._timeout = o.timeout ?? 20_000;
    this._state = 'disconnected'; // disconnected | connecting | connected
    this._wanted = false;
    this._engine = null;
    this._gen = 0; // bumped by every open and disconnect(): stale async work checks it
    this._attempt = 0;
    this._reconnectTimer = null;
    this._connectTimer = null;
    this._sid = null;
    this._pid = null;
    this._offset = undefined;
    this._recovered = false;
    this._hadSession = false;
    this._needResync = false;
    this._ackId = 0;
    this._acks = new Map();
    this._sendBuffer = [];
    this._early = [];
    this._subs = new Map();
    this._any = [];
    this.transport = null;
  }

  /** True while the namespace is connected. */
  get connected() {
    return this._state === 'connected';
  }
  /** The socket id of the current connection. */
  get id() {
    return this._state === 'connected' ? this._sid : undefined;
  }
  /** The recovery session id the server gave ("" when it does not offer recovery). */
  get pid() {
    return this._pid ?? undefined;
  }
  /** The last offset recorded (the last string argument of an event while a pid is known). */
  get lastOffset() {
    return this._offset;
  }
  /** Whether the last connection recovered the previous session. */
  get recovered() {
    return this._recovered;
  }
  /** The current reference counts: [{event, args, count}]. */
  subscriptions() {
    return [...this._subs.values()].filter((e) => e.count > 0).map((e) => ({ event: e.event, args: [...e.args], count: e.count }));
  }

  /** Listens to every server event: cb(event, ...args) (offset stripped). */
  onAny(cb) {
    this._any.push(cb);
    return this;
  }
  offAny(cb) {
    this._any = cb ? this._any.filter((f) => f !== cb) : [];
    return this;
  }

  /** Opens the socket (no-op when already connected or connecting). */
  connect() {
    this._wanted = true;
    this._watchNetwork(true);
    if (this._state === 'disconnected' && !this._reconnectTimer) this._open();
    return this;
  }

  /**
   * In a browser, follows the network: going offline drops the transport at once (a connection
   * through a dead network would only be noticed at the ping timeout), and coming back online
   * reconnects at once instead of waiting out the backoff. Recovery then brings what was missed.
   */
  _watchNetwork(on) {
    const g = globalThis;
    if (typeof g.addEventListener !== 'function' || typeof g.navigator?.onLine !== 'boolean') return;
    if (!this._onOffline) {
      this._onOffline = () => this._engine?.drop('transport close');
      this._onOnline = () => {
        if (!this._wanted || this._state !== 'disconnected') return;
        clearTimeout(this._reconnectTimer);
        this._reconnectTimer = null;
        this._attempt = 0;
        this._open();
      };
    }
    const method = on ? 'addEventListener' : 'removeEventListener';
    g[method]('offline', this._onOffline);
    g[method]('online', this._onOnline);
  }

  /** Closes the socket and stops reconnecting; subscriptions are kept for a later connect(). */
  disconnect() {
    this._wanted = false;
    this._watchNetwork(false);
    this._gen++;
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    clearTimeout(this._connectTimer);
    const engine = this._engine;
    this._engine = null;
    const was = this._state;
    this._state = 'disconnected';
    this.transport = null;
    if (engine) {
      if (was === 'connected') engine.send(EIO.MESSAGE + encodePacket({ type: SIO.DISCONNECT, nsp: this.nsp }));
      engine.close();
    }
    this._lost(new Error('disconnected: io client disconnect'));
    if (was === 'connected') this._fire('disconnect', { reason: 'io client disconnect' });
    return this;
  }

  /** Test hook: drops the transport with no goodbye, as a network cut would; then reconnects. */
  _dropTransport() {
    this._engine?.drop('transport close');
  }

  /** Sends an event (buffered while disconnected). A function last is an ack callback. */
  emit(event, ...args) {
    if (RESERVED.has(event)) throw new Error(`"${event}" is a reserved event name`);
    let cb = null;
    if (typeof args[args.length - 1] === 'function') {
      const fn = args.pop();
      cb = (err, ackArgs) => {
        if (!err) fn(...ackArgs);
      };
    }
    this._send(event, args, cb);
    return this;
  }

  /** Sends an event and resolves with the server's acknowledgement (its first argument). */
  emitWithAck(event, ...args) {
    if (RESERVED.has(event)) return Promise.reject(new Error(`"${event}" is a reserved event name`));
    return new Promise((resolve, reject) => {
      this._send(event, args, (err, ackArgs) => (err ? reject(err) : resolve(ackArgs[0])));
    });
  }

  doc_subscribe(doctype, name) {
    return this._subscribe('doc_subscribe', [doctype, name]);
  }
  doc_unsubscribe(doctype, name) {
    return this._unsubscribe('doc_subscribe', [doctype, name]);
  }
  doctype_subscribe(doctype) {
    return this._subscribe('doctype_subscribe', [doctype]);
  }
  doctype_unsubscribe(doctype) {
    return this._unsubscribe('doctype_subscribe', [doctype]);
  }
  doc_open(doctype, name) {
    return this._subscribe('doc_open', [doctype, name]);
  }
  doc_close(doctype, name) {
    return this._unsubscribe('doc_open', [doctype, name]);
  }
  task_subscribe(id) {
    return this._subscribe('task_subscribe', [id]);
  }
  task_unsubscribe(id) {
    return this._unsubscribe('task_subscribe', [id]);
  }

  // -- connection ------------------------------------------------------------------------------

  async _open() {
    this._state = 'connecting';
    const gen = ++this._gen;
    let lastErr;
    for (const transport of this._transports) {
      const engine = new Engine({
        url: this._o.url,
        path: this._o.path,
        WebSocket: this._o.WebSocket,
        fetch: this._o.fetch,
        headers: this._o.headers,
        timeout: this._timeout,
        withCredentials: this._o.withCredentials,
      });
      this._engine = engine;
      try {
        await engine.open(transport);
      } catch (err) {
        lastErr = err;
        if (gen !== this._gen) return;
        continue;
      }
      if (gen !== this._gen) {
        engine.close();
        return;
      }
      this.transport = transport;
      this._attach(engine, gen);
      return;
    }
    this._engine = null;
    this._state = 'disconnected';
    this._fire('connect_error', { message: lastErr?.message ?? 'connection failed', error: lastErr });
    this._scheduleReconnect();
  }

  _auth() {
    let auth = typeof this._o.auth === 'function' ? this._o.auth() : this._o.auth;
    auth = auth && typeof auth === 'object' ? { ...auth } : {};
    if (this._o.token && auth.token === undefined) auth.token = stripScheme(this._o.token);
    if (this._pid) auth = Object.assign({ pid: this._pid, offset: this._offset }, auth);
    return auth;
  }

  _attach(engine, gen) {
    this._early = [];
    engine.listen(
      (p) => this._onPacket(engine, p),
      (reason) => this._onClose(engine, reason),
    );
    if (this._engine !== engine) return;
    const auth = this._auth();
    const data = Object.keys(auth).length || this._pid ? auth : undefined;
    engine.send(EIO.MESSAGE + encodePacket({ type: SIO.CONNECT, nsp: this.nsp, data }));
    clearTimeout(this._connectTimer);
    this._connectTimer = setTimeout(() => {
      if (this._engine === engine && this._state === 'connecting' && gen === this._gen) engine.drop('timeout');
    }, this._timeout);
  }

  _onPacket(engine, str) {
    if (engine !== this._engine) return;
    let p;
    try {
      p = decodePacket(str);
    } catch {
      engine.drop('parse error');
      return;
    }
    if (p.nsp !== this.nsp) return;
    switch (p.type) {
      case SIO.CONNECT:
        if (this._state === 'connecting') this._onConnect(engine, p.data || {});
        return;
      case SIO.CONNECT_ERROR: {
        const d = p.data;
        const message = typeof d === 'string' ? d : d?.message ?? 'connect error';
        this._fire('connect_error', { message, data: d?.data });
        engine.drop(this._state === 'connected' ? 'io server disconnect' : 'connect error');
        return;
      }
      case SIO.EVENT:
        if (this._state === 'connecting') this._early.push(p);
        else this._onEvent(engine, p);
        return;
      case SIO.ACK: {
        const cb = this._acks.get(p.id);
        if (cb) {
          this._acks.delete(p.id);
          cb(null, p.data);
        }
        return;
      }
      case SIO.DISCONNECT:
        engine.drop('io server disconnect');
        return;
    }
  }

  _onConnect(engine, data) {
    clearTimeout(this._connectTimer);
    const pid = typeof data.pid === 'string' && data.pid ? data.pid : null;
    const recovered = !!(pid && pid === this._pid);
    this._pid = pid;
    this._sid = data.sid;
    this._recovered = recovered;
    if (!recovered) this._offset = undefined; // a fresh session: nothing received in it yet
    this._state = 'connected';
    this._attempt = 0;
    const gen = this._gen;
    // events that came before the CONNECT answer (a recovered session's missed packets)
    const early = this._early;
    this._early = [];
    for (const p of early) {
      if (this._engine !== engine) return;
      this._onEvent(engine, p);
    }
    if (this._engine !== engine) return;
    if (!recovered) {
      for (const e of this._subs.values()) {
        e.joined = false;
        e.acked = false;
      }
      if (this._hadSession) this._needResync = true;
    }
    this._hadSession = true;
    const joins = this._reconcile();
    const buffered = this._sendBuffer;
    this._sendBuffer = [];
    for (const m of buffered) this._write(m.event, m.args, m.cb);
    this._fire('connect', { recovered });
    if (this._needResync) {
      Promise.all(joins).then(() => {
        if (this._gen === gen && this._engine === engine && this._state === 'connected' && this._needResync) {
          this._needResync = false;
          this._fire('resync');
        }
      });
    }
  }

  _onEvent(engine, p) {
    const data = p.data;
    const event = data[0];
    let args = data.slice(1);
    // socket.io-client: while a pid is known, a string last in [event, ...args] of an event that
    // asks no ack is the recovery offset. livedoc does not pass it to the listeners.
    if (this._pid && p.id === undefined) {
      const last = data[data.length - 1];
      if (typeof last === 'string') {
        this._offset = last;
        if (args.length) args = args.slice(0, -1);
      }
    }
    if (event === 'livedoc_error') {
      // a subscription the server took away (lost permission) is no longer joined
      const m = args[0];
      if (m && m.event === 'unsubscribed') {
        const e = this._subs.get(roomKey(m.room));
        if (e) {
          e.joined = false;
          e.acked = false;
        }
      }
    }
    if (p.id !== undefined) {
      let sent = false;
      args.push((...ackArgs) => {
        if (sent || this._engine !== engine) return;
        sent = true;
        engine.send(EIO.MESSAGE + encodePacket({ type: SIO.ACK, nsp: this.nsp, id: p.id, data: ackArgs }));
      });
    }
    for (const cb of [...this._any]) {
      try {
        cb(event, ...args);
      } catch (err) {
        report(err);
      }
    }
    this._fire(event, ...args);
  }

  _onClose(engine, reason) {
    if (engine !== this._engine) return;
    this._engine = null;
    clearTimeout(this._connectTimer);
    const was = this._state;
    this._state = 'disconnected';
    this.transport = null;
    this._lost(new Error('disconnected: ' + reason));
    if (was === 'connected') this._fire('disconnect', { reason });
    if (this._wanted && reason !== 'io server disconnect') this._scheduleReconnect();
    else this._wanted = false;
  }

  /** The connection is gone: pending acks fail, joins not acknowledged are sent again later. */
  _lost(err) {
    const acks = this._acks;
    this._acks = new Map();
    for (const cb of acks.values()) cb(err);
    for (const e of this._subs.values()) {
      if (e.joined && !e.acked) e.joined = false;
    }
  }

  _scheduleReconnect() {
    if (!this._wanted || this._reconnectTimer) return;
    const attempt = ++this._attempt;
    const delay = backoffDelay(attempt, this._backoff);
    this._reconnectTimer = setTimeout(() => {
      this._reconnectTimer = null;
      if (this._wanted && this._state === 'disconnected') this._open();
    }, delay);
    this._fire('reconnecting', { attempt, delay });
  }

  // -- sending ---------------------------------------------------------------------------------

  _send(event, args, cb) {
    if (this._state !== 'connected') {
      this._sendBuffer.push({ event, args, cb });
      return;
    }
    this._write(event, args, cb);
  }

  _write(event, args, cb) {
    const engine = this._engine;
    if (!engine || this._state !== 'connected') {
      this._sendBuffer.push({ event, args, cb });
      return;
    }
    let id;
    if (cb) {
      id = this._ackId++;
      this._acks.set(id, cb);
    }
    engine.send(EIO.MESSAGE + encodePacket({ type: SIO.EVENT, nsp: this.nsp, id, data: [event, ...args] }));
  }

  // -- subscriptions ---------------------------------------------------------------------------

  _subscribe(event, args) {
    const key = subKey(event, args);
    let e = this._subs.get(key);
    if (!e) {
      e = { key, event, unevent: SUBSCRIPTIONS[event], args, count: 0, joined: false, acked: false, waiters: [], result: null };
      this._subs.set(key, e);
    }
    e.count++;
    if (e.joined && e.acked) return Promise.resolve(e.result);
    const p = new Promise((resolve, reject) => e.waiters.push({ resolve, reject }));
    if (!e.joined && this._state === 'connected') this._join(e);
    return p;
  }

  /** Sends e's subscribe; resolves (never rejects) once it is answered or the connection lost. */
  _join(e) {
    e.joined = true;
    e.acked = false;
    return new Promise((done) => {
      this._write(e.event, e.args, (err, ackArgs) => {
        done();
        if (err) return; // connection lost: joined again on reconnection
        const ack = ackArgs[0];
        const current = this._subs.get(e.key) === e;
        const waiters = e.waiters;
        if (ack && typeof ack === 'object' && ack.error !== undefined) {
          e.waiters = [];
          if (current) {
            e.joined = false;
            this._subs.delete(e.key);
          }
          const error = new Error(String(ack.error));
          error.ack = ack;
          error.event = e.event;
          error.args = [...e.args];
          for (const w of waiters) w.reject(error);
          return;
        }
        const result = ack ?? { ok: true };
        if (current && e.joined) {
          e.acked = true;
          e.result = result;
          e.waiters = [];
          for (const w of waiters) w.resolve(result);
        } else if (!current) {
          e.waiters = [];
          for (const w of waiters) w.resolve(result);
        }
      });
    });
  }

  _unsubscribe(event, args) {
    const key = subKey(event, args);
    const e = this._subs.get(key);
    if (!e || e.count === 0) return Promise.resolve({ ok: true });
    e.count--;
    if (e.count > 0) return Promise.resolve({ ok: true });
    // the last reference
    if (!(e.joined && !e.acked)) {
      // no subscribe in flight: callers still waiting (subscribed while offline) are done
      const waiters = e.waiters;
      e.waiters = [];
      for (const w of waiters) w.resolve({ ok: true });
    }
    if (this._state === 'connected') {
      this._subs.delete(key);
      if (!e.joined) return Promise.resolve({ ok: true });
      e.joined = false;
      e.acked = false;
      return new Promise((resolve) => {
        this._write(e.unevent, e.args, (err, ackArgs) => resolve(err ? { ok: true } : ackArgs[0] ?? { ok: true }));
      });
    }
    // offline: a recovered session still has the room; the reconnection sends the unsubscribe
    if (!e.joined) this._subs.delete(key);
    return Promise.resolve({ ok: true });
  }

  /** Brings the server's subscriptions in line with the counts; returns the joins' promises. */
  _reconcile() {
    const joins = [];
    for (const e of [...this._subs.values()]) {
      if (e.count > 0) {
        if (!e.joined) joins.push(this._join(e));
      } else {
        this._subs.delete(e.key);
        if (e.joined) this._write(e.unevent, e.args, null);
      }
    }
    return joins;
  }
}

function stripScheme(token) {
  const t = String(token).trim();
  return t.toLowerCase().startsWith('token ') ? t.slice(6).trim() : t;
}

function authorizationHeader(token) {
  const t = String(token).trim();
  if (/^(token|basic|bearer)\s/i.test(t)) return t;
  return 'token ' + t;
}

// ---------------------------------------------------------------------------------------------
// Livedoc: REST + realtime

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function encodeQuery(query) {
  const parts = [];
  for (const [k, v] of Object.entries(query || {})) {
    if (v === undefined || v === null) continue;
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(s));
  }
  return parts.join('&');
}

const enc = encodeURIComponent;

/**
 * A livedoc client: `ld.realtime` (Socket.IO), `ld.call`, `ld.db`. See docs/js-client.md.
 */
/**
 * A live document: cb(doc) with the document as the user may read it, at once and after every
 * change, for as long as it is watched. The server answers doc_subscribe(doctype, name,
 * {snapshot: true}) with the document and the log offset it is as of; each later doc_update says
 * what changed and from which version (prev_modified), and the copy is patched with no read. A
 * change that comes without `changed` (too big, or fields not every reader sees), or that does not
 * apply to this copy's version, or a session that could not be recovered, costs one GET; an update
 * to a version the copy has already is skipped. onError(err) hears a read that failed (the
 * document is missing, or not readable). Returns stop(); stop.saved(answer) hands the copy the
 * version the app writes itself (its save's answer, or a promise of it: updates wait for it), so
 * the update that save causes costs nothing.
 */
function liveDoc(ld, doctype, name, cb, onError) {
  const rt = ld.realtime;
  const args = [doctype, name, { snapshot: true }];
  let doc = null;
  let since = -1; // the snapshot's offset: what is at or below it is in the copy already
  let stopped = false;
  let reading = null;
  const emit = () => {
    if (!stopped && doc) cb(doc);
  };
  const read = () => {
    reading ||= ld.db.get(doctype, name).then(
      (d) => {
        reading = null;
        doc = d;
        emit();
      },
      (err) => {
        reading = null;
        if (stopped) return;
        if (onError) onError(err);
        else report(err);
      },
    );
  };
  let saving = null; // the app's own save in flight: updates wait for its answer
  let held = [];
  const apply = (m, offset) => {
    if (since >= 0 && offset <= since) return;
    if (doc && m.modified && m.modified <= doc.modified) return; // a version the copy has
    if (doc && m.changed && m.prev_modified === doc.modified) {
      doc = { ...doc, ...m.changed };
      emit();
    } else {
      read();
    }
  };
  const onUpdate = (m) => {
    if (stopped || !m || m.doctype !== doctype || m.name !== name) return;
    const offset = Number(rt.lastOffset);
    if (saving) held.push([m, offset]);
    else apply(m, offset);
  };
  const onResync = () => {
    since = -1;
    read();
  };
  rt.on('doc_update', onUpdate);
  rt.on('resync', onResync);
  rt._subscribe('doc_subscribe', args).then(
    (ack) => {
      if (stopped || !ack || !ack.doc) return;
      if (doc && doc.modified > ack.doc.modified) return; // saved() gave a newer one meanwhile
      doc = ack.doc;
      since = Number(ack.offset);
      emit();
    },
    () => read(),
  );
  const stop = () => {
    if (stopped) return;
    stopped = true;
    rt.off('doc_update', onUpdate);
    rt.off('resync', onResync);
    rt._unsubscribe('doc_subscribe', args).catch(() => {});
  };
  stop.saved = (answer) => {
    const mine = Promise.resolve(answer).then(
      (d) => {
        if (!stopped && d && (!doc || !(doc.modified > d.modified))) doc = d;
      },
      () => {},
    );
    saving = mine;
    mine.then(() => {
      if (saving !== mine) return;
      saving = null;
      const waiting = held;
      held = [];
      for (const [m, offset] of waiting) if (!stopped) apply(m, offset);
    });
  };
  return stop;
}

/**
 * A live list: cb(rows) with the rows a frappe.client.get_list-shaped query returns for the user,
 * at once and after every change, for as long as it is watched. The server answers
 * list_subscribe(query) with the rows and the log offset they are as of, then sends list_change
 * events (insert, update, remove, move, with the index) that keep the copy equal to the query's
 * answer; nothing is read again. After a reconnection that recovered the session the list
 * resumes: the server sends the changes it held meanwhile, in order. When it cannot (another node,
 * too long away, a fresh session) the list starts from a fresh snapshot. onError(err) hears a
 * refused query. Returns stop().
 */
function liveList(ld, query, cb, onError) {
  const rt = ld.realtime;
  let rows = null;
  let id = null; // the subscription's id
  let received = 0; // list_change received for id: a resume must have had them all
  let gen = 0; // bumped by every subscribe and by stop: stale answers are dropped
  let stopped = false;
  const emit = () => {
    if (!stopped && rows) cb(rows.slice());
  };
  const at = (name) => rows.findIndex((r) => r.name === name);
  const onChange = (m) => {
    if (stopped || !m || m.id !== id || !rows) return;
    received++;
    const i = at(m.name);
    switch (m.op) {
      case 'remove':
        if (i >= 0) rows.splice(i, 1);
        break;
      case 'insert':
        rows.splice(m.index, 0, m.row);
        break;
      case 'update':
        if (i >= 0) rows[i] = m.row;
        break;
      case 'move': {
        if (i < 0) break;
        const [row] = rows.splice(i, 1);
        rows.splice(m.index, 0, m.row ?? row);
        break;
      }
      default:
        return;
    }
    emit();
  };
  const subscribe = (resume) => {
    const mine = ++gen;
    const args = resume && id ? { ...query, resume: id, received } : query;
    id = null;
    // The ack is handled as it arrives, before any list_change that follows it on the wire.
    rt._send('list_subscribe', [args], (err, ackArgs) => {
      if (err || stopped || mine !== gen) return;
      const ack = ackArgs[0];
      if (ack && ack.resumed === true && args.resume === ack.id && rows) {
        id = ack.id; // the changes held meanwhile follow
        return;
      }
      if (!ack || ack.error !== undefined || !Array.isArray(ack.rows)) {
        const error = new Error(String(ack?.error ?? 'list_subscribe failed'));
        error.ack = ack;
        if (onError) onError(error);
        else report(error);
        return;
      }
      id = ack.id;
      received = 0;
      rows = ack.rows.slice();
      emit();
    });
  };
  // A recovered session may still hold the list; else the server forgot it with the old session.
  const onConnect = (e) => subscribe(!!e?.recovered);
  rt.on('list_change', onChange);
  rt.on('connect', onConnect);
  if (rt.connected) subscribe(false);
  return () => {
    if (stopped) return;
    stopped = true;
    gen++;
    rt.off('list_change', onChange);
    rt.off('connect', onConnect);
    if (id && rt.connected) rt._send('list_unsubscribe', [id], () => {});
  };
}

export class Livedoc {
  /**
   * @param {object} [options]
   * @param {string} [options.url]         server origin (default location.origin)
   * @param {string} [options.site]        namespace "/<site>" ('' for "/"); default "livedoc"
   * @param {string} [options.csrfToken]   X-Frappe-CSRF-Token on unsafe requests
   * @param {string} [options.token]       "key:secret" API key auth (REST header + socket auth)
   * @param {string[]} [options.transports] ['websocket', 'polling']
   * @param {boolean} [options.connect]    open the socket now (default true)
   */
  constructor(options = {}) {
    const g = globalThis;
    const url = options.url ?? g.location?.origin;
    if (!url) throw new Error('livedoc: options.url is required outside a browser');
    this.url = String(url).replace(/\/+$/, '');
    this.site = options.site ?? 'livedoc';
    this.csrfToken = options.csrfToken ?? (typeof g.csrf_token === 'string' ? g.csrf_token : undefined);
    this.token = options.token;
    this.user = options.user;
    this.headers = { ...options.headers };
    const f = options.fetch ?? g.fetch;
    this._fetch = f ? (...a) => f.call(g, ...a) : undefined;
    this._withCredentials = options.withCredentials !== false;
    const self = this;
    this.realtime = new Realtime({
      url: this.url,
      site: this.site,
      path: options.path,
      transports: options.transports,
      WebSocket: options.WebSocket ?? g.WebSocket,
      fetch: this._fetch,
      headers: options.headers,
      timeout: options.timeout,
      backoff: options.backoff,
      withCredentials: options.withCredentials,
      get token() {
        return self.token;
      },
      auth: options.auth,
    });
    this.db = {
      get: (doctype, name) => this.request('GET', `/api/resource/${enc(doctype)}/${enc(name)}`).then((r) => r.data),
      insert: (doc) => {
        if (!doc || !doc.doctype) return Promise.reject(new TypeError('ld.db.insert: doc.doctype is required'));
        return this.request('POST', `/api/resource/${enc(doc.doctype)}`, { body: doc }).then((r) => r.data);
      },
      save: (doc) => {
        if (!doc || !doc.doctype || !doc.name) return Promise.reject(new TypeError('ld.db.save: doc.doctype and doc.name are required'));
        return this.request('PUT', `/api/resource/${enc(doc.doctype)}/${enc(doc.name)}`, { body: doc }).then((r) => r.data);
      },
      submit: (doc) => this.request('POST', '/api/method/frappe.client.submit', { body: { doc } }).then((r) => r.message),
      cancel: (doctype, name) =>
        this.request('POST', '/api/method/frappe.client.cancel', { body: { doctype, name } }).then((r) => r.message),
      delete: (doctype, name) => this.request('DELETE', `/api/resource/${enc(doctype)}/${enc(name)}`).then((r) => r.message),
      list: (doctype, { fields, filters, or_filters, order_by, limit_start, limit_page_length, limit } = {}) =>
        this.request('GET', `/api/resource/${enc(doctype)}`, {
          query: { fields, filters, or_filters, order_by, limit_start, limit_page_length: limit_page_length ?? limit },
        }).then((r) => r.data),
      count: (doctype, filters) =>
        this.request('GET', '/api/method/frappe.client.get_count', { query: { doctype, filters } }).then((r) => r.message),
    };
    /** Live values that follow the server without re-reading it: see liveDoc. */
    this.live = {
      doc: (doctype, name, cb, onError) => liveDoc(this, doctype, name, cb, onError),
      list: (query, cb, onError) => liveList(this, query, cb, onError),
    };
    if (options.connect !== false) this.realtime.connect();
  }

  /**
   * A raw REST request: resolves with the parsed JSON body, rejects with a LivedocError.
   * @param {string} method
   * @param {string} path   e.g. "/api/method/ping"
   * @param {{query?: object, body?: any, headers?: object}} [opts]
   */
  async request(method, path, { query, body, headers } = {}) {
    method = method.toUpperCase();
    if (!this._fetch) throw new LivedocError('livedoc: no fetch implementation (pass options.fetch)');
    let url = this.url + path;
    const qs = encodeQuery(query);
    if (qs) url += (url.includes('?') ? '&' : '?') + qs;
    const h = { Accept: 'application/json', ...this.headers, ...headers };
    if (body !== undefined) h['Content-Type'] = 'application/json';
    if (this.token) h.Authorization = authorizationHeader(this.token);
    if (!SAFE_METHODS.has(method) && this.csrfToken) h['X-Frappe-CSRF-Token'] = this.csrfToken;
    let res;
    try {
      res = await this._fetch(url, {
        method,
        headers: h,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: this._withCredentials ? 'include' : 'same-origin',
      });
    } catch (err) {
      throw new LivedocError(`livedoc: ${method} ${path}: ${err?.message ?? err}`, { status: 0, excType: 'NetworkError', cause: err });
    }
    const text = await res.text();
    let data;
    try {
      data = text ? JSON.parse(text) : {};
    } catch {
      data = text;
    }
    if (!res.ok) throw parseError(res.status, data);
    return data && typeof data === 'object' ? data : { message: data };
  }

  /** Calls a whitelisted method: POST /api/method/<method>; resolves with `message`. */
  call(method, args) {
    return this.request('POST', `/api/method/${method}`, { body: args ?? {} }).then((r) => r.message);
  }

  /**
   * Logs in with a cookie session (POST /api/method/login); keeps the CSRF token and the user,
   * and reconnects the socket so it runs as that user.
   */
  async login(usr, pwd) {
    const r = await this.request('POST', '/api/method/login', { body: { usr, pwd } });
    if (r.csrf_token) this.csrfToken = r.csrf_token;
    this.user = usr;
    this._restartSocket();
    return r;
  }

  /** Ends the cookie session and reconnects the socket as Guest. */
  async logout() {
    const r = await this.request('POST', '/api/method/logout');
    this.csrfToken = undefined;
    this.user = 'Guest';
    this._restartSocket();
    return r;
  }

  _restartSocket() {
    const rt = this.realtime;
    if (rt._wanted || rt.connected) {
      rt.disconnect();
      rt.connect();
    }
  }

  /** The session user (GET frappe.auth.get_logged_user); remembered in `ld.user`. */
  async getLoggedUser() {
    const r = await this.request('GET', '/api/method/frappe.auth.get_logged_user');
    this.user = r.message;
    return r.message;
  }
}

// ---------------------------------------------------------------------------------------------
// Frappe compatibility

function formatMessage(msg) {
  if (msg === undefined || msg === null) return '';
  if (typeof msg === 'string') return msg;
  if (typeof msg === 'object') return msg.message !== undefined ? String(msg.message) : JSON.stringify(msg);
  return String(msg);
}

/**
 * Defines `win.frappe` (merged into an existing object) on top of ld, so code written for
 * Frappe's desk runs unchanged. Returns the frappe object.
 * @param {Livedoc} ld
 * @param {object} [win]  the global object (window); globalThis by default
 * @param {{user?: string}} [opts]
 */
export function installFrappe(ld, win = globalThis, opts = {}) {
  const frappe = win.frappe && typeof win.frappe === 'object' ? win.frappe : {};
  win.frappe = frappe;
  const rt = ld.realtime;

  frappe.livedoc = ld;

  // -- realtime
  frappe.realtime = {
    socket: rt,
    on: (event, cb) => rt.on(event, cb),
    off: (event, cb) => rt.off(event, cb),
    once: (event, cb) => rt.once(event, cb),
    emit: (event, ...args) => rt.emit(event, ...args),
    doc_subscribe: (doctype, name) => rt.doc_subscribe(doctype, name),
    doc_unsubscribe: (doctype, name) => rt.doc_unsubscribe(doctype, name),
    doctype_subscribe: (doctype) => rt.doctype_subscribe(doctype),
    doctype_unsubscribe: (doctype) => rt.doctype_unsubscribe(doctype),
    doc_open: (doctype, name) => rt.doc_open(doctype, name),
    doc_close: (doctype, name) => rt.doc_close(doctype, name),
    task_subscribe: (id) => rt.task_subscribe(id),
    task_unsubscribe: (id) => rt.task_unsubscribe(id),
    progress_subscribe: (id) => rt.task_subscribe(id),
  };

  // -- messages (the desk replaces these with its UI)
  frappe.msgprint = (msg, title) => {
    const text = formatMessage(msg);
    console.log('[msgprint]' + (title ? ` ${title}:` : ''), text);
    return text;
  };
  frappe.show_alert = (msg) => {
    const text = formatMessage(msg);
    console.log('[alert]', text);
    return text;
  };
  frappe.throw = (msg) => {
    frappe.msgprint(msg);
    throw new Error(formatMessage(msg));
  };
  rt.on('msgprint', (m) => {
    if (m && typeof m === 'object' && m.alert) frappe.show_alert(m);
    else frappe.msgprint(m);
  });

  // -- session
  let user = opts.user ?? ld.user;
  if (!user && typeof win.document?.cookie === 'string') {
    const m = /(?:^|;\s*)user_id=([^;]*)/.exec(win.document.cookie);
    if (m) user = decodeURIComponent(m[1]);
  }
  const session = frappe.session && typeof frappe.session === 'object' ? frappe.session : {};
  frappe.session = session;
  Object.defineProperty(session, 'user', {
    configurable: true,
    enumerable: true,
    get: () => user ?? ld.user ?? 'Guest',
    set: (v) => {
      user = v;
    },
  });
  session.ready =
    user !== undefined && user !== null
      ? Promise.resolve(user)
      : ld.getLoggedUser().then(
          (u) => {
            user = u;
            return u;
          },
          () => session.user,
        );
  Object.defineProperty(frappe, 'csrf_token', {
    configurable: true,
    enumerable: true,
    get: () => ld.csrfToken,
    set: (v) => {
      ld.csrfToken = v;
    },
  });

  // -- calls
  const showServerMessages = (body) => {
    for (const m of parseServerMessages(body && body._server_messages)) {
      if (m.alert) frappe.show_alert(m);
      else frappe.msgprint(m);
    }
  };
  frappe.call = (opts, args) => {
    if (typeof opts === 'string') opts = { method: opts, args };
    opts = opts || {};
    const type = (opts.type || 'POST').toUpperCase();
    const method = opts.method;
    const p = (async () => {
      try {
        const r =
          type === 'GET'
            ? await ld.request('GET', `/api/method/${method}`, { query: opts.args })
            : await ld.request(type, `/api/method/${method}`, { body: opts.args ?? {} });
        showServerMessages(r);
        if (typeof opts.callback === 'function') opts.callback(r);
        if (typeof opts.always === 'function') opts.always(r);
        return r;
      } catch (err) {
        const body = err && typeof err === 'object' && err.response && typeof err.response === 'object' ? err.response : { message: err?.message };
        if (err instanceof LivedocError && err.serverMessages.length) showServerMessages(body);
        else if (!opts.error) frappe.msgprint({ message: err?.message ?? String(err), indicator: 'red', title: 'Error' });
        if (typeof opts.error === 'function') opts.error(body, err);
        if (typeof opts.always === 'function') opts.always(body);
        throw err;
      }
    })();
    p.catch(() => {}); // errors are shown; awaiting the promise still throws
    return p;
  };
  frappe.xcall = (method, args) => ld.call(method, args);

  // -- a few of frappe.db's helpers
  frappe.db = {
    get_doc: (doctype, name) => ld.db.get(doctype, name),
    get_list: (doctype, o = {}) => ld.db.list(doctype, o),
    get_value: (doctype, filters, fieldname) =>
      ld
        .request('GET', '/api/method/frappe.client.get_value', { query: { doctype, filters, fieldname } })
        .then((r) => ({ message: r.message ?? {} })),
    set_value: (doctype, name, fieldname, value) =>
      ld.call('frappe.client.set_value', { doctype, name, fieldname, value }).then((message) => ({ message })),
    insert: (doc) => ld.db.insert(doc),
    count: (doctype, o = {}) => ld.db.count(doctype, o.filters ?? o),
    delete_doc: (doctype, name) => ld.db.delete(doctype, name),
  };

  // -- forms
  frappe.ui = frappe.ui && typeof frappe.ui === 'object' ? frappe.ui : {};
  const handlers = {};
  const form = {
    handlers,
    /** on(doctype, {event: fn, ...}) or on(doctype, event, fn). */
    on(doctype, events, fn) {
      if (typeof events === 'string') events = { [events]: fn };
      if (!events || typeof events !== 'object') throw new TypeError('frappe.ui.form.on: handlers must be an object');
      (handlers[doctype] ||= []).push(events);
    },
    /**
     * Runs the handlers of event for cdt (frm.doctype by default), in registration order, each
     * awaited; resolves with false if one returned false (as validate does to stop a save).
     */
    async trigger(frm, event, cdt, cdn) {
      const doctype = cdt || frm?.doctype;
      let ok = true;
      for (const h of handlers[doctype] || []) {
        const fn = h[event];
        if (typeof fn !== 'function') continue;
        const r = await fn.call(h, frm, cdt || frm?.doctype, cdn || frm?.docname);
        if (r === false) ok = false;
      }
      return ok;
    },
  };
  frappe.ui.form = Object.assign(frappe.ui.form && typeof frappe.ui.form === 'object' ? frappe.ui.form : {}, form);

  if (typeof win.__ !== 'function') {
    win.__ = (s, args) =>
      String(s).replace(/\{(\d+)\}/g, (m, i) => (args && args[i] !== undefined ? String(args[i]) : m));
  }
  return frappe;
}

export default Livedoc;
