// Side by side, in one run: `livedoc frappe-realtime` and Frappe v15's own Node realtime server
// (apps/frappe/socketio.js), both against the same stand-in site (tests/js/lib/frappe-site.mjs)
// and the same redis-server, loaded by the real socket.io-client from tests/js/node_modules.
//
//   node bench/frappe-realtime-compare.mjs --frappe /path/to/frappe [--frappe-deps DIR] \
//       [--idle 2000] [--fanout 1000] [--publishes 50] [--sessions 20] [--resubscribe 3] [--json]
//
// --frappe: a Frappe v15 checkout (the folder holding socketio.js, node_utils.js and realtime/).
//   Nothing of it is copied; it runs from where it is, with FRAPPE_BENCH_ROOT pointing at a
//   temporary bench whose sites/common_site_config.json gives redis_queue and socketio_port.
// --frappe-deps: a folder with node_modules holding its runtime dependencies (socket.io,
//   @redis/client, cookie), e.g. `npm install socket.io@4.7.2 @redis/client@1.5.12 cookie@0.7.0`
//   (the versions of Frappe v15's yarn.lock); default <frappe>/node_modules. Given as NODE_PATH.
// Without --frappe only livedoc is measured. livedoc is $LIVEDOC_BIN or bin/livedoc.
//
// Per server, fresh: (1) RSS of the idle server, then --idle sockets authenticated (sid cookie,
// X-Frappe-Site-Name, Origin) and subscribed with doc_subscribe to one document; RSS again; the
// difference per socket. (2) the site's HTTP calls: get_user_info and has_permission for those
// subscribes (--sessions distinct sessions share the sockets, as tabs of a few users), then for
// --resubscribe more doc_subscribe of the same document on every socket. (3) fan-out: --fanout
// of the sockets join a second document's room; --publishes times `PUBLISH events <json>` (as
// Frappe's publish_realtime) to that room, 100 ms apart; latency = receipt in the client process
// minus the moment the PUBLISH was written (same process, same clock), over every (publish,
// socket); also the per-publish time until the last socket had it. The client process's own
// work is part of both servers' figures.

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

import { createStandInSite } from '../tests/js/lib/frappe-site.mjs';
import { freePort, livedocBinary, repoRoot } from '../tests/js/lib/server.mjs';

const { io } = createRequire(path.join(repoRoot(), 'tests/js/package.json'))('socket.io-client');

const { values: opt } = parseArgs({
  options: {
    frappe: { type: 'string' },
    'frappe-deps': { type: 'string' },
    idle: { type: 'string', default: '2000' },
    fanout: { type: 'string', default: '1000' },
    publishes: { type: 'string', default: '50' },
    sessions: { type: 'string', default: '20' },
    resubscribe: { type: 'string', default: '3' },
    only: { type: 'string' }, // livedoc | frappe
    json: { type: 'boolean', default: false },
  },
});
const N_IDLE = Number(opt.idle);
const N_FAN = Math.min(Number(opt.fanout), N_IDLE);
const PUBLISHES = Number(opt.publishes);
const SESSIONS = Number(opt.sessions);
const RESUB = Number(opt.resubscribe);
const SITE = 'bench-site.test';
const log = (...a) => console.error('[compare]', ...a);

async function waitFor(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await delay(20);
  }
}
const canConnect = (port) =>
  new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => (c.end(), resolve(true)));
    c.on('error', () => resolve(false));
  });

function rssKiB(pid) {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}
function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks (USER_HZ 100)
}
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

// --- redis-server and a publisher that writes PUBLISH events <json> as redis-py does
const redisPort = await freePort();
const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
await waitFor(() => canConnect(redisPort), 5000, 'redis-server');
const pubConn = net.connect(redisPort, '127.0.0.1');
pubConn.on('data', () => {});
await new Promise((r) => pubConn.once('connect', r));
function publish(event, message, room) {
  const payload = JSON.stringify({ event, message, room, namespace: SITE });
  const arg = (s) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  pubConn.write(`*3\r\n${arg('PUBLISH')}${arg('events')}${arg(payload)}`);
}

