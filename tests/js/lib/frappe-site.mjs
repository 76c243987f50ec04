// A stand-in Frappe site (what gunicorn answers to a realtime server), with no Frappe: the two
// endpoints Frappe's realtime server calls, with users, sid cookies and permissions the caller
// decides, and a count of the calls. Used by tests/js/frappe-realtime.test.mjs and by
// bench/frappe-realtime-compare.mjs.
//
//   const site = createStandInSite();
//   site.addSession('sid-1', 'site-a.test', 'ann@a.test');
//   site.readable.set('ann@a.test', new Set(['ToDo/T-1']));   // "doctype" or "doctype/name"
//   const server = await site.listen();                      // 127.0.0.1, a free port
//   site.calls.has_permission                                 // how often it was asked
//
// The site is X-Frappe-Site-Name (what nginx sets), else `defaultSite` (a bench's default_site:
// Frappe's Node server calls the socket's Origin with no X-Frappe-Site-Name); a session belongs
// to one site.
// siteState.set(site, 'down' | 'hang') makes a site answer 503 or never answer.
// hold('has_permission' | 'get_user_info') keeps that endpoint's answers (counted in `calls` as they
// arrive) until the function it returns is called with 'up' (answer them), 'down' (503) or 'hang'
// (never answer); the next request is answered at once again.

import http from 'node:http';

export function createStandInSite({ installedApps = ['frappe'], defaultSite } = {}) {
  const sessions = new Map(); // sid → {site, user, user_type}
  const readable = new Map(); // user → Set of "doctype" or "doctype/name" the site lets them read
  const calls = { get_user_info: 0, has_permission: 0 };
  const siteState = new Map(); // site → 'up' | 'down' (503) | 'hang' (never answers)
  const held = new Map(); // endpoint → the answers waiting for hold's release

  function hold(endpoint) {
    const waiting = [];
    held.set(endpoint, waiting);
    return (how = 'up') => {
      if (held.get(endpoint) === waiting) held.delete(endpoint);
      if (how === 'hang') return;
      for (const answer of waiting) how === 'down' ? answer.res.writeHead(503).end('maintenance') : answer.send();
    };
  }

  function addSession(sid, site, user, userType = 'System User') {
    sessions.set(sid, { site, user, user_type: userType });
  }

  function handler(req, res) {
    const url = new URL(req.url, 'http://x');
    const site = req.headers['x-frappe-site-name'] ?? defaultSite;
    const state = siteState.get(site) ?? 'up';
    if (state === 'hang') return; // the socket's deadline must give up, not us
    if (state === 'down') {
      res.writeHead(503).end('maintenance');
      return;
    }
    const sid = /(?:^|;\s*)sid=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    const bearer = /^token (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const sess = sessions.get(sid ?? bearer);
    const json = (status, body) => res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    if (!sess || sess.site !== site) return json(403, { exc_type: 'AuthenticationError' });
    const answer = (endpoint, send) => {
      calls[endpoint]++;
      const waiting = held.get(endpoint);
      waiting ? waiting.push({ res, send }) : send();
    };
    if (url.pathname === '/api/method/frappe.realtime.get_user_info') {
      return answer('get_user_info', () => json(200, { message: { user: sess.user, user_type: sess.user_type, installed_apps: installedApps } }));
    }
    if (url.pathname === '/api/method/frappe.realtime.has_permission') {
      const dt = url.searchParams.get('doctype');
      const name = url.searchParams.get('name');
      const set = readable.get(sess.user) ?? new Set();
      const ok = set.has(dt) || (name && set.has(`${dt}/${name}`));
      return answer('has_permission', () => (ok ? json(200, { message: true }) : json(403, { exc_type: 'PermissionError' })));
    }
    json(404, {});
  }

  /** Listens on 127.0.0.1 (port 0: a free one); resolves with the http.Server. */
  function listen(port = 0) {
    const server = http.createServer(handler);
    server.keepAliveTimeout = 60_000;
    return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
  }

  return { sessions, readable, calls, siteState, hold, addSession, listen };
}
