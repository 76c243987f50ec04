// What `livedoc frappe-realtime` runs against, shared by tests/js/frappe-realtime*.test.mjs and
// bench/frappe-realtime-compare.mjs: a real redis-server with a publisher that sends exactly what
// Frappe's publish_realtime sends, and the frappe-realtime process itself.
//
//   const redis = await startRedis();
//   await redis.publish('msgprint', {message: 'hi'}, 'user:ann@a.test', 'site-a.test'); // → subscribers
//   const rt = await startFrappeRealtime({ redisPort: redis.port, siteURL, args: ['--site', 'site-a.test'] });
//   rt.url; rt.stderr(); rt.proc.kill();
//   redis.stop();

import { spawn } from 'node:child_process';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

import { freePort, livedocBinary } from './server.mjs';

/** Polls fn every 20 ms until it returns a truthy value, which it resolves with; throws after ms. */
export async function waitFor(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await delay(20);
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export const canConnect = (port) =>
  new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => (c.end(), resolve(true)));
    c.on('error', () => resolve(false));
  });

/**
 * Starts redis-server on a free port (no persistence). publish(event, message, room, namespace)
 * is Frappe's emit_via_redis — PUBLISH events {"event","message","room","namespace"} — on one
 * connection, in order; it resolves with the number of subscribers that got it. (`command` sends
 * any other command, e.g. PUBSUB.)
 */
export async function startRedis() {
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await waitFor(() => canConnect(port), 5000, 'redis-server listening');
  const conn = net.connect(port, '127.0.0.1');
  await new Promise((resolve, reject) => (conn.once('connect', resolve), conn.once('error', reject)));
  const waiting = []; // one per command sent, answered in order
  let buf = '';
  conn.on('data', (d) => {
    buf += d;
    let nl;
    // Integer (:n), status (+OK) and error (-ERR) replies: one line each, all a publisher gets.
    while ((nl = buf.indexOf('\r\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 2);
      const w = waiting.shift();
      line.startsWith('-') ? w?.reject(new Error(`redis: ${line.slice(1)}`)) : w?.resolve(line.startsWith(':') ? Number(line.slice(1)) : line.slice(1));
    }
  });
  const arg = (s) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  const command = (...args) =>
    new Promise((resolve, reject) => {
      waiting.push({ resolve, reject });
      conn.write(`*${args.length}\r\n${args.map(arg).join('')}`);
    });
  const publish = (event, message, room, namespace) =>
    command('PUBLISH', 'events', JSON.stringify({ event, message, room: room ?? null, namespace: namespace ?? null }));
  return {
    port,
    proc,
    publish,
    command,
    stop() {
      conn.destroy();
      proc.kill('SIGKILL');
    },
  };
}

/**
 * Starts `livedoc frappe-realtime` on port (default: a free one) against redisPort and the sites
 * at siteURL, with args added (the sites, timeouts...); resolves once /api/health answers 200.
 * wrap(argv) may change the command line (e.g. taskset).
 */
export async function startFrappeRealtime({ redisPort, siteURL, args = [], port, wrap = (argv) => argv }) {
  port ??= await freePort();
  const [cmd, ...argv] = wrap([
    livedocBinary(),
    'frappe-realtime',
    '--redis', `redis://127.0.0.1:${redisPort}`,
    '--site-url', siteURL,
    '--addr', `127.0.0.1:${port}`,
    ...args,
  ]);
  let stderr = '';
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  proc.stderr.on('data', (d) => (stderr += d));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => (await fetch(url + '/api/health').then((r) => r.status).catch(() => 0)) === 200 || proc.exitCode !== null,
    10_000,
    'frappe-realtime answering /api/health',
  );
  if (proc.exitCode !== null) throw new Error(`frappe-realtime exited ${proc.exitCode}: ${stderr}`);
  return { proc, url, port, stderr: () => stderr };
}
