// Field controls: one per field type, each wrapped in an element carrying data-fieldname.
//
//   const c = makeControl(field, {desk, onInput(value), onChange(value), compact});
//   c.el             the wrapper (.field[data-fieldname][data-fieldtype])
//   c.set(value)     show a value (from the server or a script), without firing callbacks
//   c.get()          the value as the document holds it
//   c.setReadOnly(b), c.setError(msg|''), c.focus()
//
// onInput fires on every edit (the form marks itself dirty); onChange when an edit is complete
// (blur, select, pick), which runs the client script's field handlers.

import { h, debounce, docURL, errorText } from './ui.js';

let seq = 0;
const nextId = (f) => `f-${f.fieldname}-${++seq}`;

const TEXTAREA = new Set(['Small Text', 'Text', 'JSON']);
export const WIDE = new Set(['Small Text', 'Text', 'JSON', 'Table']);

export function selectOptions(field) {
  return String(field.options || '').split('\n').map((s) => s.trim()).filter((s, i, a) => s !== '' || i === 0);
}

export function makeControl(field, opts = {}) {
  if (field.fieldtype === 'Table') return new TableControl(field, opts);
  if (field.fieldtype === 'Link') return new LinkControl(field, opts);
  return new InputControl(field, opts);
}

class BaseControl {
  constructor(field, opts) {
    this.field = field;
    this.opts = opts;
    this.id = nextId(field);
    this.readOnly = false;
    this.errorEl = h('div', { class: 'field-error', id: `${this.id}-err`, role: 'alert' });
  }

  wrap(...inner) {
    const f = this.field;
    const label = this.opts.compact
      ? null
      : h('label', { class: 'field-label', for: this.id }, f.label || f.fieldname, f.reqd ? h('span', { class: 'reqd', 'aria-hidden': 'true' }, ' *') : null);
    this.el = h('div', { class: `field field-${cls(f.fieldtype)}${WIDE.has(f.fieldtype) && !this.opts.compact ? ' wide' : ''}`, 'data-fieldname': f.fieldname, 'data-fieldtype': f.fieldtype },
      label, ...inner, this.opts.compact ? null : this.errorEl);
    return this.el;
  }

  setError(msg) {
    this.el.classList.toggle('has-error', !!msg);
    this.errorEl.textContent = msg || '';
    const input = this.input;
    if (input) {
      if (msg) {
        input.setAttribute('aria-invalid', 'true');
        input.setAttribute('aria-describedby', this.errorEl.id);
        if (this.opts.compact) input.title = msg;
      } else {
        input.removeAttribute('aria-invalid');
        input.removeAttribute('title');
      }
    }
  }

  focus() {
    this.input?.focus();
  }
}

function cls(t) {
  return String(t).toLowerCase().replace(/\s+/g, '-');
}

/** Data, Small Text, Text, Int, Float, Currency, Check, Select, Date, Datetime, JSON, Password. */
class InputControl extends BaseControl {
  constructor(field, opts) {
    super(field, opts);
    const f = field;
    const common = { id: this.id, name: f.fieldname, 'aria-label': opts.compact ? f.label : null };
    let input;
    switch (f.fieldtype) {
      case 'Check':
        input = h('input', { ...common, type: 'checkbox', class: 'check' });
        break;
      case 'Select':
        input = h('select', { ...common, class: 'input' }, selectOptions(f).map((o) => h('option', { value: o }, o)));
        break;
      case 'Int':
        input = h('input', { ...common, type: 'number', step: '1', class: 'input num', inputmode: 'numeric' });
        break;
      case 'Float':
      case 'Currency':
        input = h('input', { ...common, type: 'number', step: 'any', class: 'input num', inputmode: 'decimal' });
        break;
      case 'Date':
        input = h('input', { ...common, type: 'date', class: 'input' });
        break;
      case 'Datetime':
        input = h('input', { ...common, type: 'datetime-local', step: '1', class: 'input' });
        break;
      case 'Password':
        input = h('input', { ...common, type: 'password', class: 'input', autocomplete: 'new-password', placeholder: opts.compact ? null : 'Unchanged' });
        break;
      default:
        input = TEXTAREA.has(f.fieldtype)
          ? h('textarea', { ...common, class: `input${f.fieldtype === 'JSON' ? ' mono' : ''}`, rows: f.fieldtype === 'Small Text' ? 3 : 5, spellcheck: f.fieldtype !== 'JSON' })
          : h('input', { ...common, type: 'text', class: 'input' });
    }
    this.input = input;
    const fire = (cb) => () => {
      if (this.readOnly) return;
      if (f.fieldtype === 'JSON') this.checkJSON();
      cb?.(this.get());
    };
    const isText = input.tagName === 'TEXTAREA' || ['text', 'password', 'number', 'date', 'datetime-local'].includes(input.type);
    if (isText) input.addEventListener('input', fire(opts.onInput));
    input.addEventListener('change', () => {
      if (!isText) fire(opts.onInput)();
      fire(opts.onChange)();
    });
    if (f.fieldtype === 'Check') this.wrapCheck();
    else this.wrap(input);
  }

