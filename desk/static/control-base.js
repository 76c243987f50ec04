// What every field control shares: the wrapper with its label, description and error, and the
// state the form sets (hidden, read-only, mandatory). The kinds of control extend BaseControl
// (control-*.js); controls.js picks one per field type.
//
//   c.el             the wrapper (.field[data-fieldname][data-fieldtype])
//   c.set(value)     show a value (from the server or a script), without firing callbacks
//   c.get()          the value as the document holds it
//   c.setReadOnly(b), c.setHidden(b), c.setMandatory(b), c.setError(msg|''), c.focus()
//
// opts: {desk, frm (the form, for controls that need the document), onInput(value) on every
// edit, onChange(value) when an edit is complete (blur, pick), compact (a grid cell: no label)}.

import { h } from './ui.js';

let seq = 0;

export function cls(t) {
  return String(t).toLowerCase().replace(/\s+/g, '-');
}

export function selectOptions(field) {
  return String(field.options || '').split('\n').map((s) => s.trim()).filter((s, i) => s !== '' || i === 0);
}

/** Field types that take the whole width of their column's grid. */
export const WIDE = new Set(['Small Text', 'Text', 'Long Text', 'JSON', 'Table', 'Table MultiSelect', 'Text Editor', 'Code',
  'HTML Editor', 'Markdown Editor', 'Signature', 'Geolocation', 'HTML', 'Heading', 'Image']);

export class BaseControl {
  constructor(field, opts = {}) {
    this.field = field;
    this.opts = opts;
    this.id = `f-${field.fieldname}-${++seq}`;
    this.readOnly = false;
    this.mandatory = !!field.reqd;
    this.errorEl = h('div', { class: 'field-error', id: `${this.id}-err`, role: 'alert' });
  }

  get frm() {
    return this.opts.frm;
  }

  /** The label element (for=input), with the mandatory star. */
  labelEl(tag = 'label') {
    const f = this.field;
    this.star = h('span', { class: 'reqd', 'aria-hidden': 'true', hidden: !this.mandatory }, ' *');
    return h(tag, { class: 'field-label', for: tag === 'label' ? this.id : null, id: `${this.id}-label` }, f.label || f.fieldname, this.star);
  }

  /** Builds this.el around inner: label, the control, the description, the error. */
  wrap(...inner) {
    const f = this.field;
    const compact = this.opts.compact;
    const desc = !compact && f.description ? h('p', { class: 'field-desc', id: `${this.id}-desc` }, String(f.description)) : null;
    this.el = h('div', {
      class: `field field-${cls(f.fieldtype)}${WIDE.has(f.fieldtype) && !compact ? ' wide' : ''}${f.bold ? ' bold' : ''}`,
      'data-fieldname': f.fieldname, 'data-fieldtype': f.fieldtype,
    }, compact ? null : this.labelEl(), ...inner, desc, compact ? null : this.errorEl);
    if (desc && this.input) this.input.setAttribute('aria-describedby', desc.id);
    if (compact && this.input) this.input.setAttribute('aria-label', f.label || f.fieldname);
    return this.el;
  }

  setError(msg) {
    if (!this.el) return;
    this.el.classList.toggle('has-error', !!msg);
    this.errorEl.textContent = msg || '';
    const input = this.input;
    if (!input) return;
    if (msg) {
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-errormessage', this.errorEl.id);
      if (this.opts.compact) input.title = msg;
    } else {
      input.removeAttribute('aria-invalid');
      input.removeAttribute('aria-errormessage');
      if (this.opts.compact) input.removeAttribute('title');
    }
  }

  setHidden(b) {
    if (this.el) this.el.hidden = !!b;
  }

  setMandatory(b) {
    this.mandatory = !!b;
    if (this.star) this.star.hidden = !b;
    this.input?.toggleAttribute('aria-required', !!b);
  }

  setReadOnly(ro) {
    this.readOnly = !!ro;
    const input = this.input;
    if (input) {
      if (input.tagName === 'SELECT' || input.type === 'checkbox' || input.type === 'color' || input.type === 'file') input.disabled = this.readOnly;
      else input.readOnly = this.readOnly;
    }
    this.el?.classList.toggle('read-only', this.readOnly);
  }

  /** Whether the control holds no value (for mandatory checks). */
  isEmpty() {
    const v = this.get();
    return v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0);
  }

  focus() {
    this.input?.focus();
  }

  /** Tells the form the user changed the value: onInput, and onChange unless only typing. */
  changed({ complete = true } = {}) {
    if (this.readOnly) return;
    this.opts.onInput?.(this.get());
    if (complete) this.opts.onChange?.(this.get());
  }
}
