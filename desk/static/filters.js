// The list's filters: the standard filters (one input per in_standard_filter field, as Frappe's
// list shows them) and a filter builder for any field with the operators of
// frappe.client.get_list (=, !=, <, >, <=, >=, like, not like, in, not in, is, between).
//
//   const fb = new FilterBuilder(meta, {filters: [[field, op, value]...], onChange(filters)});
//   fb.el (the rows and "+ Add a filter"), fb.filters()

import { h } from './ui.js';
import { selectOptions } from './controls.js';

const NUMERIC = new Set(['Int', 'Float', 'Currency', 'Percent', 'Rating', 'Duration']);
const DATES = new Set(['Date', 'Datetime', 'Time']);
const NOT_FILTERABLE = new Set(['Table', 'Table MultiSelect', 'Password', 'Section Break', 'Column Break', 'Tab Break', 'Fold', 'HTML', 'Heading',
  'Button', 'Image', 'Signature', 'Attach Image', 'Geolocation', 'JSON']);

/** The fields a list can filter and sort on: stored, readable, not tables or passwords. */
export function filterableFields(meta) {
  const std = [{ fieldname: 'name', label: 'ID', fieldtype: 'Data' }, { fieldname: 'owner', label: 'Created By', fieldtype: 'Link', options: 'User' },
    { fieldname: 'modified', label: 'Last Updated On', fieldtype: 'Datetime' }, { fieldname: 'creation', label: 'Created On', fieldtype: 'Datetime' }];
  if (meta.is_submittable) std.push({ fieldname: 'docstatus', label: 'Document Status', fieldtype: 'Select', options: '0\n1\n2' });
  const own = meta.fields.filter((f) => !NOT_FILTERABLE.has(f.fieldtype) && !f.is_virtual && !(f.permlevel > 0));
  return [...own.map((f) => ({ ...f, label: f.label || f.fieldname })), ...std];
}

export function operatorsFor(f) {
  if (f.fieldtype === 'Check') return ['='];
  if (NUMERIC.has(f.fieldtype) || DATES.has(f.fieldtype)) return ['=', '!=', '>', '<', '>=', '<=', 'between', 'is'];
  if (f.fieldtype === 'Select') return ['=', '!=', 'in', 'not in', 'is'];
  return ['like', 'not like', '=', '!=', 'in', 'not in', 'is'];
}

const OP_LABEL = { '=': 'equals', '!=': 'not equals', like: 'contains', 'not like': 'does not contain', in: 'is one of', 'not in': 'is not one of',
  '>': '>', '<': '<', '>=': '>=', '<=': '<=', is: 'is', between: 'between' };

/** The value a filter row sends for what the user typed. */
export function filterValue(f, op, raw) {
  const s = String(raw ?? '').trim();
  if (op === 'is') return s === 'not set' ? 'not set' : 'set';
  if (op === 'in' || op === 'not in') return s.split(',').map((x) => x.trim()).filter(Boolean);
  if (op === 'between') return s.split(',').map((x) => x.trim()).slice(0, 2);
  if (op === 'like' || op === 'not like') return s.includes('%') ? s : `%${s}%`;
  if (f.fieldtype === 'Check' || NUMERIC.has(f.fieldtype)) return s === '' ? s : Number(s);
  return s;
}

/** What a filter's value looks like in its input again (the reverse of filterValue). */
function rawValue(op, v) {
  if (Array.isArray(v)) return v.join(', ');
  if ((op === 'like' || op === 'not like') && typeof v === 'string' && /^%[^%]*%$/.test(v)) return v.slice(1, -1);
  return v ?? '';
}

export class FilterBuilder {
  constructor(meta, { filters = [], onChange }) {
    this.meta = meta;
    this.fields = filterableFields(meta);
    this.onChange = onChange;
    this.rows = [];
    this.rowsEl = h('div', { class: 'filter-rows' });
    this.addBtn = h('button', { type: 'button', class: 'btn btn-sm', 'data-action': 'add-filter', onclick: () => this.addRow() }, '+ Add a filter');
    this.el = h('div', { class: 'filter-builder', 'aria-label': 'Filters', role: 'group' }, this.rowsEl, h('div', {}, this.addBtn));
    for (const [field, op, value] of filters) this.addRow(field, op, rawValue(op, value), { silent: true });
    this.update();
  }