// --- the stand-in site
const frappeDir = opt.frappe && path.resolve(opt.frappe);
// Frappe's server loads <apps>/<app>/realtime/handlers.js for each installed app, relative to its
// realtime/ folder: the checkout's folder name is the app name it finds itself under.
const site = createStandInSite({ installedApps: [frappeDir ? path.basename(frappeDir) : 'frappe'], defaultSite: SITE });
const siteServer = await site.listen();
const sitePort = siteServer.address().port;
for (let i = 0; i < SESSIONS; i++) {
  site.addSession(`sid-bench-${i}`, SITE, `bench${i}@example.com`);
  site.readable.set(`bench${i}@example.com`, new Set(['ToDo/BENCH-1', 'ToDo/BENCH-2']));
}

// --- the servers
async function startLivedoc(port) {
  const proc = spawn(livedocBinary(), ['frappe-realtime', '--redis', `redis://127.0.0.1:${redisPort}`, '--site-url', `http://127.0.0.1:${sitePort}`, '--site', SITE, '--addr', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/api/health`).then((r) => r.status).catch(() => 0)) === 200, 10_000, 'livedoc /api/health');
  return proc;
}
async function startFrappe(port) {
  const benchRoot = mkdtempSync(path.join(os.tmpdir(), 'frappe-bench-'));
  mkdirSync(path.join(benchRoot, 'sites'));
  writeFileSync(path.join(benchRoot, 'sites', 'common_site_config.json'), JSON.stringify({ redis_queue: `redis://127.0.0.1:${redisPort}`, redis_socketio: `redis://127.0.0.1:${redisPort}`, socketio_port: port }));
  const deps = path.resolve(opt['frappe-deps'] ?? path.join(frappeDir, 'node_modules'));
  const proc = spawn(process.execPath, [path.join(frappeDir, 'socketio.js')], {
    env: { ...process.env, FRAPPE_BENCH_ROOT: benchRoot, NODE_PATH: existsSync(path.join(deps, 'node_modules')) ? path.join(deps, 'node_modules') : deps },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  proc.on('exit', () => rmSync(benchRoot, { recursive: true, force: true }));
  await waitFor(() => canConnect(port), 10_000, "Frappe's socketio.js listening");
  return proc;
}

function openSocket(port, i) {
  return io(`http://127.0.0.1:${port}/${SITE}`, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    timeout: 30_000,
    // 100 sockets per source address (127.0.0.2, .3, ...): livedoc's per-address limits (1,000
    // sockets, 20 handshakes/s after a burst of 200) would refuse one address's 2,000.
    localAddress: `127.0.0.${2 + Math.floor(i / 100)}`,
    extraHeaders: { Origin: `http://127.0.0.1:${sitePort}`, 'X-Frappe-Site-Name': SITE, Cookie: `sid=sid-bench-${i % SESSIONS}` },
  });
}
const connected = (s) =>
  new Promise((resolve, reject) => {
    if (s.connected) return resolve();
    s.io.on('error', () => {}); // reported through connect_error
    s.once('connect', resolve);
    s.once('connect_error', (e) => reject(new Error(`connect_error: ${e.message} ${e.description?.message ?? e.description ?? ''}`)));
  });

/** Publishes probes to room until every socket in `socks` got one. */
async function untilAllJoined(socks, room, tag) {
  const got = new Set();
  const onProbe = new Map();
  socks.forEach((s, i) => {
    const h = (m) => m?.tag === tag && got.add(i);
    onProbe.set(s, h);
    s.on('bench_probe', h);
  });
  await waitFor(() => (publish('bench_probe', { tag }, room), got.size === socks.length), 60_000, `${socks.length} sockets in ${room} (${got.size})`);
  for (const [s, h] of onProbe) s.off('bench_probe', h);
}

async function settleCalls(ms = 700) {
  let last = -1;
  for (;;) {
    const now = site.calls.has_permission + site.calls.get_user_info;
    if (now === last) return;
    last = now;
    await delay(ms);
  }
}

async function measure(name, start) {
  const port = await freePort();
  const proc = await start(port);
  try {
    return await measureOn(name, port, proc);
  } finally {
    proc.kill('SIGTERM');
  }
}

async function measureOn(name, port, proc) {
  await delay(1500);
  const rssIdle = rssKiB(proc.pid);
  const calls0 = { ...site.calls };
  const socks = [];
  const t0 = Date.now();
  for (let i = 0; i < N_IDLE; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(i + 100, N_IDLE); j++) batch.push(openSocket(port, j));
    await Promise.all(batch.map(connected));
    for (const s of batch) s.emit('doc_subscribe', 'ToDo', 'BENCH-1');
    socks.push(...batch);
    if ((i + 100) % 500 === 0) log(`${name}: ${i + 100} sockets connected`);
  }
  log(`${name}: waiting for all in the room`);
  await untilAllJoined(socks, 'doc:ToDo/BENCH-1', `${name}-1`);
  const connectSecs = (Date.now() - t0) / 1000;
  await settleCalls();
  const callsConnect = { get_user_info: site.calls.get_user_info - calls0.get_user_info, has_permission: site.calls.has_permission - calls0.has_permission };
  await delay(2000);
  const rssLoaded = rssKiB(proc.pid);

  const before = site.calls.has_permission;
  for (let r = 0; r < RESUB; r++) for (const s of socks) s.emit('doc_subscribe', 'ToDo', 'BENCH-1');
  await settleCalls();
  const resubCalls = site.calls.has_permission - before;

  // fan-out
  const fan = socks.slice(0, N_FAN);
  for (const s of fan) s.emit('doc_subscribe', 'ToDo', 'BENCH-2');
  await untilAllJoined(fan, 'doc:ToDo/BENCH-2', `${name}-2`);
  const sentAt = new Array(PUBLISHES);
  const lat = [];
  const lastAt = new Array(PUBLISHES).fill(0);
  const counts = new Array(PUBLISHES).fill(0);
  for (const s of fan)
    s.on('bench', (m) => {
      const now = performance.now();
      lat.push(now - sentAt[m.i]);
      counts[m.i]++;
      lastAt[m.i] = Math.max(lastAt[m.i], now);
    });
  const cpu0 = cpuSeconds(proc.pid);
  for (let i = 0; i < PUBLISHES; i++) {
    sentAt[i] = performance.now();
    publish('bench', { i, pad: 'x'.repeat(100) }, 'doc:ToDo/BENCH-2');
    await delay(100);
  }
  await waitFor(() => counts.every((c) => c === N_FAN), 30_000, `all ${N_FAN}×${PUBLISHES} deliveries (${lat.length})`);
  const cpuFan = cpuSeconds(proc.pid) - cpu0;
  lat.sort((a, b) => a - b);
  const last = lastAt.map((t, i) => t - sentAt[i]).sort((a, b) => a - b);

  for (const s of socks) s.close();
  proc.kill('SIGTERM');
  await new Promise((r) => (proc.exitCode !== null ? r() : proc.once('exit', r)));
  return {
    server: name,
    sockets: N_IDLE,
    connect_s: connectSecs,
    rss_idle_mib: rssIdle / 1024,
    rss_loaded_mib: rssLoaded / 1024,
    kib_per_socket: (rssLoaded - rssIdle) / N_IDLE,
    calls_get_user_info: callsConnect.get_user_info,
    calls_has_permission_first: callsConnect.has_permission,
    resubscribes: RESUB * N_IDLE,
    calls_has_permission_resubscribe: resubCalls,
    fanout_sockets: N_FAN,
    publishes: PUBLISHES,
    p50_ms: pct(lat, 50),
    p99_ms: pct(lat, 99),
    max_ms: lat.at(-1),
    last_socket_p50_ms: pct(last, 50),
    last_socket_p99_ms: pct(last, 99),
    server_cpu_ms_per_publish: (cpuFan * 1000) / PUBLISHES,
  };
}

const loadavg = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
const results = [];
const info = { date: new Date().toISOString(), host: `${os.cpus().length} CPU ${os.cpus()[0]?.model}`, node: process.version, loadavg_start: loadavg() };
try {
  if (opt.only !== 'frappe') {
    log('livedoc frappe-realtime ...');
    results.push(await measure('livedoc', startLivedoc));
  }
  if (frappeDir && opt.only !== 'livedoc') {
    log(`Frappe's socketio.js from ${frappeDir} ...`);
    results.push(await measure('frappe-node', startFrappe));
  }
} finally {
  info.loadavg_end = loadavg();
  pubConn.destroy();
  redis.kill('SIGTERM');
  siteServer.close();
}
if (opt.json) console.log(JSON.stringify({ ...info, results }, null, 2));
else {
  console.log(info);
  const keys = Object.keys(results[0]);
  for (const k of keys) console.log(k.padEnd(34), ...results.map((r) => String(typeof r[k] === 'number' && !Number.isInteger(r[k]) ? r[k].toFixed(2) : r[k]).padStart(14)));
}
process.exit(0);
