// TypeScript declarations for livedoc.js, livedoc's JavaScript client.

export type Transport = 'websocket' | 'polling';

export interface BackoffOptions {
  /** First delay, ms (default 500). */
  min?: number;
  /** Cap, ms (default 10000). */
  max?: number;
  /** Relative jitter, 0..1 (default 0.5: ±50%). */
  jitter?: number;
}

export interface LivedocOptions {
  /** Server origin; default `location.origin`. */
  url?: string;
  /** Socket.IO namespace "/<site>" ('' for "/"); default "livedoc". */
  site?: string;
  /** Sent as X-Frappe-CSRF-Token on unsafe requests (cookie sessions); default `window.csrf_token`. */
  csrfToken?: string;
  /** "key:secret" API-key auth: REST `Authorization: token key:secret` and `{token}` in the socket's CONNECT auth. */
  token?: string;
  /** Tried in order on every (re)connection; polling is the fallback. Default ['websocket', 'polling']. */
  transports?: Transport[];
  /** Open the socket now (default true); else call `ld.realtime.connect()`. */
  connect?: boolean;
  /** The session user, when known (skips the lookup in installFrappe). */
  user?: string;
  /** WebSocket constructor (Node: the `ws` package); default `globalThis.WebSocket`. */
  WebSocket?: any;
  /** fetch implementation; default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Extra headers for REST, polling requests and (Node `ws` only) the WebSocket handshake. */
  headers?: Record<string, string>;
  /** Extra CONNECT auth payload (an object, or a function returning one). */
  auth?: Record<string, unknown> | (() => Record<string, unknown>);
  /** Socket.IO path; default "/socket.io/". */
  path?: string;
  /** Bound of one connection attempt (handshake + CONNECT answer), ms; default 20000. */
  timeout?: number;
  /** Reconnection backoff; default 0.5 s doubling to 10 s, ±50%. */
  backoff?: BackoffOptions;
  /** fetch credentials 'include' (default) or 'same-origin' when false. */
  withCredentials?: boolean;
}

export type SubscribeResult = { ok: true } | { error: string };

/** A subscription that the server refused: message is the server's. */
export interface SubscribeError extends Error {
  ack: { error: string };
  event: string;
  args: string[];
}

export interface ConnectInfo {
  /** true when the server restored the previous session (same pid): nothing was missed. */
  recovered: boolean;
}
export interface DisconnectInfo {
  /** socket.io-client's reasons: "transport close", "transport error", "ping timeout", "parse error",
   * "io server disconnect", "io client disconnect", "timeout". */
  reason: string;
}
export interface ReconnectingInfo {
  attempt: number;
  delay: number;
}
export interface ConnectErrorInfo {
  message: string;
  data?: unknown;
  error?: Error;
}

export type Listener = (message?: any, ...rest: any[]) => void;

export declare class Emitter {
  on(event: string, cb: (...args: any[]) => void): this;
  off(event: string, cb?: (...args: any[]) => void): this;
  once(event: string, cb: (...args: any[]) => void): this;
  listenerCount(event: string): number;
}

export declare class Realtime extends Emitter {
  /** True while connected. */
  readonly connected: boolean;
  /** Socket id of the current connection. */
  readonly id: string | undefined;
  /** Connection-state-recovery session id from the server. */
  readonly pid: string | undefined;
  /** Last recorded offset (sent back on reconnection). */
  readonly lastOffset: string | undefined;
  /** Whether the last connection recovered the previous session. */
  readonly recovered: boolean;
  /** The namespace, "/<site>" or "/". */
  readonly nsp: string;
  /** The transport in use while connected. */
  transport: Transport | null;

  on(event: 'connect', cb: (info: ConnectInfo) => void): this;
  on(event: 'disconnect', cb: (info: DisconnectInfo) => void): this;
  on(event: 'reconnecting', cb: (info: ReconnectingInfo) => void): this;
  on(event: 'resync', cb: () => void): this;
  on(event: 'connect_error', cb: (info: ConnectErrorInfo) => void): this;
  /** A server event: the log offset the server appends is not passed. When the server asks for an
   * acknowledgement, an ack function is the last argument. */
  on(event: string, cb: Listener): this;
  once(event: 'connect', cb: (info: ConnectInfo) => void): this;
  once(event: 'disconnect', cb: (info: DisconnectInfo) => void): this;
  once(event: 'reconnecting', cb: (info: ReconnectingInfo) => void): this;
  once(event: 'resync', cb: () => void): this;
  once(event: string, cb: Listener): this;
  off(event: string, cb?: (...args: any[]) => void): this;
  /** Every server event: cb(event, ...args). */
  onAny(cb: (event: string, ...args: any[]) => void): this;
  offAny(cb?: (event: string, ...args: any[]) => void): this;

  /** Fire and forget (buffered while disconnected). A function last is an ack callback. */
  emit(event: string, ...args: any[]): this;
  /** Resolves with the first argument of the server's acknowledgement; rejects if the connection is lost first. */
  emitWithAck<T = any>(event: string, ...args: any[]): Promise<T>;