  field(name) {
    return this.fields.find((f) => f.fieldname === name);
  }

  addRow(fieldname = '', op = '', raw = '', { silent = false } = {}) {
    const row = {};
    row.field = h('select', { class: 'input input-sm', 'data-filter': 'field', 'aria-label': 'Filter field' },
      h('option', { value: '' }, 'Field…'), this.fields.map((f) => h('option', { value: f.fieldname, selected: f.fieldname === fieldname }, f.label)));
    row.op = h('select', { class: 'input input-sm', 'data-filter': 'op', 'aria-label': 'Condition' });
    row.valueSlot = h('span', { class: 'filter-value' });
    row.el = h('div', { class: 'filter-row' }, row.field, row.op, row.valueSlot,
      h('button', { type: 'button', class: 'chip-remove', 'aria-label': 'Remove this filter', onclick: () => this.removeRow(row) }, '×'));
    row.field.addEventListener('change', () => {
      this.renderOps(row);
      this.renderValue(row, '');
      this.changed();
    });
    row.op.addEventListener('change', () => {
      this.renderValue(row, row.value?.value ?? '');
      this.changed();
    });
    this.rows.push(row);
    this.rowsEl.append(row.el);
    this.renderOps(row, op);
    this.renderValue(row, raw);
    if (!silent) {
      this.update();
      row.field.focus();
    }
    return row;
  }

  removeRow(row) {
    this.rows = this.rows.filter((r) => r !== row);
    row.el.remove();
    this.update();
    this.changed();
  }

  renderOps(row, op = '') {
    const f = this.field(row.field.value);
    const ops = f ? operatorsFor(f) : [];
    row.op.replaceChildren(...ops.map((o) => h('option', { value: o, selected: o === op }, OP_LABEL[o])));
    row.op.disabled = !f;
  }

  renderValue(row, raw) {
    const f = this.field(row.field.value);
    const op = row.op.value;
    let input;
    const onInput = () => this.changed();
    if (!f) input = h('input', { class: 'input input-sm', disabled: true, placeholder: 'Value' });
    else if (op === 'is') {
      input = h('select', { class: 'input input-sm' }, ['set', 'not set'].map((v) => h('option', { value: v, selected: v === raw }, v)));
    } else if (f.fieldtype === 'Check') {
      input = h('select', { class: 'input input-sm' }, [['1', 'Yes'], ['0', 'No']].map(([v, l]) => h('option', { value: v, selected: String(raw) === v }, l)));
    } else if (f.fieldtype === 'Select' && (op === '=' || op === '!=')) {
      input = h('select', { class: 'input input-sm' }, selectOptions(f).filter(Boolean).map((o) => h('option', { value: o, selected: o === raw }, o)));
    } else {
      const type = f.fieldtype === 'Date' && op !== 'between' ? 'date' : NUMERIC.has(f.fieldtype) && !['between', 'in', 'not in'].includes(op) ? 'number' : 'search';
      input = h('input', { class: 'input input-sm', type, value: raw, placeholder: ['in', 'not in', 'between'].includes(op) ? 'a, b' : f.label });
    }
    input.setAttribute('aria-label', `${f?.label || 'Filter'} value`);
    input.dataset.filter = 'value';
    input.addEventListener(input.tagName === 'SELECT' ? 'change' : 'input', onInput);
    row.value = input;
    row.valueSlot.replaceChildren(input);
  }

  update() {
    this.el.dataset.count = String(this.filters().length);
  }

  changed() {
    this.update();
    this.onChange?.(this.filters());
  }

  /** The complete filters: [[field, op, value]]. */
  filters() {
    const out = [];
    for (const r of this.rows) {
      const f = this.field(r.field.value);
      if (!f || !r.op.value || !r.value) continue;
      if (r.op.value !== 'is' && String(r.value.value).trim() === '') continue;
      out.push([f.fieldname, r.op.value, filterValue(f, r.op.value, r.value.value)]);
    }
    return out;
  }
}
