// livedoc's desk: the single page at /app. It connects the JS client, installs the Frappe
// compatible `frappe` global for client scripts, and routes as Frappe does:
//   /app                       the DocTypes the user may read
//   /app/<route>               the list view of a DocType (route: lower case, spaces as hyphens);
//                              a Single DocType's form
//   /app/<route>/<name>        a document's form
//   /app/<route>/new           a new document's form

import { Livedoc, installFrappe } from '/assets/livedoc.js';
import { h, toast, plainText, confirmDialog, avatar, errorText, routeOf } from './ui.js';
import { HomeView, ListView } from './list.js';
import { FormView } from './form.js';
import { AwesomeBar } from './awesomebar.js';

const ld = new Livedoc({ url: location.origin, site: window.livedoc_site ?? 'livedoc', csrfToken: window.csrf_token });
installFrappe(ld, window);
window.livedoc = ld; // for the console, and for tests

const main = document.getElementById('main');
const crumbsEl = document.getElementById('crumbs');
let current = null;

const desk = {
  ld,
  user: window.frappe_user,
  metas: new Map(), // by name and by route → Promise<info>
  doctypes: null,

  /** The DocType's meta, child metas and the user's permissions (getdoctype), cached per page. */
  getMeta(doctype) {
    if (!this.metas.has(doctype)) {
      const p = ld.call('frappe.desk.form.load.getdoctype', { doctype }).then((m) => {
        const docs = m?.docs ?? [];
        const info = { meta: docs[0], children: {}, perms: m?.perms ?? {}, owner_only: m?.owner_only ?? [], perm_levels: m?.perm_levels ?? null };
        for (const c of docs.slice(1)) info.children[c.name] = c;
        this.metas.set(info.meta.name, p);
        this.metas.set(routeOf(info.meta.name), p);
        return info;
      });
      p.catch(() => this.metas.delete(doctype));
      this.metas.set(doctype, p);
    }
    return this.metas.get(doctype);
  },

  titles: new Map(), // "doctype\0name" → Promise<title | ''>
  /** show_title_field_in_link: the title a Link shows beside a document's name ('' if none). */
  linkTitle(doctype, name) {
    if (!doctype || !name) return Promise.resolve('');
    const key = `${doctype}\0${name}`;
    if (!this.titles.has(key)) {
      this.titles.set(key, this.getMeta(doctype).then(async ({ meta }) => {
        const tf = meta.title_field;
        if (!Number(meta.show_title_field_in_link) || !tf) return '';
        const rows = await ld.db.list(doctype, { fields: ['name', tf], filters: [['name', '=', name]], limit: 1 });
        return rows[0]?.[tf] && rows[0][tf] !== name ? String(rows[0][tf]) : '';
      }).catch(() => ''));
    }
    return this.titles.get(key);
  },

  previews: new Map(), // "doctype\0name" → Promise<[[label, value], ...]>
  /** A linked document's preview: its title and the fields its DocType marks in_preview, as [label, value] rows. */
  linkPreview(doctype, name) {
    const key = `${doctype}\0${name}`;
    if (!this.previews.has(key)) {
      this.previews.set(key, this.getMeta(doctype).then(async ({ meta }) => {
        const fields = meta.fields.filter((f) => Number(f.in_preview) && f.fieldtype !== 'Password' && f.fieldtype !== 'Table');
        if (meta.title_field && !fields.some((f) => f.fieldname === meta.title_field)) {
          const tf = meta.fields.find((f) => f.fieldname === meta.title_field);
          if (tf) fields.unshift(tf);
        }
        if (!fields.length) return [];
        const rows = await ld.db.list(doctype, { fields: ['name', ...fields.map((f) => f.fieldname)], filters: [['name', '=', name]], limit: 1 });
        const d = rows[0];
        if (!d) return [];
        return fields.filter((f) => d[f.fieldname] !== null && d[f.fieldname] !== undefined && d[f.fieldname] !== '')
          .map((f) => [f.label || f.fieldname, String(d[f.fieldname])]);
      }).catch(() => []));
      setTimeout(() => this.previews.delete(key), 30_000); // a preview a while old is read again
    }
    return this.previews.get(key);
  },

  async getDocTypes(fresh = false) {
    if (fresh || !this.doctypes) this.doctypes = await ld.call('livedoc.desk.doctypes', {});
    return this.doctypes;
  },

  navigate(url, { replace = false } = {}) {
    if (replace) history.replaceState(null, '', url);
    else history.pushState(null, '', url);
    return route();
  },

  setCrumbs(items) {
    crumbsEl.replaceChildren(...items.flatMap((it, i) => [
      h('span', { class: 'crumb-sep', 'aria-hidden': 'true' }, '/'),
      it.href && i < items.length - 1 ? h('a', { href: it.href, 'data-link': true, class: 'crumb' }, it.label) : h('span', { class: 'crumb', 'aria-current': i === items.length - 1 ? 'page' : null }, it.label),
    ]));
  },

  setTitle(t) {
    document.title = t ? `${t} · livedoc` : 'livedoc';
  },

  scripts: new Map(),
  /** Loads /assets/client-scripts/<DocType>.js once per page, as a classic script. */
  loadClientScript(doctype) {
    if (!this.scripts.has(doctype)) {
      this.scripts.set(doctype, new Promise((resolve) => {
        const s = document.createElement('script');
        s.src = `/assets/client-scripts/${encodeURIComponent(doctype)}.js`;
        s.async = false;
        s.onload = () => resolve(true);
        s.onerror = () => resolve(false);
        document.head.append(s);
      }));
    }
    return this.scripts.get(doctype);
  },
};
window.livedoc_desk = desk;

