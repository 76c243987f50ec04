// A form's layout from its fields in field_order, as Frappe's form builds it:
//   Tab Break      a tab (fields before the first one are in a "Details" tab; no tabs without one)
//   Section Break  a section with its label; collapsible (closed unless collapsible_depends_on
//                  holds); depends_on hides it
//   Column Break   a new column in the section: side by side, stacking on narrow screens
//   Fold           what follows is behind "Show more"
// A section whose fields are all hidden is hidden, and so is a tab whose sections all are.
//
//   const layout = new Layout(fields, {control(field) → control | null, holds(expression)});
//   layout.el; layout.refresh(); layout.reveal(fieldname)

import { h } from './ui.js';

let seq = 0;

export class Layout {
  constructor(fields, { control, holds }) {
    this.holds = holds;
    this.id = `layout-${++seq}`;
    this.tabs = [];
    this.sections = [];
    this.where = new Map(); // fieldname → {tab, section}
    const hasTabs = fields.some((f) => f.fieldtype === 'Tab Break');
    let tab = null;
    let section = null;
    let column = null;
    let fold = null;

    const newTab = (f) => {
      column = null;
      const t = { field: f, name: f?.fieldname || 'details', sections: [] };
      t.pane = h('div', { class: 'form-tab-pane', role: hasTabs ? 'tabpanel' : null, id: `${this.id}-${t.name}`, 'data-tab-pane': t.name });
      t.button = h('button', { type: 'button', role: 'tab', class: 'form-tab', 'data-tab': t.name, 'aria-controls': t.pane.id, 'aria-selected': 'false',
        tabindex: -1, onclick: () => this.activate(t), onkeydown: (e) => this.tabKey(e, t) }, f?.label || 'Details');
      this.tabs.push(t);
      tab = t;
      section = null;
      fold = null;
    };
    const newSection = (f) => {
      if (!tab) newTab(null);
      const collapsible = !!f?.collapsible;
      const sec = { field: f, tab, columns: [], collapsible, open: true };
      section = sec;
      section.body = h('div', { class: 'form-columns' });
      section.toggle = collapsible
        ? h('button', { type: 'button', class: 'section-toggle', 'aria-expanded': 'true', onclick: () => this.setOpen(sec, !sec.open) },
          h('span', { class: 'section-caret', 'aria-hidden': 'true' }), f.label || 'More')
        : null;
      const head = collapsible ? h('h2', { class: 'section-head' }, section.toggle) : f?.label ? h('h2', { class: 'section-head' }, f.label) : null;
      const desc = f?.description ? h('p', { class: 'section-desc muted' }, String(f.description)) : null;
      section.el = h('section', { class: `form-section${collapsible ? ' collapsible' : ''}`, 'data-section': f?.fieldname || '' }, head, desc, section.body);
      (fold ? fold.body : tab.pane).append(section.el);
      tab.sections.push(section);
      this.sections.push(section);
      column = null;
    };
    const newColumn = () => {
      if (!section) newSection(null);
      column = { el: h('div', { class: 'form-column' }), controls: [] };
      section.columns.push(column);
      section.body.append(column.el);
    };

    for (const f of fields) {
      switch (f.fieldtype) {
        case 'Tab Break':
          newTab(f);
          continue;
        case 'Section Break':
          newSection(f);
          continue;
        case 'Column Break':
          if (!section) newSection(null);
          newColumn();
          continue;
        case 'Fold': {
          if (!tab) newTab(null);
          const fd = { body: h('div', { class: 'form-fold-body', hidden: true }) };
          fd.button = h('button', { type: 'button', class: 'btn btn-sm form-fold-toggle', 'aria-expanded': 'false', onclick: () => this.toggleFold(fd) }, 'Show more');
          fold = fd;
          tab.pane.append(h('div', { class: 'form-fold' }, fold.button, fold.body));
          this.folds = [...(this.folds || []), fold];
          section = null;
          column = null;
          continue;
        }
      }
      const ctl = control(f);
      if (!ctl) continue;
      if (!column) newColumn();
      column.controls.push(ctl);
      column.el.append(ctl.el);
      this.where.set(f.fieldname, { tab, section, fold, ctl });
    }
    if (!this.tabs.length) newTab(null);

    this.tablist = hasTabs ? h('div', { class: 'form-tabs', role: 'tablist', 'aria-label': 'Form tabs' }, this.tabs.map((t) => t.button)) : null;
    this.el = h('div', { class: 'form-layout-body' }, this.tablist, this.tabs.map((t) => t.pane));
    for (const s of this.sections) if (s.collapsible) this.setOpen(s, this.holds(s.field.collapsible_depends_on || '') && !!s.field.collapsible_depends_on);
    this.activate(this.tabs[0], { focus: false });
  }

  activate(tab, { focus = true } = {}) {
    this.active = tab;
    for (const t of this.tabs) {
      const on = t === tab;
      t.pane.hidden = !on;
      t.button.setAttribute('aria-selected', String(on));
      t.button.tabIndex = on ? 0 : -1;
      t.button.classList.toggle('active', on);
    }
    if (focus && this.tablist) tab.button.focus();
  }

  tabKey(e, tab) {
    const shown = this.tabs.filter((t) => !t.button.hidden);
    const i = shown.indexOf(tab);
    let next = null;
    if (e.key === 'ArrowRight') next = shown[(i + 1) % shown.length];
    else if (e.key === 'ArrowLeft') next = shown[(i - 1 + shown.length) % shown.length];
    else if (e.key === 'Home') next = shown[0];
    else if (e.key === 'End') next = shown.at(-1);
    if (!next) return;
    e.preventDefault();
    this.activate(next);
  }

  setOpen(section, open) {
    section.open = open;
    section.toggle?.setAttribute('aria-expanded', String(open));
    section.el.classList.toggle('collapsed', !open);
    section.body.hidden = !open;
  }

  toggleFold(fold, open = fold.body.hidden) {
    fold.body.hidden = !open;
    fold.button.setAttribute('aria-expanded', String(open));
    fold.button.textContent = open ? 'Show less' : 'Show more';
  }

  /**
   * After the document or the fields' visibility changed: sections and tabs with nothing to show
   * are hidden, depends_on of sections and tabs applied, collapsible_depends_on opens sections.
   */
  refresh() {
    for (const s of this.sections) {
      const own = !s.field?.depends_on || this.holds(s.field.depends_on);
      let any = false;
      for (const c of s.columns) {
        const shown = c.controls.some((ctl) => !ctl.el.hidden);
        c.el.hidden = !shown && s.columns.length > 1;
        any ||= shown;
      }
      s.el.hidden = !own || !any;
      if (s.collapsible && s.field.collapsible_depends_on && !s.open && this.holds(s.field.collapsible_depends_on)) this.setOpen(s, true);
    }
    for (const t of this.tabs) {
      const own = !t.field?.depends_on || this.holds(t.field.depends_on);
      t.button.hidden = !own || !t.sections.some((s) => !s.el.hidden);
    }
    if (this.active?.button.hidden) {
      const first = this.tabs.find((t) => !t.button.hidden);
      if (first) this.activate(first, { focus: false });
    }
  }

  /** Makes a field visible: its tab active, its section open, its fold shown. */
  reveal(fieldname) {
    const w = this.where.get(fieldname);
    if (!w) return;
    if (w.tab !== this.active) this.activate(w.tab, { focus: false });
    if (w.section?.collapsible && !w.section.open) this.setOpen(w.section, true);
    if (w.fold && w.fold.body.hidden) this.toggleFold(w.fold, true);
  }
}
