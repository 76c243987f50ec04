// The awesome bar in the navbar (Ctrl+G): finds DocTypes by name (their list, a new document)
// and documents by name, title and search_fields (livedoc.desk.search), and opens what is picked.

import { h, debounce, docURL, errorText, confirmDialog } from './ui.js';

export class AwesomeBar {
  constructor(desk) {
    this.desk = desk;
    this.items = [];
    this.active = -1;
    this.seq = 0;
    this.input = h('input', { type: 'search', class: 'input awesome-input', id: 'awesome', placeholder: 'Search or open… (Ctrl+G)', role: 'combobox',
      autocomplete: 'off', 'aria-autocomplete': 'list', 'aria-expanded': 'false', 'aria-controls': 'awesome-list', 'aria-label': 'Search documents and DocTypes' });
    this.list = h('ul', { class: 'link-dropdown awesome-list', id: 'awesome-list', role: 'listbox', hidden: true });
    this.el = h('div', { class: 'awesome link-wrap' }, this.input, this.list);
    this.search = debounce(() => this.run(), 200);
    this.input.addEventListener('input', () => this.search());
    this.input.addEventListener('keydown', (e) => this.key(e));
    this.input.addEventListener('blur', () => setTimeout(() => this.close(), 150));
  }

  focus() {
    this.input.focus();
    this.input.select();
  }

  async run() {
    const txt = this.input.value.trim();
    const q = ++this.seq;
    if (!txt) return this.close();
    const lower = txt.toLowerCase();
    const items = [];
    try {
      const doctypes = await this.desk.getDocTypes();
      for (const dt of doctypes.filter((d) => d.name.toLowerCase().includes(lower)).slice(0, 5)) {
        items.push({ label: dt.issingle ? dt.name : `${dt.name} list`, hint: dt.issingle ? 'Settings' : 'DocType', url: `/app/${dt.route}` });
        if (dt.can_create && !dt.issingle) items.push({ label: `New ${dt.name}`, hint: 'Create', url: `/app/${dt.route}/new` });
      }
      const docs = await this.desk.ld.call('livedoc.desk.search', { txt });
      for (const d of docs || []) {
        items.push({ label: d.label || d.value, hint: [d.doctype, d.label && d.label !== d.value ? d.value : '', d.description].filter(Boolean).join(' · '), url: docURL(d.doctype, d.value) });
      }
    } catch (err) {
      if (q === this.seq) this.show([{ label: errorText(err), hint: '', url: '' }]);
      return;
    }
    if (q !== this.seq || document.activeElement !== this.input) return;
    this.show(items.length ? items : [{ label: `Nothing found for “${txt}”`, hint: '', url: '' }]);
  }

  show(items) {
    this.items = items.filter((i) => i.url);
    this.active = this.items.length ? 0 : -1;
    let n = 0;
    this.list.replaceChildren(...items.map((it) => {
      if (!it.url) return h('li', { class: 'link-empty' }, it.label);
      const i = n++;
      return h('li', { class: 'link-item', role: 'option', id: `awesome-opt-${i}`, 'aria-selected': String(i === this.active), 'data-url': it.url,
        onmousedown: (e) => {
          e.preventDefault();
          this.open(i);
        } }, h('span', { class: 'link-value' }, it.label), it.hint ? h('span', { class: 'link-desc' }, it.hint) : null);
    }));
    this.list.hidden = false;
    this.input.setAttribute('aria-expanded', 'true');
  }

  close() {
    this.list.hidden = true;
    this.input.setAttribute('aria-expanded', 'false');
  }

  key(e) {
    if (e.key === 'Escape') {
      this.close();
      this.input.blur();
      return;
    }
    if (this.list.hidden || !this.items.length) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      this.active = (this.active + (e.key === 'ArrowDown' ? 1 : -1) + this.items.length) % this.items.length;
      [...this.list.querySelectorAll('.link-item')].forEach((li, i) => li.setAttribute('aria-selected', String(i === this.active)));
      this.input.setAttribute('aria-activedescendant', `awesome-opt-${this.active}`);
    } else if (e.key === 'Enter' && this.active >= 0) {
      e.preventDefault();
      this.open(this.active);
    }
  }

  async open(i) {
    const it = this.items[i];
    if (!it) return;
    this.close();
    this.input.value = '';
    this.input.blur();
    const cur = window.cur_frm;
    if (cur?.mounted && cur.is_dirty?.()) {
      if (!(await confirmDialog('You have unsaved changes. Leave this page and discard them?', { ok: 'Discard changes', cancel: 'Stay', danger: true }))) return;
    }
    this.desk.navigate(it.url);
  }
}
