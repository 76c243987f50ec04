// A page in Chromium that opens a Socket.IO connection to another origin, shared by
// tests/js/cors.test.mjs (livedoc) and tests/js/frappe-realtime-browser.test.mjs (frappe-realtime):
// the page is served from one port of 127.0.0.1 and the server listens on another, as Frappe's
// developer mode and frappe-react-sdk's socketPort put it.
//
//   const page = await startCrossOrigin();           // Chromium and the page server
//   const got = await page.connect(`http://127.0.0.1:${page.port}/`, {
//     cookie: { name: 'sid', value: sid }, url, ioOptions: { withCredentials: true },
//     waitMs: 5000, sendHello: async () => { /* an event 'hello' to the user's own room */ },
//   });                                              // {connected, error, transport, hello}
//   await page.close();

import { readFile } from 'node:fs/promises';
import http from 'node:http';

import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** Launches Chromium and serves a page that loads the real socket.io-client on a free port. */
export async function startCrossOrigin() {
  const launching = chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const client = await readFile(new URL('../node_modules/socket.io-client/dist/socket.io.min.js', import.meta.url));
  const server = http.createServer((req, res) => {
    if (req.url === '/socket.io.min.js') return res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(client);
    res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><script src="/socket.io.min.js"></script>');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  let browser;
  try {
    browser = await launching;
  } catch (err) {
    server.close();
    throw err;
  }
  return {
    port: server.address().port,
    connect: (pageURL, opts) => connectFrom(browser, pageURL, opts),
    async close() {
      await browser.close();
      server.close();
    },
  };
}

/**
 * Opens pageURL in a context holding cookie for 127.0.0.1 (cookies are per hostname, not per
 * port), connects io(url, ioOptions) from it without reconnection, and resolves with what
 * happened: {connected, error, transport (of the handshake), hello}. Once connected, sendHello()
 * sends an event 'hello' to the user's own room, and hello is its message (null if none came
 * within waitMs): that proves the cookie went along.
 */
async function connectFrom(browser, pageURL, { cookie, url, ioOptions, waitMs, sendHello }) {
  const ctx = await browser.newContext();
  try {
    await ctx.addCookies([{ ...cookie, domain: '127.0.0.1', path: '/' }]);
    const tab = await ctx.newPage();
    await tab.goto(pageURL);
    const outcome = await tab.evaluate(
      ({ url, options, waitMs }) =>
        new Promise((resolve) => {
          const s = io(url, { ...options, reconnection: false });
          let first; // the transport of the handshake: the socket may have upgraded by 'connect'
          s.io.on('open', () => (first = s.io.engine.transport.name));
          const timer = setTimeout(() => resolve({ connected: false, error: 'timeout' }), waitMs);
          s.on('connect_error', (e) => (clearTimeout(timer), resolve({ connected: false, error: e.message })));
          s.on('connect', () => {
            window.hello = new Promise((done) => s.on('hello', (m) => done(m)));
            clearTimeout(timer);
            resolve({ connected: true, transport: first });
          });
        }),
      { url, options: ioOptions, waitMs },
    );
    if (outcome.connected) {
      await sendHello();
      outcome.hello = await tab.evaluate((ms) => Promise.race([window.hello, new Promise((r) => setTimeout(() => r(null), ms))]), waitMs);
    }
    return outcome;
  } finally {
    await ctx.close();
  }
}