  doc_subscribe(doctype: string, name: string): Promise<SubscribeResult>;
  doc_unsubscribe(doctype: string, name: string): Promise<SubscribeResult>;
  doctype_subscribe(doctype: string): Promise<SubscribeResult>;
  doctype_unsubscribe(doctype: string): Promise<SubscribeResult>;
  doc_open(doctype: string, name: string): Promise<SubscribeResult>;
  doc_close(doctype: string, name: string): Promise<SubscribeResult>;
  task_subscribe(id: string): Promise<SubscribeResult>;
  task_unsubscribe(id: string): Promise<SubscribeResult>;
  /** Current reference counts. */
  subscriptions(): { event: string; args: string[]; count: number }[];

  connect(): this;
  disconnect(): this;
}

export declare class LivedocError extends Error {
  /** HTTP status (0 for a network failure). */
  status: number;
  /** Frappe's exception class, e.g. "ValidationError", "TimestampMismatchError". */
  excType: string;
  /** Parsed `_server_messages`. */
  serverMessages: { message?: string; title?: string; indicator?: string; [k: string]: unknown }[];
  /** The parsed response body. */
  response: any;
}

export type Doc = { doctype?: string; name?: string; modified?: string; [field: string]: any };
export type Filters = Record<string, any> | any[];

export interface ListOptions {
  fields?: string[];
  filters?: Filters;
  or_filters?: Filters;
  order_by?: string;
  limit_start?: number;
  limit_page_length?: number;
}

export interface DB {
  get(doctype: string, name: string): Promise<Doc>;
  insert(doc: Doc & { doctype: string }): Promise<Doc>;
  /** PUT; send `modified` to get the conflict check (TimestampMismatchError, 417). */
  save(doc: Doc & { doctype: string; name: string }): Promise<Doc>;
  submit(doc: Doc & { doctype: string; name: string }): Promise<Doc>;
  cancel(doctype: string, name: string): Promise<Doc>;
  delete(doctype: string, name: string): Promise<any>;
  list(doctype: string, options?: ListOptions): Promise<Doc[]>;
  count(doctype: string, filters?: Filters): Promise<number>;
}

/** Live values that follow the server with no re-reads. */
export interface Live {
  /**
   * cb(doc) at once and after every change of the document (patched from doc_update's `changed`,
   * read again only when a change cannot be applied). onError hears a read that failed (missing
   * or unreadable document). Returns stop(); stop.saved(answer) gives it the version the app
   * writes itself (a save's answer, or its promise: updates wait for it), so the update that save
   * causes is not read again.
   */
  doc(doctype: string, name: string, cb: (doc: Doc) => void, onError?: (err: Error) => void): LiveDocStop;
  /**
   * cb(rows) at once and after every change of the query's answer for this user (rows entering,
   * changing, moving and leaving come as list_change events; nothing is read again). `name` is
   * always among the fields; limit defaults to 20 (at most 1000). After a reconnection that
   * recovered the session the list resumes with the changes missed, in order; otherwise it starts
   * from a fresh snapshot. onError hears a refused query. Returns stop().
   */
  list(query: LiveListQuery, cb: (rows: Doc[]) => void, onError?: (err: Error) => void): () => void;
}

/** Stops a live document; saved(answer) hands it the answer of the app's own save. */
export interface LiveDocStop {
  (): void;
  saved(answer: Doc | Promise<Doc>): void;
}

/** list_subscribe's query: frappe.client.get_list's shape and operators. */
export interface LiveListQuery {
  doctype: string;
  fields?: string[];
  filters?: any;
  or_filters?: any;
  order_by?: string;
  limit?: number;
  start?: number;
}

export declare class Livedoc {
  constructor(options?: LivedocOptions);
  readonly url: string;
  readonly site: string;
  csrfToken: string | undefined;
  token: string | undefined;
  user: string | undefined;
  readonly realtime: Realtime;
  readonly db: DB;
  readonly live: Live;
  /** POST /api/method/<method> with JSON args; resolves with `message`. */
  call<T = any>(method: string, args?: Record<string, any>): Promise<T>;
  /** A raw REST request; resolves with the whole parsed body. */
  request(method: string, path: string, opts?: { query?: Record<string, any>; body?: any; headers?: Record<string, string> }): Promise<any>;
  /** Cookie login; keeps the CSRF token and reconnects the socket as that user. */
  login(usr: string, pwd: string): Promise<any>;
  /** Ends the cookie session; the socket reconnects as Guest. */
  logout(): Promise<any>;
  /** GET frappe.auth.get_logged_user; stored in `user`. */
  getLoggedUser(): Promise<string>;
}

export interface FrappeCallOptions {
  method: string;
  args?: Record<string, any>;
  /** HTTP method, default POST. */
  type?: string;
  callback?: (r: { message: any; [k: string]: any }) => void;
  error?: (r: any, err: LivedocError) => void;
  always?: (r: any) => void;
}

