// Small DOM helpers shared by the desk's views: element building, toasts, a confirm dialog,
// formatting of values and times. No dependencies.

/**
 * h('div', {class: 'x', 'data-fieldname': 'f', onclick: fn}, child, [children], 'text')
 * Attributes: class, dataset via data-*, on<event> functions, boolean true → empty attribute,
 * false/null/undefined → left out. Children: nodes, strings, arrays, null (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'value') el.value = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** debounce(fn, ms): calls fn once, ms after the last call; .cancel() drops a pending call. */
export function debounce(fn, ms) {
  let t = null;
  const d = (...args) => {
    clearTimeout(t);
    t = setTimeout(() => {
      t = null;
      fn(...args);
    }, ms);
  };
  d.cancel = () => {
    clearTimeout(t);
    t = null;
  };
  d.pending = () => t !== null;
  return d;
}

/** Text of a message that may hold HTML (Frappe's msgprint does): tags are dropped, never run. */
export function plainText(s) {
  if (s === null || s === undefined) return '';
  if (typeof s !== 'string') s = typeof s === 'object' ? (s.message ?? JSON.stringify(s)) : String(s);
  if (!/[<&]/.test(s)) return s;
  return new DOMParser().parseFromString(s, 'text/html').body.textContent || '';
}

/** A toast in the corner: indicator green | blue | orange | red. */
export function toast(message, { indicator = 'blue', title = '', timeout = 5000 } = {}) {
  const box = document.getElementById('toasts');
  if (!box) return;
  const el = h('div', { class: `toast toast-${indicator}`, role: indicator === 'red' ? 'alert' : 'status' },
    title ? h('strong', { class: 'toast-title' }, plainText(title)) : null,
    h('span', { class: 'toast-text' }, plainText(message)),
    h('button', { class: 'toast-close', type: 'button', 'aria-label': 'Dismiss', onclick: () => el.remove() }, '×'));
  box.append(el);
  while (box.children.length > 4) box.firstElementChild.remove();
  if (timeout) setTimeout(() => el.remove(), timeout);
  return el;
}

