// Table: child rows in a grid. The columns are the child's in_list_view fields (else its first
// fields), edited in place; each row also opens a row form with every field of the child table
// (for wide tables, and the fields the grid does not show), where depends_on is evaluated over
// the row (doc) and the document (parent).

import { h } from './ui.js';
import { BaseControl, cls } from './control-base.js';
import { makeControl } from './controls.js';
import { holds } from './rules.js';

const NO_GRID = new Set(['Table', 'Table MultiSelect', 'Section Break', 'Column Break', 'Tab Break', 'Fold', 'HTML', 'Heading', 'Button', 'Image',
  'Text Editor', 'Code', 'HTML Editor', 'Markdown Editor', 'Signature', 'Geolocation', 'Long Text', 'Text', 'JSON']);

let rowSeq = 0;

export class TableControl extends BaseControl {
  constructor(field, opts) {
    super(field, opts);
    this.child = opts.childMeta;
    const fields = (this.child?.fields || []).filter((f) => !f.hidden && !NO_GRID.has(f.fieldtype));
    const listed = fields.filter((f) => f.in_list_view);
    this.columns = (listed.length ? listed : fields).slice(0, 6);
    this.rows = [];
    this.rowEls = [];
    this.openRow = null; // the row whose form is open
    this.body = h('div', { class: 'grid-body', role: 'rowgroup' });
    this.addBtn = h('button', { type: 'button', class: 'btn btn-sm', 'data-action': 'add-row', onclick: () => this.addRow() }, '+ Add row');
    this.empty = h('div', { class: 'grid-empty' }, 'No rows');
    const head = h('div', { class: 'grid-row grid-head', role: 'row' },
      h('div', { class: 'grid-idx', role: 'columnheader' }, '#'),
      this.columns.map((c) => h('div', { class: `grid-cell grid-${cls(c.fieldtype)}`, role: 'columnheader' }, c.label || c.fieldname, c.reqd ? h('span', { class: 'reqd' }, ' *') : null)),
      h('div', { class: 'grid-actions', role: 'columnheader', 'aria-label': 'Actions' }));
    this.grid = h('div', { class: 'grid', role: 'table', 'aria-label': field.label, style: `--cols:${this.columns.length}` }, head, this.body, this.empty);
    this.input = null;
    this.el = h('div', { class: 'field field-table wide', 'data-fieldname': field.fieldname, 'data-fieldtype': 'Table' },
      this.labelEl('div'),
      h('div', { class: 'grid-scroll' }, this.grid), h('div', { class: 'grid-foot' }, this.addBtn),
      field.description ? h('p', { class: 'field-desc' }, String(field.description)) : null, this.errorEl);
  }

  cdn(row) {
    if (!row.name && !row.__cdn) row.__cdn = `new-${cls(this.child?.name || 'row')}-${++rowSeq}`;
    return row.name || row.__cdn;
  }

  info(row, extra = {}) {
    return { cdt: this.child?.name, cdn: this.cdn(row), ...extra };
  }

  renderRows() {
    this.rowEls = this.rows.map((row, i) => this.renderRow(row, i));
    this.body.replaceChildren(...this.rowEls.flatMap((r, i) => (this.rows[i] === this.openRow ? [r, this.renderRowForm(this.rows[i], i)] : [r])));
    this.empty.hidden = this.rows.length > 0;
  }

  cellControl(row, cf, compact) {
    const ctl = makeControl(cf, {
      compact,
      desk: this.opts.desk,
      frm: this.frm,
      doc: () => row,
      childMeta: null,
      onInput: (v) => {
        row[cf.fieldname] = v;
        this.opts.onInput?.(this.rows, this.info(row, { fieldname: cf.fieldname }));
        this.refreshRowForm();
      },
      onChange: (v) => {
        row[cf.fieldname] = v;
        this.opts.onChange?.(this.rows, this.info(row, { fieldname: cf.fieldname }));
        this.sync(row, compact);
      },
    });
    ctl.set(row[cf.fieldname]);
    ctl.setReadOnly(this.readOnly || !!cf.read_only);
    return ctl;
  }

  renderRow(row, i) {
    const cells = this.columns.map((cf) => {
      const ctl = this.cellControl(row, cf, true);
      ctl.el.classList.add('grid-cell');
      return ctl.el;
    });
    const open = this.openRow === row;
    const edit = h('button', { type: 'button', class: 'grid-edit', 'aria-label': `Edit row ${i + 1}`, 'aria-expanded': String(open), title: 'Edit row', 'data-action': 'edit-row',
      onclick: () => this.toggleRowForm(row) }, '✎');
    const remove = h('button', { type: 'button', class: 'grid-remove', 'aria-label': `Remove row ${i + 1}`, title: 'Remove row', hidden: this.readOnly, onclick: () => this.removeRow(row) }, '×');
    return h('div', { class: `grid-row${open ? ' open' : ''}`, role: 'row', 'data-idx': i + 1, 'data-name': this.cdn(row) },
      h('div', { class: 'grid-idx', role: 'cell' }, String(i + 1)), cells, h('div', { class: 'grid-actions', role: 'cell' }, edit, remove));
  }