export interface FormHandlers {
  setup?: (frm: any) => any;
  onload?: (frm: any) => any;
  refresh?: (frm: any) => any;
  validate?: (frm: any) => any;
  before_save?: (frm: any) => any;
  after_save?: (frm: any) => any;
  on_submit?: (frm: any) => any;
  after_cancel?: (frm: any) => any;
  /** Field names: on change. */
  [event: string]: ((frm: any, cdt?: string, cdn?: string) => any) | undefined;
}

export interface Frappe {
  livedoc: Livedoc;
  realtime: {
    socket: Realtime;
    on(event: string, cb: Listener): void;
    off(event: string, cb?: Listener): void;
    once(event: string, cb: Listener): void;
    emit(event: string, ...args: any[]): void;
    doc_subscribe(doctype: string, name: string): Promise<SubscribeResult>;
    doc_unsubscribe(doctype: string, name: string): Promise<SubscribeResult>;
    doctype_subscribe(doctype: string): Promise<SubscribeResult>;
    doctype_unsubscribe(doctype: string): Promise<SubscribeResult>;
    doc_open(doctype: string, name: string): Promise<SubscribeResult>;
    doc_close(doctype: string, name: string): Promise<SubscribeResult>;
    task_subscribe(id: string): Promise<SubscribeResult>;
    task_unsubscribe(id: string): Promise<SubscribeResult>;
    progress_subscribe(id: string): Promise<SubscribeResult>;
  };
  /** Resolves with the whole response `{message}`; rejects on errors (which are also shown with msgprint). */
  call(opts: FrappeCallOptions): Promise<{ message: any; [k: string]: any }>;
  call(method: string, args?: Record<string, any>): Promise<{ message: any; [k: string]: any }>;
  /** Resolves with `message`. */
  xcall<T = any>(method: string, args?: Record<string, any>): Promise<T>;
  session: { user: string; ready: Promise<string>; [k: string]: any };
  csrf_token: string | undefined;
  /** Hooks the desk replaces; the defaults log to the console. */
  msgprint(msg: string | { message: string; title?: string; indicator?: string }, title?: string): any;
  show_alert(msg: string | { message: string; indicator?: string }, seconds?: number): any;
  throw(msg: string | { message: string }): never;
  db: {
    get_doc(doctype: string, name: string): Promise<Doc>;
    get_list(doctype: string, opts?: ListOptions): Promise<Doc[]>;
    get_value(doctype: string, filters: string | Filters, fieldname: string | string[]): Promise<{ message: any }>;
    set_value(doctype: string, name: string, fieldname: string | Record<string, any>, value?: any): Promise<{ message: Doc }>;
    insert(doc: Doc & { doctype: string }): Promise<Doc>;
    count(doctype: string, opts?: { filters?: Filters } | Filters): Promise<number>;
    delete_doc(doctype: string, name: string): Promise<any>;
  };
  ui: {
    form: {
      /** Lists of handler objects by DocType (child DocTypes too). */
      handlers: Record<string, FormHandlers[]>;
      on(doctype: string, handlers: FormHandlers): void;
      on(doctype: string, event: string, fn: (frm: any, cdt?: string, cdn?: string) => any): void;
      /** Runs the handlers of event for cdt (default frm.doctype) in order, awaiting each; false if one returned false. */
      trigger(frm: any, event: string, cdt?: string, cdn?: string): Promise<boolean>;
    };
    [k: string]: any;
  };
  [k: string]: any;
}

/** Defines `win.frappe` (extending an existing object) on top of ld. */
export declare function installFrappe(ld: Livedoc, win?: any, opts?: { user?: string }): Frappe;

// Protocol helpers (exported for tests and tools)
export declare const EIO: Readonly<Record<'OPEN' | 'CLOSE' | 'PING' | 'PONG' | 'MESSAGE' | 'UPGRADE' | 'NOOP', string>>;
export declare const SIO: Readonly<Record<'CONNECT' | 'DISCONNECT' | 'EVENT' | 'ACK' | 'CONNECT_ERROR' | 'BINARY_EVENT' | 'BINARY_ACK', number>>;
export declare const PAYLOAD_SEPARATOR: string;
export declare const DEFAULT_BACKOFF: Readonly<Required<BackoffOptions>>;
export declare const SUBSCRIPTIONS: Readonly<Record<string, string>>;
export interface Packet {
  type: number;
  nsp: string;
  id: number | undefined;
  data: any;
}
export declare function encodePacket(p: { type: number; nsp?: string; id?: number; data?: any }): string;
export declare function decodePacket(s: string): Packet;
export declare function encodePayload(packets: string[]): string;
export declare function decodePayload(text: string): string[];
export declare function backoffDelay(attempt: number, opts?: BackoffOptions, random?: () => number): number;
export declare function parseServerMessages(raw: unknown): { message?: string; [k: string]: unknown }[];
export declare function parseError(status: number, body: unknown): LivedocError;
export declare class Engine {
  constructor(o: Record<string, any>);
}

export default Livedoc;
