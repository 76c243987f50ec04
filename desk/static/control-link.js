// Controls that pick documents: Link, Dynamic Link (the DocType is the value of the field its
// options name) and Table MultiSelect (chips, each a child row holding a Link). They share
// LinkSearch: a text input with a dropdown of frappe.desk.search.search_link's answers. The
// dropdown opens when the user types, clicks the input or presses ArrowDown, never by itself.

import { h, debounce, docURL, errorText } from './ui.js';
import { BaseControl } from './control-base.js';

export class LinkSearch {
  /**
   * @param {object} o  {id, desk, doctype(): string ('' when unknown), onPick(item), onType(),
   *                     label (aria), emptyHint (when doctype() is '')}
   */
  constructor(o) {
    this.o = o;
    this.id = o.id;
    this.items = [];
    this.active = -1;
    this.seq = 0;
    this.readOnly = false;
    const listId = `${o.id}-list`;
    this.input = h('input', { id: o.id, type: 'text', class: 'input', role: 'combobox', autocomplete: 'off', 'aria-autocomplete': 'list',
      'aria-expanded': 'false', 'aria-controls': listId, 'aria-label': o.label || null, placeholder: o.placeholder || null });
    this.list = h('ul', { class: 'link-dropdown', id: listId, role: 'listbox', hidden: true });
    this.search = debounce(() => this.doSearch(), 150);
    this.input.addEventListener('input', () => {
      if (this.readOnly) return;
      o.onType?.();
      this.search();
    });
    this.input.addEventListener('mousedown', () => {
      if (!this.readOnly && this.list.hidden) this.search();
    });
    this.input.addEventListener('keydown', (e) => this.onKey(e));
    this.input.addEventListener('blur', () => setTimeout(() => this.close(), 150));
  }

  async doSearch() {
    const txt = this.input.value;
    const q = ++this.seq;
    const doctype = this.o.doctype();
    if (!doctype) {
      this.items = [];
      this.list.replaceChildren(h('li', { class: 'link-empty' }, this.o.emptyHint || 'Nothing to search in'));
      return this.show();
    }
    let res;
    try {
      res = await this.o.desk.ld.call('frappe.desk.search.search_link', { doctype, txt, page_length: 10 });
    } catch (e) {
      if (q !== this.seq) return;
      this.items = [];
      this.list.replaceChildren(h('li', { class: 'link-empty' }, errorText(e)));
      return this.show();
    }
    if (q !== this.seq || document.activeElement !== this.input) return;
    this.items = Array.isArray(res) ? res : (res?.results ?? []);
    this.active = -1;
    this.list.replaceChildren(...this.items.map((it, i) => h('li', {
      class: 'link-item', role: 'option', id: `${this.id}-opt-${i}`, 'data-value': it.value, 'aria-selected': 'false',
      onmousedown: (e) => {
        e.preventDefault();
        this.pick(i);
      },
    }, h('span', { class: 'link-value' }, it.label || it.value),
    it.label && it.label !== it.value ? h('span', { class: 'link-desc' }, it.value) : null,
    it.description ? h('span', { class: 'link-desc' }, it.description) : null)));
    if (!this.items.length) this.list.append(h('li', { class: 'link-empty' }, txt ? `No ${doctype} matches “${txt}”` : `No ${doctype} yet`));
    this.show();
  }

  show() {
    this.list.hidden = false;
    this.input.setAttribute('aria-expanded', 'true');
  }

  close() {
    this.search.cancel();
    this.seq++;
    this.list.hidden = true;
    this.input.setAttribute('aria-expanded', 'false');
    this.input.removeAttribute('aria-activedescendant');
  }

  onKey(e) {
    if (this.readOnly) return;
    if (this.list.hidden) {
      if (e.key === 'ArrowDown') {
        e.preventDefault();
        this.doSearch();
      }
      return;
    }
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
    this.close();
    this.o.onPick(it);
  }

  setReadOnly(ro) {
    this.readOnly = !!ro;
    this.input.readOnly = !!ro;
    if (ro) this.close();
  }
}

