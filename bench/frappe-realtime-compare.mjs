// Side by side, in one run: `livedoc frappe-realtime` and Frappe v15's own Node realtime server
// (apps/frappe/socketio.js), both against the same stand-in site (tests/js/lib/frappe-site.mjs)
// and the same redis-server, loaded by the real socket.io-client from tests/js/node_modules.
//
//   node bench/frappe-realtime-compare.mjs --frappe /path/to/frappe [--frappe-deps DIR] [--pin] \
//       [--idle 2000] [--fanout 1000] [--publishes 200] [--rate 20] [--sessions 20] [--resubscribe 3] [--json]
//
// --frappe: a Frappe v15 checkout (the folder holding socketio.js, node_utils.js and realtime/).
//   Nothing of it is copied; it runs from where it is, with FRAPPE_BENCH_ROOT pointing at a
//   temporary bench whose sites/common_site_config.json gives redis_queue and socketio_port.
// --frappe-deps: a folder with node_modules holding its runtime dependencies (socket.io,
//   @redis/client, cookie), e.g. `npm install socket.io@4.7.2 @redis/client@1.5.12 cookie@0.7.0`
//   (the versions of Frappe v15's yarn.lock); default <frappe>/node_modules. Given as NODE_PATH.
// Without --frappe only livedoc (and the floor) is measured. livedoc is $LIVEDOC_BIN or
// bin/livedoc; livedoc-bench and floor-server are bin/livedoc-bench and bin/floor-server (build
// them: cd bench && go build -o ../bin/livedoc-bench ./cmd/livedoc-bench && go build -o
// ../bin/floor-server ./cmd/floor-server).
// --pin: each server on CPU 0 and livedoc-bench on CPU 1 (taskset), as bench/run-livedoc.sh --pin.
//
// Per server, fresh: (1) RSS of the idle server, then --idle sockets (socket.io-client from
// tests/js/node_modules, as a browser's Frappe client: sid cookie, X-Frappe-Site-Name, Origin)
// authenticated and subscribed with doc_subscribe to one document; RSS again; the difference per
// socket. (2) the site's HTTP calls: get_user_info and has_permission for those subscribes
// (--sessions distinct sessions share the sockets, as tabs of a few users), then for
// --resubscribe more doc_subscribe of the same document on every socket. Those sockets close.
// (3) fan-out, with livedoc-bench's lean subscribers (bench/internal/target/frappe.go: WebSocket,
// frames parsed in place, no decoding) so that the client is not the bottleneck: --fanout
// sockets of the same sessions connect to the site's namespace and stay in the `all` room they
// join on connect; --publishes `PUBLISH events <json>` (as Frappe's publish_realtime) to that
// room at --rate per second; latency = receipt minus the publish's start, stamped in the payload
// (one process, one clock); server CPU from /proc over the run.
// Once per run, the same livedoc-bench fan-out against bench/cmd/floor-server (one write(2) per
// socket per message, nothing else): the floor of this client on this machine.

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

import { createStandInSite } from '../tests/js/lib/frappe-site.mjs';
import { canConnect, startFrappeRealtime, startRedis, waitFor } from '../tests/js/lib/frappe-realtime.mjs';
import { freePort, repoRoot } from '../tests/js/lib/server.mjs';

const { io } = createRequire(path.join(repoRoot(), 'tests/js/package.json'))('socket.io-client');