// ---- routing ----------------------------------------------------------------------------------

let routing = 0;
async function route() {
  const seq = ++routing;
  const parts = location.pathname.replace(/^\/app\/?/, '').split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  let view;
  if (parts.length === 0) view = new HomeView(desk);
  else if (parts.length === 1) {
    // A Single DocType opens its form at /app/<route>, as in Frappe.
    const info = await desk.getMeta(parts[0]).catch(() => null);
    if (seq !== routing) return;
    view = info?.meta?.issingle ? new FormView(desk, parts[0], info.meta.name) : new ListView(desk, parts[0]);
  } else {
    const name = parts.slice(1).join('/');
    view = new FormView(desk, parts[0], name === 'new' ? null : name);
  }
  if (current) current.unmount();
  current = view;
  main.replaceChildren(h('p', { class: 'muted loading' }, 'Loading…'));
  try {
    await view.mount(main);
  } catch (err) {
    console.error('livedoc desk:', err);
    if (seq === routing) main.replaceChildren(h('section', { class: 'empty-state', role: 'alert' }, h('h1', { class: 'empty-title' }, 'Something went wrong'), h('p', {}, errorText(err))));
  }
}

document.addEventListener('click', async (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[href]');
  if (!a || a.target || !a.hasAttribute('data-link')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith('/app')) return;
  e.preventDefault();
  if (current?.is_dirty?.() && !(await confirmDialog('You have unsaved changes. Leave this page and discard them?', { ok: 'Discard changes', cancel: 'Stay', danger: true }))) return;
  desk.navigate(url.pathname + url.search);
});
window.addEventListener('popstate', () => route());
window.addEventListener('beforeunload', (e) => {
  if (current?.is_dirty?.()) e.preventDefault();
});

// Keyboard: Ctrl/Cmd+S saves the open form; Alt+N opens a new document from a list.
document.addEventListener('keydown', (e) => {
  if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === 's') {
    if (current?.doSave) {
      e.preventDefault();
      current.doSave();
    }
  } else if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === 'g') {
    e.preventDefault();
    awesome.focus();
  } else if (e.altKey && !e.ctrlKey && !e.metaKey && e.key.toLowerCase() === 'n') {
    const a = main.querySelector('[data-action="new"]');
    if (a) {
      e.preventDefault();
      a.click();
    }
  }
});

// ---- the navbar: connection state and the user ------------------------------------------------