  wrapCheck() {
    const f = this.field;
    if (this.opts.compact) return this.wrap(this.input);
    this.el = h('div', { class: 'field field-check', 'data-fieldname': f.fieldname, 'data-fieldtype': f.fieldtype },
      h('label', { class: 'check-label', for: this.id }, this.input, h('span', {}, f.label || f.fieldname)), this.errorEl);
    return this.el;
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

  get() {
    const v = this.input.value;
    switch (this.field.fieldtype) {
      case 'Check':
        return this.input.checked ? 1 : 0;
      case 'Int':
        return v === '' ? null : parseInt(v, 10);
      case 'Float':
      case 'Currency':
        return v === '' ? null : parseFloat(v);
      case 'Date':
        return v || null;
      case 'Datetime':
        return v ? v.replace('T', ' ') + (v.length === 16 ? ':00' : '') : null;
      case 'JSON':
        return v.trim() === '' ? null : v;
      default:
        return v;
    }
  }

  set(v) {
    const input = this.input;
    const f = this.field;
    if (f.fieldtype === 'Check') {
      input.checked = !!Number(v);
      return;
    }
    let s;
    if (v === null || v === undefined) s = '';
    else if (f.fieldtype === 'Datetime') s = String(v).slice(0, 19).replace(' ', 'T');
    else if (f.fieldtype === 'Date') s = String(v).slice(0, 10);
    else if (f.fieldtype === 'JSON') s = typeof v === 'string' ? v : JSON.stringify(v, null, 2);
    else if (f.fieldtype === 'Password') s = typeof v === 'string' ? v : '';
    else s = String(v);
    if (f.fieldtype === 'Select' && s !== '' && ![...input.options].some((o) => o.value === s)) {
      input.append(h('option', { value: s }, s)); // a value outside the options: still shown
    }
    // Equal numbers in another spelling ("10" vs "10.0") keep the user's caret and text.
    if (input.value === s) return;
    if ((f.fieldtype === 'Float' || f.fieldtype === 'Currency' || f.fieldtype === 'Int') && input.value !== '' && Number(input.value) === Number(s)) return;
    input.value = s;
  }

  setReadOnly(ro) {
    this.readOnly = ro;
    const input = this.input;
    if (input.tagName === 'SELECT' || input.type === 'checkbox' || input.type === 'date' || input.type === 'datetime-local') input.disabled = ro;
    else input.readOnly = ro;
    this.el.classList.toggle('read-only', ro);
  }
}

/** Link: a text input with a dropdown of matching documents (frappe.desk.search.search_link). */
class LinkControl extends BaseControl {
  constructor(field, opts) {
    super(field, opts);
    const listId = `${this.id}-list`;
    this.input = h('input', { id: this.id, name: field.fieldname, type: 'text', class: 'input', role: 'combobox', autocomplete: 'off',
      'aria-autocomplete': 'list', 'aria-expanded': 'false', 'aria-controls': listId, 'aria-label': opts.compact ? field.label : null });
    this.list = h('ul', { class: 'link-dropdown', id: listId, role: 'listbox', hidden: true });
    this.open = h('a', { class: 'link-open', href: '#', 'data-link': true, title: `Open ${field.options}`, 'aria-label': `Open ${field.options}`, hidden: true }, '↗');
    this.items = [];
    this.active = -1;
    this.searchSeq = 0;
    this.search = debounce(() => this.doSearch(), 150);
    this.input.addEventListener('input', () => {
      if (this.readOnly) return;
      this.updateOpen();
      opts.onInput?.(this.get());
      this.search();
    });
    this.input.addEventListener('focus', () => {
      if (!this.readOnly) this.search();
    });
    this.input.addEventListener('keydown', (e) => this.onKey(e));
    this.input.addEventListener('blur', () => setTimeout(() => this.close(), 150));
    this.input.addEventListener('change', () => {
      if (!this.readOnly) opts.onChange?.(this.get());
    });
    this.wrap(h('div', { class: 'link-wrap' }, this.input, this.open, this.list));
  }

