// Controls that are one native input: Data (and its Email, Phone, URL options), Small Text,
// Text, Long Text, JSON, Int, Float, Currency, Percent, Check, Select, Autocomplete, Date,
// Datetime (shown in the user's time zone, stored in UTC as the server keeps it), Time, Password
// (never shown back), Read Only, Phone, Barcode, Icon.

import { h } from './ui.js';
import { BaseControl, selectOptions } from './control-base.js';

const TEXTAREA = new Set(['Small Text', 'Text', 'Long Text', 'JSON']);
const NUMBER = new Set(['Int', 'Float', 'Currency', 'Percent']);

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** The browser's time zone, as Intl names it ("Europe/Berlin"). */
export const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

/** "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC → "YYYY-MM-DDTHH:MM:SS" local, for datetime-local. */
export function utcToLocalInput(v) {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?/.exec(String(v ?? ''));
  if (!m) return '';
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0)));
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** datetime-local's "YYYY-MM-DDTHH:MM[:SS]" (local) → "YYYY-MM-DD HH:MM:SS" UTC. */
export function localInputToUTC(v) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(String(v ?? ''));
  if (!m) return null;
  const d = new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** Now, as the server stores a Datetime. */
export function nowUTC() {
  const d = new Date();
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

export class InputControl extends BaseControl {
  constructor(field, opts) {
    super(field, opts);
    const f = field;
    const t = f.fieldtype;
    const common = { id: this.id, name: f.fieldname, placeholder: opts.compact ? null : f.placeholder || null };
    let input;
    if (t === 'Check') input = h('input', { ...common, type: 'checkbox', class: 'check' });
    else if (t === 'Select') input = h('select', { ...common, class: 'input' }, selectOptions(f).map((o) => h('option', { value: o }, o)));
    else if (t === 'Int') input = h('input', { ...common, type: 'number', step: '1', class: 'input num', inputmode: 'numeric', min: f.non_negative ? '0' : null });
    else if (NUMBER.has(t)) input = h('input', { ...common, type: 'number', step: 'any', class: 'input num', inputmode: 'decimal', min: f.non_negative ? '0' : null });
    else if (t === 'Date') input = h('input', { ...common, type: 'date', class: 'input' });
    else if (t === 'Datetime') input = h('input', { ...common, type: 'datetime-local', step: '1', class: 'input', title: `In your time zone (${timeZone})` });
    else if (t === 'Time') input = h('input', { ...common, type: 'time', step: '1', class: 'input' });
    else if (t === 'Password') input = h('input', { ...common, type: 'password', class: 'input', autocomplete: 'new-password' });
    else if (TEXTAREA.has(t)) {
      input = h('textarea', { ...common, class: `input${t === 'JSON' ? ' mono' : ''}`, rows: t === 'Small Text' ? 3 : t === 'Long Text' ? 8 : 5, spellcheck: t !== 'JSON' });
    } else {
      const type = t === 'Phone' || f.options === 'Phone' ? 'tel' : f.options === 'Email' ? 'email' : f.options === 'URL' ? 'url' : 'text';
      input = h('input', { ...common, type, class: 'input', autocomplete: 'off' });
      if (t === 'Autocomplete') {
        const list = h('datalist', { id: `${this.id}-options` }, selectOptions(f).filter(Boolean).map((o) => h('option', { value: o })));
        input.setAttribute('list', list.id);
        this.extra = list;
      }
    }
    this.input = input;
    const isText = input.tagName === 'TEXTAREA' || !['checkbox'].includes(input.type) && input.tagName === 'INPUT';
    if (isText) input.addEventListener('input', () => this.changed({ complete: false }));
    input.addEventListener('change', () => {
      if (t === 'JSON') this.checkJSON();
      if (isText) this.opts.onChange?.(this.get());
      else this.changed();
    });
    if (t === 'Check' && !opts.compact) {
      this.el = h('div', { class: `field field-check${f.bold ? ' bold' : ''}`, 'data-fieldname': f.fieldname, 'data-fieldtype': t },
        h('label', { class: 'check-label', for: this.id }, input, h('span', {}, f.label || f.fieldname)),
        f.description ? h('p', { class: 'field-desc' }, String(f.description)) : null, this.errorEl);
    } else if (t === 'Percent' && !opts.compact) {
      this.bar = h('span', { class: 'percent-bar', 'aria-hidden': 'true' }, h('span', { class: 'percent-fill' }));
      input.addEventListener('input', () => this.showPercent());
      this.wrap(h('div', { class: 'input-affix' }, input, h('span', { class: 'affix' }, '%')), this.bar);
    } else {
      this.wrap(input, this.extra);
    }
    if (t === 'Read Only') super.setReadOnly(true);
  }

  checkJSON() {
    const s = this.input.value.trim();
    if (!s) return this.setError('');
    try {
      JSON.parse(s);
      this.setError('');
    } catch (e) {
      this.setError('Not valid JSON: ' + e.message);
    }
  }

  showPercent() {
    if (!this.bar) return;
    const n = Math.max(0, Math.min(100, Number(this.input.value) || 0));
    this.bar.firstChild.style.width = `${n}%`;
  }

  get() {
    const v = this.input.value;
    switch (this.field.fieldtype) {
      case 'Check':
        return this.input.checked ? 1 : 0;
      case 'Int':
        return v === '' ? null : parseInt(v, 10);
      case 'Float':
      case 'Currency':
      case 'Percent':
        return v === '' ? null : parseFloat(v);
      case 'Date':
        return v || null;
      case 'Datetime':
        return v ? localInputToUTC(v) : null;
      case 'Time':
        return v ? (v.length === 5 ? `${v}:00` : v) : null;
      case 'JSON':
        return v.trim() === '' ? null : v;
      default:
        return v;
    }
  }

  set(v) {
    const input = this.input;
    const t = this.field.fieldtype;
    if (t === 'Check') {
      input.checked = !!Number(v);
      return;
    }
    let s;
    if (v === null || v === undefined) s = '';
    else if (t === 'Datetime') s = utcToLocalInput(v);
    else if (t === 'Date') s = String(v).slice(0, 10);
    else if (t === 'Time') s = String(v).slice(0, 8);
    else if (t === 'JSON') s = typeof v === 'string' ? v : JSON.stringify(v, null, 2);
    else if (t === 'Password') s = ''; // never shown back: the server does not send it either
    else s = String(v);
    if (t === 'Password' && !this.opts.compact) {
      input.placeholder = this.frm && !this.frm.is_new() ? 'Leave empty to keep the current password' : '';
    }
    if (t === 'Select' && s !== '' && ![...input.options].some((o) => o.value === s)) {
      input.append(h('option', { value: s }, s)); // a value outside the options: still shown
    }
    // Equal numbers in another spelling ("10" vs "10.0") keep the user's caret and text.
    if (input.value === s) return this.showPercent();
    if (['Float', 'Currency', 'Int', 'Percent'].includes(t) && input.value !== '' && s !== '' && Number(input.value) === Number(s)) return;
    if (t === 'Password' && document.activeElement === input && input.value) return; // the user is typing one
    input.value = s;
    this.showPercent();
  }

  setReadOnly(ro) {
    super.setReadOnly(ro || this.field.fieldtype === 'Read Only');
  }
}