/** A modal confirm dialog; resolves true for OK. */
export function confirmDialog(message, { ok = 'OK', cancel = 'Cancel', danger = false, title = '' } = {}) {
  return new Promise((resolve) => {
    const dlg = h('dialog', { class: 'dialog' },
      h('form', { method: 'dialog' },
        title ? h('h2', { class: 'dialog-title' }, title) : null,
        h('p', { class: 'dialog-text' }, message),
        h('div', { class: 'dialog-actions' },
          h('button', { class: 'btn', value: 'cancel', type: 'submit' }, cancel),
          h('button', { class: danger ? 'btn btn-danger' : 'btn btn-primary', value: 'ok', type: 'submit', autofocus: true }, ok))));
    dlg.addEventListener('close', () => {
      resolve(dlg.returnValue === 'ok');
      dlg.remove();
    });
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** A modal dialog asking for one line of text; resolves with it, or null when cancelled. */
export function promptDialog(label, { title = '', ok = 'OK', value = '', type = 'text' } = {}) {
  return new Promise((resolve) => {
    const input = h('input', { class: 'input', type, value, 'aria-label': label, autofocus: true });
    const dlg = h('dialog', { class: 'dialog' },
      h('form', { method: 'dialog' },
        title ? h('h2', { class: 'dialog-title' }, title) : null,
        h('label', { class: 'dialog-text' }, label),
        input,
        h('div', { class: 'dialog-actions' },
          h('button', { class: 'btn', value: 'cancel', type: 'submit', formnovalidate: true }, 'Cancel'),
          h('button', { class: 'btn btn-primary', value: 'ok', type: 'submit' }, ok))));
    dlg.addEventListener('close', () => {
      resolve(dlg.returnValue === 'ok' ? input.value.trim() : null);
      dlg.remove();
    });
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** Initials for an avatar: "jane.doe@x.com" → "JD", "Administrator" → "AD". */
export function initials(user) {
  const base = String(user || '?').split('@')[0];
  const words = base.split(/[\s._-]+/).filter(Boolean);
  if (words.length >= 2) return (words[0][0] + words[1][0]).toUpperCase();
  return base.slice(0, 2).toUpperCase();
}

/** A stable hue for a user, so each person keeps their avatar colour. */
export function hue(user) {
  let n = 0;
  for (const ch of String(user)) n = (n * 31 + ch.charCodeAt(0)) % 360;
  return n;
}

export function avatar(user, { size = '' } = {}) {
  return h('span', { class: `avatar ${size}`, title: user, 'data-user': user, style: `--hue:${hue(user)}`, 'aria-label': user }, initials(user));
}

/** The server's timestamps are UTC "YYYY-MM-DD HH:MM:SS[.ffffff]". */
export function parseServerTime(s) {
  if (!s) return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?/.exec(s);
  if (!m) return null;
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], m[7] ? +m[7].slice(0, 3).padEnd(3, '0') : 0));
}

export function timeAgo(s) {
  const d = parseServerTime(s);
  if (!d) return '';
  const secs = Math.round((Date.now() - d.getTime()) / 1000);
  if (secs < 10) return 'just now';
  if (secs < 60) return `${secs} s ago`;
  if (secs < 3600) return `${Math.floor(secs / 60)} min ago`;
  if (secs < 86400) return `${Math.floor(secs / 3600)} h ago`;
  return d.toLocaleString();
}

export function localTime(s) {
  const d = parseServerTime(s);
  return d ? d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }) : '';
}

/** "3 minutes ago", "yesterday at 14:05", "on 2 Mar 2024 at 09:10": when, in words. */
export function whenInWords(s) {
  const d = parseServerTime(s);
  if (!d) return '';
  const secs = Math.round((Date.now() - d.getTime()) / 1000);
  const time = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  if (secs < 45) return 'just now';
  if (secs < 90) return 'a minute ago';
  if (secs < 3600) return `${Math.round(secs / 60)} minutes ago`;
  const today = new Date();
  const sameDay = (a, b) => a.toDateString() === b.toDateString();
  if (sameDay(d, today)) return `today at ${time}`;
  const y = new Date(today);
  y.setDate(y.getDate() - 1);
  if (sameDay(d, y)) return `yesterday at ${time}`;
  return `on ${d.toLocaleDateString(undefined, { dateStyle: 'medium' })} at ${time}`;
}

const money = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });

/** A value as the list view shows it. */
export function formatValue(field, v) {
  if (v === null || v === undefined || v === '') return '';
  switch (field?.fieldtype) {
    case 'Currency':
      return money.format(Number(v));
    case 'Float':
      return String(Number(v));
    case 'Check':
      return Number(v) ? '✓' : '';
    case 'Percent':
      return `${Number(v)}%`;
    case 'Rating': {
      const n = parseInt(field.options, 10) || 5;
      const k = Math.round(Number(v) * n);
      return '★'.repeat(k) + '☆'.repeat(Math.max(0, n - k));
    }
    case 'Duration': {
      let t = Math.round(Number(v));
      const parts = [];
      for (const [u, m] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]]) {
        if (t >= m) {
          parts.push(`${Math.floor(t / m)}${u}`);
          t %= m;
        }
      }
      return parts.join(' ') || '0s';
    }
    case 'Text Editor':
    case 'HTML Editor':
      return plainText(v);
    case 'Password':
      return '';
    case 'Datetime':
      return localTime(v) || String(v);
    case 'JSON':
      return typeof v === 'string' ? v : JSON.stringify(v);
    default:
      return String(v);
  }
}

/** A readable message for an error thrown by the client (LivedocError carries excType). */
export function errorText(err) {
  if (!err) return 'Unknown error';
  return plainText(err.message || String(err));
}

/** The desk route of a DocType: lower case, spaces as hyphens (as Frappe). */
export function routeOf(doctype) {
  return String(doctype).toLowerCase().replace(/ /g, '-');
}

export function docURL(doctype, name) {
  return `/app/${routeOf(doctype)}/${encodeURIComponent(name)}`;
}

export function docstatusLabel(ds) {
  return ['Draft', 'Submitted', 'Cancelled'][Number(ds) || 0] || 'Draft';
}