  async doSearch() {
    const txt = this.input.value;
    const q = ++this.searchSeq;
    let res;
    try {
      res = await this.opts.desk.ld.call('frappe.desk.search.search_link', { doctype: this.field.options, txt, page_length: 10 });
    } catch (e) {
      this.items = [];
      this.list.replaceChildren(h('li', { class: 'link-empty' }, errorText(e)));
      this.show();
      return;
    }
    if (q !== this.searchSeq || document.activeElement !== this.input) return;
    this.items = Array.isArray(res) ? res : (res?.results ?? []);
    this.active = -1;
    this.list.replaceChildren(
      ...this.items.map((it, i) =>
        h('li', { class: 'link-item', role: 'option', id: `${this.id}-opt-${i}`, 'data-value': it.value, 'aria-selected': 'false',
          onmousedown: (e) => {
            e.preventDefault();
            this.pick(i);
          } },
        h('span', { class: 'link-value' }, it.value), it.description ? h('span', { class: 'link-desc' }, it.description) : null)),
    );
    if (!this.items.length) this.list.append(h('li', { class: 'link-empty' }, txt ? `No ${this.field.options} matches “${txt}”` : `No ${this.field.options} yet`));
    this.show();
  }

  show() {
    this.list.hidden = false;
    this.input.setAttribute('aria-expanded', 'true');
  }

  close() {
    this.list.hidden = true;
    this.input.setAttribute('aria-expanded', 'false');
    this.input.removeAttribute('aria-activedescendant');
  }

  onKey(e) {
    if (this.list.hidden && e.key === 'ArrowDown') {
      this.doSearch();
      return;
    }
    if (this.list.hidden) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      if (!this.items.length) return;
      this.active = (this.active + (e.key === 'ArrowDown' ? 1 : -1) + this.items.length) % this.items.length;
      [...this.list.querySelectorAll('.link-item')].forEach((li, i) => li.setAttribute('aria-selected', String(i === this.active)));
      this.input.setAttribute('aria-activedescendant', `${this.id}-opt-${this.active}`);
    } else if (e.key === 'Enter' && this.active >= 0) {
      e.preventDefault();
      this.pick(this.active);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      this.close();
    }
  }

  pick(i) {
    const it = this.items[i];
    if (!it) return;
    this.input.value = it.value;
    this.close();
    this.updateOpen();
    this.opts.onInput?.(this.get());
    this.opts.onChange?.(this.get());
  }

  updateOpen() {
    const v = this.input.value.trim();
    this.open.hidden = !v;
    if (v) this.open.href = docURL(this.field.options, v);
  }

  get() {
    return this.input.value.trim();
  }

  set(v) {
    const s = v === null || v === undefined ? '' : String(v);
    if (this.input.value !== s) this.input.value = s;
    this.updateOpen();
  }

  setReadOnly(ro) {
    this.readOnly = ro;
    this.input.readOnly = ro;
    this.el.classList.toggle('read-only', ro);
    if (ro) this.close();
  }
}

let rowSeq = 0;

/** Table: an editable grid of child rows, with a control per visible child field. */
class TableControl extends BaseControl {
  constructor(field, opts) {
    super(field, opts);
    this.child = opts.childMeta;
    const fields = (this.child?.fields || []).filter((f) => !f.hidden && f.fieldtype !== 'Table');
    const listed = fields.filter((f) => f.in_list_view);
    this.columns = (listed.length ? listed : fields).slice(0, 6);
    this.rows = [];
    this.rowEls = [];
    this.body = h('div', { class: 'grid-body', role: 'rowgroup' });
    this.addBtn = h('button', { type: 'button', class: 'btn btn-sm', onclick: () => this.addRow() }, '+ Add row');
    this.empty = h('div', { class: 'grid-empty' }, 'No rows');
    const head = h('div', { class: 'grid-row grid-head', role: 'row' },
      h('div', { class: 'grid-idx', role: 'columnheader' }, '#'),
      this.columns.map((c) => h('div', { class: `grid-cell grid-${cls(c.fieldtype)}`, role: 'columnheader' }, c.label || c.fieldname, c.reqd ? h('span', { class: 'reqd' }, ' *') : null)),
      h('div', { class: 'grid-actions', role: 'columnheader', 'aria-label': 'Actions' }));
    this.grid = h('div', { class: 'grid', role: 'table', 'aria-label': field.label, style: `--cols:${this.columns.length}` }, head, this.body, this.empty);
    this.input = null;
    this.el = h('div', { class: 'field field-table wide', 'data-fieldname': field.fieldname, 'data-fieldtype': 'Table' },
      h('div', { class: 'field-label', id: this.id }, field.label || field.fieldname, field.reqd ? h('span', { class: 'reqd' }, ' *') : null),
      h('div', { class: 'grid-scroll' }, this.grid), h('div', { class: 'grid-foot' }, this.addBtn), this.errorEl);
  }

