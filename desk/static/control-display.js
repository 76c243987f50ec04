// Fields without a value: HTML (its options, sanitised, or what a script sets), Heading (its
// label) and Button (runs the client script's handler named like the field:
// frappe.ui.form.on(doctype, {fieldname(frm) {...}})).

import { h } from './ui.js';
import { BaseControl } from './control-base.js';
import { sanitizedFragment } from './sanitize.js';

export class HTMLControl extends BaseControl {
  constructor(field, opts) {
    super(field, opts);
    this.body = h('div', { class: 'html-field' }, sanitizedFragment(field.options || ''));
    this.el = h('div', { class: 'field field-html wide', 'data-fieldname': field.fieldname, 'data-fieldtype': 'HTML' }, this.body);
    // Frappe's scripts write to frm.fields_dict.<html field>.$wrapper; here: .wrapper and set_html.
    this.wrapper = this.body;
  }

  /** Shows html (sanitised): what scripts call to fill an HTML field. */
  set_html(html) {
    this.body.replaceChildren(sanitizedFragment(html));
  }

  get() {
    return undefined;
  }

  set() {}
}

export class HeadingControl extends BaseControl {
  constructor(field, opts) {
    super(field, opts);
    this.el = h('div', { class: 'field field-heading wide', 'data-fieldname': field.fieldname, 'data-fieldtype': 'Heading' },
      h('h3', { class: 'form-heading' }, field.label || ''));
  }

  get() {
    return undefined;
  }

  set() {}
}

export class ButtonControl extends BaseControl {
  constructor(field, opts) {
    super(field, opts);
    this.input = h('button', { type: 'button', id: this.id, class: 'btn', 'data-action': 'field-button', onclick: () => opts.onClick?.() }, field.label || field.fieldname);
    this.el = h('div', { class: 'field field-button', 'data-fieldname': field.fieldname, 'data-fieldtype': 'Button' },
      this.input, field.description ? h('p', { class: 'field-desc' }, String(field.description)) : null);
  }

  get() {
    return undefined;
  }

  set() {}

  setReadOnly(ro) {
    this.readOnly = !!ro;
    this.input.disabled = !!ro;
  }
}
