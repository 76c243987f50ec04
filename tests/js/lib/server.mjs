// Shared helpers for Node tests that drive a real livedoc server.
//
//   import { startLivedoc, login, apiKeysFor } from './lib/server.mjs';
//
//   const srv = await startLivedoc();            // spawns bin/livedoc on a free port
//   const session = await login(srv.url, 'Administrator', srv.adminPassword);
//   const { api_key, api_secret } = await apiKeysFor(srv.url, session, 'Administrator');
//   ...
//   await srv.stop();                            // SIGTERM, wait, remove the data dir
//
// The binary is $LIVEDOC_BIN, or <repo root>/bin/livedoc. Build it first with
//   go build -o bin/livedoc ./cmd/livedoc
// Each server gets its own temporary data directory, so tests never share state with each other
// or with a developer's ./livedoc-data.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const DEFAULT_ADMIN_PASSWORD = 'admin-pw-test';
const START_DEADLINE_MS = 15_000;
const STOP_DEADLINE_MS = 10_000;
const POLL_MS = 50;

/** The repository root: the nearest ancestor of this file holding go.mod. */
export function repoRoot() {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'go.mod'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('livedoc tests: no go.mod above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

/** The livedoc binary to run: $LIVEDOC_BIN or <root>/bin/livedoc; throws if it is missing. */
export function livedocBinary() {
  const root = repoRoot();
  const bin = process.env.LIVEDOC_BIN || path.join(root, 'bin', 'livedoc');
  if (!existsSync(bin)) {
    throw new Error(`livedoc binary not found at ${bin}; build it with: go build -o bin/livedoc ./cmd/livedoc (in ${root})`);
  }
  return bin;
}

/** A TCP port that was free a moment ago on 127.0.0.1 (bind to :0, read the port, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/**
 * Starts `livedoc serve` on a free port with a fresh data directory and waits until
 * GET /api/method/ping answers {"message":"pong"}.
 *
 * @param {object} [opts]
 * @param {Record<string,string>} [opts.env]  extra environment variables (override the defaults,
 *   e.g. { LIVEDOC_ADMIN_PASSWORD: 'x', LIVEDOC_LOG_LEVEL: 'debug' })
 * @param {string[]} [opts.args]  extra arguments after `serve --addr … --data …`
 *   (e.g. ['--sample=false', '--apps', dir])
 * @returns {Promise<{url: string, port: number, dataDir: string, adminPassword: string,
 *   stderr: () => string, proc: import('node:child_process').ChildProcess, stop: () => Promise<void>}>}
 *   url has no trailing slash (http://127.0.0.1:PORT). stderr() returns what the server has
 *   logged so far, for diagnostics. stop() is idempotent.
 */
export async function startLivedoc({ env = {}, args = [] } = {}) {
  const bin = livedocBinary();
  const port = await freePort();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'livedoc-test-'));
  const childEnv = { ...process.env, LIVEDOC_ADMIN_PASSWORD: DEFAULT_ADMIN_PASSWORD, ...env };
  const adminPassword = childEnv.LIVEDOC_ADMIN_PASSWORD;
  const url = `http://127.0.0.1:${port}`;

  const proc = spawn(bin, ['serve', '--addr', `127.0.0.1:${port}`, '--data', dataDir, ...args], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const collect = (chunk) => {
    log += chunk;
    if (log.length > 1 << 20) log = log.slice(-(1 << 19)); // keep the tail of a chatty server
  };
  proc.stdout.setEncoding('utf8').on('data', collect);
  proc.stderr.setEncoding('utf8').on('data', collect);
  let exited = null; // {code, signal} once the process is gone
  const exitPromise = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
    proc.on('error', (err) => {
      exited = { code: null, signal: null, error: err };
      resolve(exited);
    });
  });

  let stopped = false;
  async function stop() {
    if (stopped) return;
    stopped = true;
    if (!exited) {
      proc.kill('SIGTERM');
      // wait for the exit, but no longer than the deadline; cancel the timer so it cannot keep
      // the test process alive
      const abort = new AbortController();
      const timer = delay(STOP_DEADLINE_MS, 'timeout', { signal: abort.signal }).catch(() => 'exited');
      const winner = await Promise.race([exitPromise, timer]);
      abort.abort();
      if (winner === 'timeout' && !exited) {
        proc.kill('SIGKILL');
        await exitPromise;
      }
    }
    await rm(dataDir, { recursive: true, force: true });
  }

  const deadline = Date.now() + START_DEADLINE_MS;
  let lastErr = 'no answer yet';
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`livedoc exited before it was ready (${JSON.stringify(exited)}):\n${log}`);
    }
    try {
      const res = await fetch(`${url}/api/method/ping`, { signal: AbortSignal.timeout(1000) });
      const body = await res.text();
      if (res.ok && JSON.parse(body).message === 'pong') break;
      lastErr = `HTTP ${res.status}: ${body}`;
    } catch (err) {
      lastErr = String(err?.cause?.code ?? err?.message ?? err);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`livedoc not ready on ${url} after ${START_DEADLINE_MS} ms (last: ${lastErr}):\n${log}`);
    }
    await delay(POLL_MS);
  }

  return { url, port, dataDir, adminPassword, proc, stderr: () => log, stop };
}

/**
 * Logs in with a cookie session: POST /api/method/login {usr, pwd}.
 * @returns {Promise<{cookie: string, csrf: string, user: string}>} cookie is "sid=…", ready for a
 *   Cookie header; csrf goes in X-Frappe-CSRF-Token on unsafe requests.
 */
export async function login(url, usr, pwd) {
  const res = await fetch(`${url}/api/method/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ usr, pwd }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`login as ${usr} failed: HTTP ${res.status}: ${text}`);
  const sid = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0].trim())
    .find((c) => c.startsWith('sid='));
  if (!sid) throw new Error(`login as ${usr}: no sid cookie in the response: ${text}`);
  const body = JSON.parse(text);
  const csrf = body.csrf_token ?? res.headers.get('x-frappe-csrf-token');
  if (!csrf) throw new Error(`login as ${usr}: no csrf_token in the response: ${text}`);
  return { cookie: sid, csrf, user: usr };
}

/** Headers that authenticate a fetch with a session from login(), CSRF included. */
export function sessionHeaders(session) {
  return { Cookie: session.cookie, 'X-Frappe-CSRF-Token': session.csrf };
}

/**
 * Generates (or regenerates) an API key pair for user, acting as the logged-in session.
 * @returns {Promise<{api_key: string, api_secret: string}>} use as "token api_key:api_secret".
 */
export async function apiKeysFor(url, session, user) {
  const res = await fetch(`${url}/api/method/frappe.core.doctype.user.user.generate_keys`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...sessionHeaders(session) },
    body: JSON.stringify({ user }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`generate_keys for ${user} failed: HTTP ${res.status}: ${text}`);
  const { api_key, api_secret } = JSON.parse(text).message ?? {};
  if (!api_key || !api_secret) throw new Error(`generate_keys for ${user}: no keys in ${text}`);
  return { api_key, api_secret };
}