  cdn(row) {
    if (!row.name && !row.__cdn) row.__cdn = `new-${cls(this.child?.name || 'row')}-${++rowSeq}`;
    return row.name || row.__cdn;
  }

  renderRows() {
    this.rowEls = this.rows.map((row, i) => this.renderRow(row, i));
    this.body.replaceChildren(...this.rowEls);
    this.empty.hidden = this.rows.length > 0;
  }

  renderRow(row, i) {
    const cells = this.columns.map((cf) => {
      const ctl = makeControl(cf, {
        compact: true,
        desk: this.opts.desk,
        onInput: (v) => {
          row[cf.fieldname] = v;
          this.opts.onInput?.(this.rows, { cdt: this.child?.name, cdn: this.cdn(row), fieldname: cf.fieldname });
        },
        onChange: (v) => {
          row[cf.fieldname] = v;
          this.opts.onChange?.(this.rows, { cdt: this.child?.name, cdn: this.cdn(row), fieldname: cf.fieldname });
        },
      });
      ctl.set(row[cf.fieldname]);
      ctl.setReadOnly(this.readOnly || !!cf.read_only);
      ctl.el.classList.add('grid-cell');
      return ctl.el;
    });
    const remove = h('button', { type: 'button', class: 'grid-remove', 'aria-label': `Remove row ${i + 1}`, title: 'Remove row', hidden: this.readOnly, onclick: () => this.removeRow(row) }, '×');
    return h('div', { class: 'grid-row', role: 'row', 'data-idx': i + 1, 'data-name': this.cdn(row) },
      h('div', { class: 'grid-idx', role: 'cell' }, String(i + 1)), cells, h('div', { class: 'grid-actions', role: 'cell' }, remove));
  }

  addRow() {
    if (this.readOnly) return;
    const row = { doctype: this.child?.name, __islocal: 1 };
    for (const f of this.child?.fields || []) {
      if (f.default !== undefined && f.default !== '') {
        row[f.fieldname] = ['Int', 'Check'].includes(f.fieldtype) ? parseInt(f.default, 10) : ['Float', 'Currency'].includes(f.fieldtype) ? parseFloat(f.default) : f.default;
      }
    }
    this.rows.push(row);
    this.renderRows();
    this.opts.onInput?.(this.rows, { cdt: this.child?.name, cdn: this.cdn(row), added: true });
    this.opts.onChange?.(this.rows, { cdt: this.child?.name, cdn: this.cdn(row), added: true });
    this.rowEls.at(-1)?.querySelector('input, select, textarea')?.focus();
  }

  removeRow(row) {
    if (this.readOnly) return;
    const i = this.rows.indexOf(row);
    if (i < 0) return;
    this.rows.splice(i, 1);
    this.renderRows();
    this.opts.onInput?.(this.rows, { cdt: this.child?.name, cdn: this.cdn(row), removed: true });
    this.opts.onChange?.(this.rows, { cdt: this.child?.name, cdn: this.cdn(row), removed: true });
    (this.rowEls[Math.min(i, this.rowEls.length - 1)]?.querySelector('input, select, textarea') || this.addBtn).focus();
  }

  get() {
    return this.rows;
  }

  set(rows) {
    this.rows = Array.isArray(rows) ? rows : [];
    this.renderRows();
  }

  setReadOnly(ro) {
    if (this.readOnly === ro && this.rowEls.length) return;
    this.readOnly = ro;
    this.addBtn.hidden = ro;
    this.el.classList.toggle('read-only', ro);
    this.renderRows();
  }

  focus() {
    (this.body.querySelector('input, select, textarea') || this.addBtn).focus();
  }
}