  /** The row form: every field of the child table, with depends_on over the row. */
  renderRowForm(row, i) {
    const ctls = [];
    const fields = (this.child?.fields || []).filter((f) => !f.hidden && !['Section Break', 'Column Break', 'Tab Break', 'Fold', 'Table'].includes(f.fieldtype));
    for (const cf of fields) {
      const ctl = this.cellControl(row, cf, false);
      ctls.push([cf, ctl]);
    }
    this.rowForm = { row, ctls };
    const el = h('div', { class: 'grid-row-form', role: 'region', 'aria-label': `Row ${i + 1}`, 'data-idx': i + 1 },
      h('div', { class: 'grid-row-form-head' }, h('strong', {}, `Row ${i + 1}`),
        h('button', { type: 'button', class: 'btn btn-sm', onclick: () => this.toggleRowForm(row) }, 'Close')),
      h('div', { class: 'form-columns' }, h('div', { class: 'form-column' }, ctls.map(([, c]) => c.el))));
    queueMicrotask(() => this.refreshRowForm());
    return el;
  }

  /** depends_on and mandatory_depends_on of the open row form, over the row and the parent. */
  refreshRowForm() {
    const rf = this.rowForm;
    if (!rf || rf.row !== this.openRow) return;
    const parent = this.frm?.doc;
    for (const [cf, ctl] of rf.ctls) {
      ctl.setHidden(!holds(cf.depends_on, rf.row, parent));
      ctl.setMandatory(!!cf.reqd || (!!cf.mandatory_depends_on && holds(cf.mandatory_depends_on, rf.row, parent)));
      ctl.setReadOnly(this.readOnly || !!cf.read_only || (!!cf.read_only_depends_on && holds(cf.read_only_depends_on, rf.row, parent)));
    }
  }

  /** After an edit in the grid or the row form, shows it in the other one too. */
  sync(row, fromGrid) {
    const i = this.rows.indexOf(row);
    if (i < 0) return;
    if (fromGrid) {
      if (this.openRow !== row) return;
      const old = this.body.querySelector('.grid-row-form');
      old?.replaceWith(this.renderRowForm(row, i));
    } else {
      const el = this.renderRow(row, i);
      this.rowEls[i].replaceWith(el);
      this.rowEls[i] = el;
    }
  }

  toggleRowForm(row) {
    this.openRow = this.openRow === row ? null : row;
    if (!this.openRow) this.rowForm = null;
    this.renderRows();
    if (this.openRow) this.body.querySelector('.grid-row-form :is(input, select, textarea)')?.focus();
  }

  addRow() {
    if (this.readOnly) return;
    const row = { doctype: this.child?.name, __islocal: 1 };
    for (const f of this.child?.fields || []) {
      if (f.default !== undefined && f.default !== null && f.default !== '') {
        row[f.fieldname] = ['Int', 'Check'].includes(f.fieldtype) ? parseInt(f.default, 10) : ['Float', 'Currency', 'Percent'].includes(f.fieldtype) ? parseFloat(f.default) : f.default;
      }
    }
    this.rows.push(row);
    this.renderRows();
    this.opts.onInput?.(this.rows, this.info(row, { added: true }));
    this.opts.onChange?.(this.rows, this.info(row, { added: true }));
    this.rowEls.at(-1)?.querySelector('input, select, textarea')?.focus();
  }

  removeRow(row) {
    if (this.readOnly) return;
    const i = this.rows.indexOf(row);
    if (i < 0) return;
    this.rows.splice(i, 1);
    if (this.openRow === row) this.openRow = null;
    this.renderRows();
    this.opts.onInput?.(this.rows, this.info(row, { removed: true }));
    this.opts.onChange?.(this.rows, this.info(row, { removed: true }));
    (this.rowEls[Math.min(i, this.rowEls.length - 1)]?.querySelector('input, select, textarea') || this.addBtn).focus();
  }

  get() {
    return this.rows;
  }

  set(rows) {
    this.rows = Array.isArray(rows) ? rows : [];
    if (!this.rows.includes(this.openRow)) this.openRow = null;
    this.renderRows();
  }

  setReadOnly(ro) {
    if (this.readOnly === !!ro && this.rowEls.length) return;
    this.readOnly = !!ro;
    this.addBtn.hidden = !!ro;
    this.el.classList.toggle('read-only', !!ro);
    this.renderRows();
  }

  focus() {
    (this.body.querySelector('input, select, textarea') || this.addBtn).focus();
  }
}
