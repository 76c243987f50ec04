// Shared test helpers: deadlines instead of sleeps, and the npm packages of tests/js.
import { createRequire } from 'node:module';
import { setTimeout as delay } from 'node:timers/promises';

export const WAIT_MS = 4000; // deadline of any single condition

/** require() resolving from tests/js, where socket.io, ws and socket.io-client are installed. */
export const requireTests = createRequire(new URL('../../../tests/js/package.json', import.meta.url));

/** Polls fn until it returns a truthy value (resolved with); throws after ms. */
export async function waitFor(fn, ms = WAIT_MS, what = fn.toString()) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`waitFor: not true within ${ms} ms: ${what}`);
    await delay(5);
  }
}

/** Resolves with the args of the next `event` on emitter (matching pred); rejects after ms. */
export function nextEvent(emitter, event, pred = () => true, ms = WAIT_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`no ${event} within ${ms} ms`));
    }, ms);
    function on(...args) {
      if (!pred(...args)) return;
      clearTimeout(timer);
      emitter.off(event, on);
      resolve(args);
    }
    emitter.on(event, on);
  });
}

/** Rejects after ms unless p settles first. */
export function within(p, ms = WAIT_MS, what = 'promise') {
  let timer;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
    }),
  ]);
}

/** Records every server event a Realtime receives: [{event, args}]. */
export function record(rt) {
  const log = [];
  rt.onAny((event, ...args) => log.push({ event, args }));
  return log;
}