// The indicator shows the socket's state; while the browser itself is offline it says so.
const conn = document.getElementById('conn');
let connState = ['connecting', 'Connecting', 'Connecting to the server'];
function showConn() {
  const [state, text, title] = navigator.onLine === false ? ['offline', 'Offline', 'No network: changes will appear when you are back online'] : connState;
  conn.dataset.state = state;
  conn.querySelector('.conn-text').textContent = text;
  conn.title = title;
}
function setConn(...s) {
  connState = s;
  showConn();
}
ld.realtime.on('connect', () => setConn('connected', 'Live', 'Connected: changes appear as they happen'));
ld.realtime.on('disconnect', () => setConn('reconnecting', 'Reconnecting…', 'Connection lost: reconnecting'));
ld.realtime.on('reconnecting', (info) => setConn('reconnecting', 'Reconnecting…', `Connection lost: reconnecting${info?.attempt ? ` (attempt ${info.attempt})` : ''}`));
ld.realtime.on('resync', () => {
  desk.metas.clear();
  current?.reload?.();
});
window.addEventListener('offline', showConn);
window.addEventListener('online', showConn);
if (ld.realtime.connected) setConn('connected', 'Live', 'Connected: changes appear as they happen');
else showConn();

const awesome = new AwesomeBar(desk);
document.getElementById('crumbs').after(awesome.el);

const me = document.getElementById('me');
me.replaceChildren(
  avatar(desk.user, { size: 'avatar-sm' }),
  h('span', { class: 'me-name' }, desk.user),
  h('button', { type: 'button', class: 'btn btn-sm btn-ghost', onclick: logout }, 'Log out'));

async function logout() {
  try {
    await fetch('/api/method/logout', { method: 'POST', headers: { 'X-Frappe-CSRF-Token': window.csrf_token || '' }, credentials: 'same-origin' });
  } finally {
    location.href = '/app';
  }
}

// ---- server messages: msgprint → toast, progress → bar, livedoc_error → warning ---------------

ld.realtime.on('msgprint', (m) => {
  const msg = typeof m === 'object' && m !== null ? m : { message: m };
  toast(plainText(msg.message), { title: msg.title, indicator: msg.indicator || 'blue', timeout: msg.alert ? 4000 : 8000 });
});

const progress = document.getElementById('progress');
let progressTimer = null;
ld.realtime.on('progress', (m) => {
  if (!m) return;
  const pct = Math.max(0, Math.min(100, Number(m.percent ?? (m.progress && m.total ? (100 * m.progress) / m.total : 0)) || 0));
  clearTimeout(progressTimer);
  progress.hidden = false;
  progress.querySelector('.progress-bar').style.width = `${pct}%`;
  progress.querySelector('.progress-text').textContent = [m.title, m.description].filter(Boolean).map(plainText).join(' — ') + ` ${Math.round(pct)}%`;
  progress.setAttribute('aria-valuenow', String(Math.round(pct)));
  if (pct >= 100) progressTimer = setTimeout(() => (progress.hidden = true), 1200);
});
// A background job's end (Frappe's task_status_change in its task room): the bar says so.
ld.realtime.on('task_status_change', (m) => {
  if (!m || (m.status !== 'finished' && m.status !== 'failed')) return;
  clearTimeout(progressTimer);
  progress.hidden = false;
  progress.classList.toggle('failed', m.status === 'failed');
  progress.querySelector('.progress-bar').style.width = '100%';
  progress.querySelector('.progress-text').textContent = m.status === 'failed' ? `Failed${m.exc_info ? ': ' + plainText(m.exc_info).split('\n')[0] : ''}` : 'Finished';
  progress.setAttribute('aria-valuenow', '100');
  progressTimer = setTimeout(() => (progress.hidden = true), m.status === 'failed' ? 8000 : 2000);
});
progress.setAttribute('role', 'progressbar');
progress.setAttribute('aria-valuemin', '0');
progress.setAttribute('aria-valuemax', '100');

ld.realtime.on('livedoc_error', (m) => {
  if (m?.event === 'unsubscribed') {
    toast(`You no longer have access to ${m.room?.replace(/^(doc|doctype|open_doc):/, '') ?? 'a page you had open'}.`, { indicator: 'orange', timeout: 8000 });
    desk.metas.clear();
    current?.reload?.();
  }
});

route();