/** Link and Dynamic Link. */
export class LinkControl extends BaseControl {
  constructor(field, opts) {
    super(field, opts);
    const dynamic = field.fieldtype === 'Dynamic Link';
    this.searcher = new LinkSearch({
      id: this.id, desk: opts.desk, label: opts.compact ? field.label : null,
      doctype: () => this.targetDocType(),
      emptyHint: dynamic ? `Choose the ${this.optionsLabel()} first` : '',
      onType: () => {
        this.title.textContent = '';
        this.updateOpen();
        this.changed({ complete: false });
      },
      onPick: (it) => {
        this.input.value = it.value;
        this.title.textContent = it.label && it.label !== it.value ? it.label : '';
        this.updateOpen();
        this.changed();
      },
    });
    this.input = this.searcher.input;
    this.input.name = field.fieldname;
    this.input.addEventListener('change', () => {
      if (!this.readOnly) this.opts.onChange?.(this.get());
    });
    this.open = h('a', { class: 'link-open', href: '#', 'data-link': true, title: 'Open', 'aria-label': 'Open the linked document', hidden: true }, '↗');
    this.title = h('span', { class: 'link-title muted' });
    this.preview = h('div', { class: 'link-preview', role: 'tooltip', hidden: true });
    this.wrap(h('div', { class: 'link-wrap' }, this.input, this.open, this.searcher.list, this.preview), opts.compact ? null : this.title);
    // in_preview: hovering the open arrow shows the linked document's preview fields, as Frappe's
    // link preview popup does.
    let timer = null;
    this.open.addEventListener('mouseenter', () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.showPreview(), 250);
    });
    this.open.addEventListener('mouseleave', () => {
      clearTimeout(timer);
      this.preview.hidden = true;
    });
  }

  async showPreview() {
    const name = this.get();
    const doctype = this.targetDocType();
    if (!name || !doctype || !this.opts.desk?.linkPreview) return;
    const rows = await this.opts.desk.linkPreview(doctype, name);
    if (this.get() !== name || !rows.length) return;
    this.preview.replaceChildren(h('div', { class: 'link-preview-title' }, `${doctype} ${name}`),
      ...rows.map(([label, value]) => h('div', { class: 'link-preview-row' }, h('span', { class: 'muted' }, label), h('span', {}, value))));
    this.preview.hidden = false;
  }

  optionsLabel() {
    const f = this.frm?.meta?.fields?.find((x) => x.fieldname === this.field.options);
    return f?.label || this.field.options;
  }

  targetDocType() {
    if (this.field.fieldtype !== 'Dynamic Link') return this.field.options;
    const d = this.opts.doc?.() ?? this.frm?.doc;
    return d?.[this.field.options] || '';
  }

  updateOpen() {
    const v = this.input.value.trim();
    const dt = this.targetDocType();
    this.open.hidden = !v || !dt;
    if (v && dt) this.open.href = docURL(dt, v);
  }

  get() {
    return this.input.value.trim();
  }

  set(v) {
    const s = v === null || v === undefined ? '' : String(v);
    if (this.input.value !== s) {
      this.input.value = s;
      this.title.textContent = '';
      if (s && !this.opts.compact) this.showTitle(s);
    }
    this.updateOpen();
  }

  /** show_title_field_in_link: the linked document's title beside its name. */
  async showTitle(name) {
    const t = await this.opts.desk?.linkTitle?.(this.targetDocType(), name);
    if (t && this.input.value === name) this.title.textContent = t;
  }

  setReadOnly(ro) {
    this.readOnly = !!ro;
    this.searcher.setReadOnly(ro);
    this.el.classList.toggle('read-only', !!ro);
  }
}

/** Table MultiSelect: the child rows as chips, each naming a document; a search adds one. */
export class MultiSelectControl extends BaseControl {
  constructor(field, opts) {
    super(field, opts);
    this.child = opts.childMeta;
    this.linkField = this.child?.fields?.find((f) => f.fieldtype === 'Link');
    this.rows = [];
    this.chips = h('div', { class: 'chips', role: 'list' });
    this.searcher = new LinkSearch({
      id: this.id, desk: opts.desk, placeholder: `Add ${this.linkField?.options || ''}…`,
      doctype: () => this.linkField?.options || '',
      onPick: (it) => {
        this.searcher.input.value = '';
        if (this.rows.some((r) => r[this.linkField.fieldname] === it.value)) return;
        this.rows.push({ doctype: this.child.name, __islocal: 1, [this.linkField.fieldname]: it.value });
        this.render();
        this.changed();
        this.searcher.input.focus();
      },
    });
    this.input = this.searcher.input;
    this.searcher.input.addEventListener('keydown', (e) => {
      if (e.key === 'Backspace' && !this.searcher.input.value && this.rows.length && !this.readOnly) this.remove(this.rows.length - 1);
    });
    this.wrap(h('div', { class: 'input chips-input link-wrap' }, this.chips, this.searcher.input, this.searcher.list));
  }

  render() {
    const lf = this.linkField?.fieldname;
    this.chips.replaceChildren(...this.rows.map((r, i) => h('span', { class: 'chip', role: 'listitem', 'data-value': r[lf] ?? '' },
      h('span', {}, String(r[lf] ?? '')),
      this.readOnly ? null : h('button', { type: 'button', class: 'chip-remove', 'aria-label': `Remove ${r[lf]}`, onclick: () => this.remove(i) }, '×'))));
  }

  remove(i) {
    this.rows.splice(i, 1);
    this.render();
    this.changed();
  }

  get() {
    return this.rows;
  }

  set(rows) {
    this.rows = Array.isArray(rows) ? rows : [];
    this.render();
  }

  setReadOnly(ro) {
    this.readOnly = !!ro;
    this.searcher.setReadOnly(ro);
    this.searcher.input.hidden = !!ro;
    this.el.classList.toggle('read-only', !!ro);
    this.render();
  }
}