const { values: opt } = parseArgs({
  options: {
    frappe: { type: 'string' },
    'frappe-deps': { type: 'string' },
    idle: { type: 'string', default: '2000' },
    fanout: { type: 'string', default: '1000' },
    publishes: { type: 'string', default: '200' },
    rate: { type: 'string', default: '20' },
    pin: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '1' },
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
const RATE = Number(opt.rate);
const benchBin = path.join(repoRoot(), 'bin', 'livedoc-bench');
const floorBin = path.join(repoRoot(), 'bin', 'floor-server');
for (const bin of [benchBin, floorBin]) if (!existsSync(bin)) throw new Error(`${bin} is missing: build it (see the top of this file)`);
/** argv run on CPU cpu with --pin, as is otherwise. */
const pinned = (cpu, argv) => (opt.pin ? ['taskset', '-c', String(cpu), ...argv] : argv);
const SITE = 'bench-site.test';
const log = (...a) => console.error('[compare]', ...a);


function rssKiB(pid) {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}
function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks (USER_HZ 100)
}
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

// --- redis-server and a publisher that writes PUBLISH events <json> as redis-py does
const redis = await startRedis();
const redisPort = redis.port;
const publish = (event, message, room) => redis.publish(event, message, room, SITE);

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
async function startLivedoc() {
  const rt = await startFrappeRealtime({ redisPort, siteURL: `http://127.0.0.1:${sitePort}`, args: ['--site', SITE], wrap: (argv) => pinned(0, argv) });
  rt.proc.stderr.pipe(process.stderr);
  return { proc: rt.proc, port: rt.port };
}
// Frappe's server listens on every address: a port free on 127.0.0.1 a moment ago may be some
// client socket's local port on 127.0.0.2 by then (EADDRINUSE: it exits), so another is tried.
async function startFrappe() {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const benchRoot = mkdtempSync(path.join(os.tmpdir(), 'frappe-bench-'));
    mkdirSync(path.join(benchRoot, 'sites'));
    writeFileSync(path.join(benchRoot, 'sites', 'common_site_config.json'), JSON.stringify({ redis_queue: `redis://127.0.0.1:${redisPort}`, redis_socketio: `redis://127.0.0.1:${redisPort}`, socketio_port: port }));
    const deps = path.resolve(opt['frappe-deps'] ?? path.join(frappeDir, 'node_modules'));
    const [cmd, ...args] = pinned(0, [process.execPath, path.join(frappeDir, 'socketio.js')]);
    const proc = spawn(cmd, args, {
      env: { ...process.env, FRAPPE_BENCH_ROOT: benchRoot, NODE_PATH: existsSync(path.join(deps, 'node_modules')) ? path.join(deps, 'node_modules') : deps },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    proc.on('exit', () => rmSync(benchRoot, { recursive: true, force: true }));
    await waitFor(async () => proc.exitCode !== null || (await canConnect(port)), 10_000, "Frappe's socketio.js listening");
    if (proc.exitCode === null) return { proc, port };
    if (attempt === 5) throw new Error(`Frappe's socketio.js exited ${proc.exitCode} five times`);
    log(`Frappe's socketio.js exited (${proc.exitCode}): another port`);
  }
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

/** livedoc-bench fanout with args (pinned to CPU 1 with --pin); the figures compared. */
async function leanFanout(args) {
  const argv = pinned(1, [benchBin, 'fanout', ...args, '--clients', String(N_FAN), '--messages', String(PUBLISHES), '--rate', String(RATE), '--json']);
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const code = await new Promise((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`livedoc-bench ${args.join(' ')}: exit ${code}`);
  const r = JSON.parse(out).results;
  if (r.lost !== 0 || r.connect_failed) throw new Error(`livedoc-bench: lost ${r.lost}, connect_failed ${r.connect_failed}`);
  return {
    fanout_sockets: N_FAN,
    publishes: r.published,
    p50_ms: r.latency_p50_ms,
    p90_ms: r.latency_p90_ms,
    p99_ms: r.latency_p99_ms,
    max_ms: r.latency_max_ms,
    server_cpu_ms_per_publish: r.server_cpu_s === undefined ? undefined : (r.server_cpu_s * 1000) / r.published,
    client_cpu_ms_per_publish: (r.generator_cpu_s * 1000) / r.published,
    other_cpu_s: r.other_cpu_s, // the rest of the machine meanwhile: noise
  };
}

/** The same fan-out against bench/cmd/floor-server: what the client and machine cost alone. */
async function floor() {
  const port = await freePort();
  const [cmd, ...args] = pinned(0, [floorBin, '--http', `127.0.0.1:${port}`]);
  const proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'ignore'] });
  try {
    await waitFor(() => canConnect(port), 10_000, 'floor-server listening');
    return { server: 'floor', ...(await leanFanout(['--target', 'floor', '--url', `http://127.0.0.1:${port}`, '--server-pid', String(proc.pid)])) };
  } finally {
    proc.kill('SIGTERM');
  }
}

/** Resolves once every socket answered a ping sent after what it was sent before: both servers
 * handle a socket's events in order, so each of those events has been taken up (and its call
 * to the site started). */
const handled = (socks) => Promise.all(socks.map((s) => new Promise((resolve) => (s.once('pong', resolve), s.emit('ping')))));

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
  const { proc, port } = await start();
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
  await handled(socks);
  await settleCalls();
  const callsConnect = { get_user_info: site.calls.get_user_info - calls0.get_user_info, has_permission: site.calls.has_permission - calls0.has_permission };
  await delay(2000);
  const rssLoaded = rssKiB(proc.pid);

  const before = site.calls.has_permission;
  for (let r = 0; r < RESUB; r++) for (const s of socks) s.emit('doc_subscribe', 'ToDo', 'BENCH-1');
  await handled(socks);
  await settleCalls();
  const resubCalls = site.calls.has_permission - before;

  for (const s of socks) s.close();
  const fan = await leanFanout(['--target', 'frappe', '--url', `http://127.0.0.1:${port}`, '--namespace', `/${SITE}`,
    '--sid', Array.from({ length: SESSIONS }, (_, i) => `sid-bench-${i}`).join(','), '--origin', `http://127.0.0.1:${sitePort}`,
    '--redis', `127.0.0.1:${redisPort}`, '--room', 'all', '--server-pid', String(proc.pid)]);
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
    ...fan,
  };
}

const loadavg = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
const results = [];
const info = { date: new Date().toISOString(), host: `${os.cpus().length} CPU ${os.cpus()[0]?.model}`, node: process.version, loadavg_start: loadavg() };
// --rounds N: the servers take turns N times (floor, livedoc, Frappe, floor, ...), so that the
// noise of a shared machine falls on each alike.
try {
  for (let round = 1; round <= Number(opt.rounds); round++) {
    const tag = (name) => (Number(opt.rounds) > 1 ? `${name}#${round}` : name);
    log(`round ${round}: floor-server ...`);
    results.push({ ...(await floor()), server: tag('floor') });
    if (opt.only !== 'frappe') {
      log(`round ${round}: livedoc frappe-realtime ...`);
      results.push(await measure(tag('livedoc'), startLivedoc));
    }
    if (frappeDir && opt.only !== 'livedoc') {
      log(`round ${round}: Frappe's socketio.js from ${frappeDir} ...`);
      results.push(await measure(tag('frappe-node'), startFrappe));
    }
  }
} finally {
  info.loadavg_end = loadavg();
  redis.stop();
  siteServer.close();
}
if (opt.json) console.log(JSON.stringify({ ...info, results }, null, 2));
else {
  console.log(info);
  const keys = [...new Set(results.flatMap((r) => Object.keys(r)))];
  for (const k of keys) console.log(k.padEnd(34), ...results.map((r) => String(r[k] === undefined ? '' : typeof r[k] === 'number' && !Number.isInteger(r[k]) ? r[k].toFixed(2) : r[k]).padStart(14)));
}
process.exit(0);
