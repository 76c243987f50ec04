// The home page (DocTypes the user may read) and the list view of one DocType: standard filters
// (in_standard_filter), a filter builder for any field (filters.js), sorting on any field, the
// title_field shown with the ID (once). A page of the list is a live query (ld.live.list): rows
// appear, change, move and leave in place as others save, with no list query re-run.

import { h, debounce, errorText, formatValue, docURL, docstatusLabel, timeAgo, localTime, routeOf } from './ui.js';
import { selectOptions } from './controls.js';
import { FilterBuilder, filterableFields } from './filters.js';

/** A clear message in place of a view: for denied permissions, missing DocTypes, failures. */
export function problem(el, err, { what = '' } = {}) {
  const type = err?.excType || '';
  const denied = type === 'PermissionError' || err?.status === 403;
  const missing = type === 'DoesNotExistError' || err?.status === 404;
  const title = denied ? 'Not permitted' : missing ? 'Not found' : 'Something went wrong';
  const hint = denied
    ? 'Your roles do not allow you to see this. Ask a System Manager if you need access.'
    : missing ? `${what || 'This page'} does not exist, or was deleted or renamed.` : 'Try again in a moment.';
  el.replaceChildren(h('section', { class: 'empty-state', role: 'alert', 'data-problem': denied ? 'forbidden' : missing ? 'missing' : 'error' },
    h('h1', { class: 'empty-title' }, title),
    h('p', { class: 'empty-text' }, errorText(err)),
    h('p', { class: 'muted' }, hint),
    h('a', { class: 'btn', href: '/app', 'data-link': true }, 'Back to home')));
}

export class HomeView {
  constructor(desk) {
    this.desk = desk;
  }

  async mount(el) {
    this.el = el;
    this.desk.setCrumbs([]);
    this.desk.setTitle('Home');
    await this.reload();
  }

  async reload() {
    let list;
    try {
      list = await this.desk.getDocTypes(true);
    } catch (err) {
      return problem(this.el, err);
    }
    const modules = new Map();
    for (const dt of list) {
      const m = dt.module || 'Other';
      if (!modules.has(m)) modules.set(m, []);
      modules.get(m).push(dt);
    }
    const sorted = [...modules.keys()].sort((a, b) => (a === 'Core') - (b === 'Core') || a.localeCompare(b));
    this.el.replaceChildren(h('div', { class: 'page' },
      h('div', { class: 'page-head' }, h('h1', { class: 'page-title' }, 'Home')),
      list.length
        ? h('div', { class: 'modules' }, sorted.map((m) => h('section', { class: 'module card' },
          h('h2', { class: 'module-title' }, m),
          h('ul', { class: 'module-list' }, modules.get(m).map((dt) => h('li', { 'data-doctype': dt.name },
            h('a', { href: `/app/${dt.route}`, 'data-link': true }, dt.name),
            dt.can_create && !dt.issingle ? h('a', { class: 'module-new', href: `/app/${dt.route}/new`, 'data-link': true, title: `New ${dt.name}`, 'aria-label': `New ${dt.name}` }, '+') : null))))))
        : h('section', { class: 'empty-state', role: 'status', 'data-problem': 'nothing' },
          h('h1', { class: 'empty-title' }, 'Nothing to show'),
          h('p', { class: 'empty-text' }, 'Your roles do not let you read any document type yet. Ask a System Manager for access.'))));
  }

  unmount() {}
}

const PAGE_SIZES = [20, 50, 100];

export class ListView {
  constructor(desk, route) {
    this.desk = desk;
    this.route = route;
    this.mounted = false;
    this.rows = [];
    this.trs = new Map(); // name → {tr, key}: the row shown for each document, reused by name
    this.seq = 0;
    this.stopList = null;
    this.refreshSoon = debounce(() => this.refresh(), 300);
    this.countSoon = debounce(() => this.loadCount(), 300);
  }

  async mount(el) {
    this.el = el;
    this.mounted = true;
    this.desk.setCrumbs([{ label: this.route }]);
    let info;
    try {
      info = await this.desk.getMeta(this.route);
    } catch (err) {
      if (this.mounted) {
        this.desk.setCrumbs([{ label: this.route }]);
        this.desk.setTitle('Not permitted');
        problem(el, err, { what: `The list “${this.route}”` });
      }
      return;
    }
    if (!this.mounted) return;
    this.info = info;
    this.meta = info.meta;
    this.doctype = this.meta.name;
    if (routeOf(this.doctype) !== this.route && this.route !== this.doctype) {
      history.replaceState(history.state, '', `/app/${routeOf(this.doctype)}${location.search}`);
    }
    this.desk.setCrumbs([{ label: this.doctype, href: `/app/${routeOf(this.doctype)}` }]);
    this.desk.setTitle(this.doctype);
    if (this.meta.issingle) {
      this.desk.navigate(`/app/${routeOf(this.doctype)}`, { replace: true });
      return;
    }
    this.readState();
    this.render();
    this.refresh();
  }

  unmount() {
    this.mounted = false;
    this.refreshSoon.cancel();
    this.countSoon.cancel();
    this.stopList?.();
    this.stopList = null;
  }

  /** After a resync or lost rights: a fresh snapshot. */
  reload() {
    return this.refresh();
  }

  // A docstatus column for submittable DocTypes, unless a Status field is listed already.
  get showDocstatus() {
    return !!this.meta.is_submittable && !this.columns.some((f) => f.fieldname === 'status');
  }

  // Columns: the name, then the in_list_view fields.
  get columns() {
    return this.meta.fields.filter((f) => f.in_list_view && !f.hidden && !(f.permlevel > 0) && !['Table', 'Table MultiSelect', 'Password', 'JSON', 'Signature'].includes(f.fieldtype));
  }

  /** The title shown with the ID, unless it is a column already (then it would be shown twice). */
  get titleField() {
    const tf = this.meta.title_field;
    if (!tf || tf === 'name' || this.columns.some((f) => f.fieldname === tf)) return '';
    return this.meta.fields.some((f) => f.fieldname === tf && !(f.permlevel > 0)) ? tf : '';
  }

  get titleInName() {
    return !!this.titleField;
  }

  /** Fields the list sorts on: every filterable field. */
  sortFields() {
    return filterableFields(this.meta).filter((f) => !['Text Editor', 'HTML Editor', 'Markdown Editor', 'Code', 'Long Text', 'Text', 'Small Text'].includes(f.fieldtype));
  }

  /** in_standard_filter fields (and the title field's Link, as Frappe adds none): one input each. */
  standardFields() {
    return this.meta.fields.filter((f) => Number(f.in_standard_filter) && !f.hidden && !(f.permlevel > 0));
  }

  readState() {
    const q = new URLSearchParams(location.search);
    const sortable = new Set(this.sortFields().map((f) => f.fieldname));
    const defSort = this.meta.sort_field || 'modified';
    let filters = [];
    try {
      const f = JSON.parse(q.get('_filters') || '[]');
      if (Array.isArray(f)) filters = f.filter((x) => Array.isArray(x) && x.length === 3);
    } catch {
      // a hand-edited URL: no filters
    }
    this.state = {
      search: q.get('name') || '',
      std: Object.fromEntries(this.standardFields().filter((f) => q.has(f.fieldname)).map((f) => [f.fieldname, q.get(f.fieldname)])),
      filters,
      sort: sortable.has(q.get('_sort')) ? q.get('_sort') : defSort,
      order: (q.get('_order') || this.meta.sort_order || 'desc').toLowerCase() === 'asc' ? 'asc' : 'desc',
      start: Math.max(0, parseInt(q.get('_start') || '0', 10) || 0),
      len: PAGE_SIZES.includes(+q.get('_len')) ? +q.get('_len') : 20,
    };
  }

  writeState() {
    const q = new URLSearchParams();
    const s = this.state;
    if (s.search) q.set('name', s.search);
    for (const [k, v] of Object.entries(s.std)) if (v !== '') q.set(k, v);
    if (s.filters.length) q.set('_filters', JSON.stringify(s.filters));
    if (s.sort !== (this.meta.sort_field || 'modified')) q.set('_sort', s.sort);
    if (s.order !== (this.meta.sort_order || 'desc').toLowerCase()) q.set('_order', s.order);
    if (s.start) q.set('_start', s.start);
    if (s.len !== 20) q.set('_len', s.len);
    const qs = q.toString();
    history.replaceState(history.state, '', `/app/${routeOf(this.doctype)}${qs ? '?' + qs : ''}`);
  }

  filters() {
    const s = this.state;
    const out = [];
    if (s.search) out.push(['name', 'like', `%${s.search}%`]);
    for (const f of this.standardFields()) {
      const v = s.std[f.fieldname];
      if (v === undefined || v === '') continue;
      if (['Data', 'Link', 'Dynamic Link', 'Small Text', 'Text', 'Autocomplete'].includes(f.fieldtype)) out.push([f.fieldname, 'like', `%${v}%`]);
      else if (['Int', 'Float', 'Currency', 'Check', 'Percent'].includes(f.fieldtype)) out.push([f.fieldname, '=', Number(v)]);
      else out.push([f.fieldname, '=', v]);
    }
    return [...out, ...s.filters];
  }

  render() {
    const s = this.state;
    const dt = this.doctype;
    const canCreate = this.info.perms.create;
    const changed = () => {
      s.start = 0;
      this.writeState();
      this.refreshSoon();
    };

    const search = h('input', { class: 'input', type: 'search', placeholder: 'ID', 'aria-label': `Filter ${dt} by ID`, value: s.search, 'data-filter': 'name',
      oninput: (e) => { s.search = e.target.value.trim(); changed(); } });
    const std = this.standardFields().map((f) => this.standardInput(f, changed));
    this.builder = new FilterBuilder(this.meta, { filters: s.filters, onChange: (filters) => { s.filters = filters; changed(); } });
    this.builder.el.hidden = !s.filters.length;
    const filterBtn = h('button', { class: 'btn btn-sm', type: 'button', 'data-action': 'filters', 'aria-expanded': String(!!s.filters.length),
      onclick: () => {
        const open = this.builder.el.hidden;
        this.builder.el.hidden = !open;
        filterBtn.setAttribute('aria-expanded', String(open));
        if (open && !this.builder.rows.length) this.builder.addRow();
      } }, 'Filter');
    const sortSel = h('select', { class: 'input', 'aria-label': 'Sort by', 'data-sort': 'field',
      onchange: (e) => { s.sort = e.target.value; this.writeState(); this.refresh(); } },
    this.sortFields().map((f) => h('option', { value: f.fieldname, selected: f.fieldname === s.sort }, f.label)));
    this.orderBtn = h('button', { class: 'btn btn-icon', type: 'button', 'data-sort': 'order',
      onclick: () => { s.order = s.order === 'asc' ? 'desc' : 'asc'; this.writeState(); this.updateOrderBtn(); this.refresh(); } });
    this.updateOrderBtn();

    this.tbody = h('tbody');
    this.table = h('table', { class: 'list-table', 'data-doctype': dt },
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, this.titleInName ? 'Title' : 'ID'),
        this.columns.map((f) => h('th', { scope: 'col', class: isNum(f) ? 'num' : '' }, f.label)),
        this.showDocstatus ? h('th', { scope: 'col' }, 'Status') : null,
        h('th', { scope: 'col', class: 'list-modified' }, 'Updated'))),
      this.tbody);
    this.emptyEl = h('div', { class: 'list-empty', hidden: true });
    this.countEl = h('span', { class: 'list-count muted', 'aria-live': 'polite' });
    this.prevBtn = h('button', { class: 'btn btn-sm', type: 'button', onclick: () => { s.start = Math.max(0, s.start - s.len); this.writeState(); this.refresh(); } }, '‹ Prev');
    this.nextBtn = h('button', { class: 'btn btn-sm', type: 'button', onclick: () => { s.start += s.len; this.writeState(); this.refresh(); } }, 'Next ›');
    const sizeSel = h('select', { class: 'input input-sm', 'aria-label': 'Rows per page', onchange: (e) => { s.len = +e.target.value; s.start = 0; this.writeState(); this.refresh(); } },
      PAGE_SIZES.map((n) => h('option', { value: n, selected: n === s.len }, `${n} / page`)));
    this.noteEl = h('p', { class: 'note', hidden: true, role: 'status' });

    this.el.replaceChildren(h('div', { class: 'page list-page' },
      h('div', { class: 'page-head' },
        h('h1', { class: 'page-title' }, dt),
        h('div', { class: 'actions' }, canCreate ? h('a', { class: 'btn btn-primary', href: `/app/${routeOf(dt)}/new`, 'data-link': true, 'data-action': 'new', 'aria-keyshortcuts': 'Alt+N' }, `+ New ${dt}`) : null)),
      this.noteEl,
      h('div', { class: 'card list-card' },
        h('div', { class: 'list-toolbar' },
          h('div', { class: 'filters' }, search, std, filterBtn),
          h('div', { class: 'sorting' }, sortSel, this.orderBtn)),
        this.builder.el,
        h('div', { class: 'table-scroll' }, this.table),
        this.emptyEl,
        h('div', { class: 'list-foot' }, this.countEl, h('span', { class: 'pager' }, sizeSel, this.prevBtn, this.nextBtn)))));
  }

  /** The input of a standard filter (in_standard_filter). */
  standardInput(f, changed) {
    const s = this.state;
    const set = (v) => {
      s.std[f.fieldname] = v;
      changed();
    };
    const cur = s.std[f.fieldname] ?? '';
    let input;
    if (f.fieldtype === 'Select') {
      input = h('select', { class: 'input', onchange: (e) => set(e.target.value) },
        h('option', { value: '' }, `${f.label}: any`), selectOptions(f).filter(Boolean).map((o) => h('option', { value: o, selected: o === cur }, o)));
    } else if (f.fieldtype === 'Check') {
      input = h('select', { class: 'input', onchange: (e) => set(e.target.value) },
        [['', `${f.label}: any`], ['1', 'Yes'], ['0', 'No']].map(([v, l]) => h('option', { value: v, selected: v === cur }, l)));
    } else {
      const type = f.fieldtype === 'Date' ? 'date' : isNum(f) ? 'number' : 'search';
      input = h('input', { class: 'input', type, value: cur, placeholder: f.label, oninput: (e) => set(e.target.value.trim()) });
    }
    input.setAttribute('aria-label', `${f.label} filter`);
    input.dataset.filter = f.fieldname;
    input.dataset.standard = '1';
    return input;
  }

  updateOrderBtn() {
    const asc = this.state.order === 'asc';
    this.orderBtn.textContent = asc ? '↑' : '↓';
    this.orderBtn.title = asc ? 'Ascending' : 'Descending';
    this.orderBtn.setAttribute('aria-label', `Sort ${asc ? 'ascending' : 'descending'}; change`);
  }

  setNote(text) {
    if (!this.noteEl) return;
    this.noteEl.textContent = text;
    this.noteEl.hidden = !text;
  }

  /**
   * (Re)subscribes the page as a live query: the filters, the sort, and the page as a window,
   * start = its first row and limit = page size + 1 (the extra row, not shown, says whether there
   * is a next page). Every answer after that is shown in place (show).
   */
  refresh() {
    if (!this.mounted || !this.tbody) return;
    const s = this.state;
    const seq = ++this.seq;
    const fields = ['name', 'modified', ...this.columns.map((f) => f.fieldname)];
    if (this.meta.is_submittable) fields.push('docstatus');
    if (this.titleField && !fields.includes(this.titleField)) fields.push(this.titleField);
    this.filtered = this.filters();
    this.stopList?.();
    this.shown = false;
    this.total = null;
    this.countSoon.cancel();
    this.stopList = this.desk.ld.live.list(
      { doctype: this.doctype, fields, filters: this.filtered, order_by: `${s.sort} ${s.order}`, start: s.start, limit: s.len + 1 },
      (rows) => {
        if (seq === this.seq && this.mounted) this.show(rows);
      },
      (err) => {
        if (seq === this.seq && this.mounted) this.setNote(`Could not load the list: ${errorText(err)}`);
      });
  }

  /**
   * Shows the page's rows: a row keeps its element (by name) and is redrawn only when its values
   * changed; rows are moved, added and removed in place, so nothing flashes but what changed.
   */
  show(all) {
    const s = this.state;
    const more = all.length > s.len;
    const rows = all.slice(0, s.len);
    const first = !this.shown;
    if (first) {
      this.trs = new Map();
      this.tbody.replaceChildren();
      this.el.querySelector('.list-page')?.setAttribute('data-live', '1');
    }
    this.shown = true;
    this.setNote('');
    const next = new Map();
    let entered = first;
    for (const r of rows) {
      const key = JSON.stringify(r);
      const had = this.trs.get(r.name);
      if (had && had.key === key) {
        next.set(r.name, had);
        continue;
      }
      const tr = this.renderRow(r, !first);
      if (had) {
        // The same element, new cells: whoever holds the row (focus, a test) still has it.
        had.tr.replaceChildren(...tr.childNodes);
        had.tr.classList.remove('flash');
        void had.tr.offsetWidth; // restarts the animation
        had.tr.classList.add('flash');
        next.set(r.name, { tr: had.tr, key });
      } else {
        entered = true;
        next.set(r.name, { tr, key });
      }
    }
    for (const [name, { tr }] of this.trs) {
      if (next.has(name)) continue;
      entered = true;
      tr.remove();
    }
    let at = this.tbody.firstChild;
    for (const r of rows) {
      const { tr } = next.get(r.name);
      if (tr === at) at = at.nextSibling;
      else this.tbody.insertBefore(tr, at);
    }
    this.trs = next;
    this.rows = rows;
    this.more = more;
    this.emptyEl.hidden = rows.length > 0;
    if (!rows.length) {
      const filtered = this.filtered.length > 0;
      this.emptyEl.replaceChildren(
        h('p', {}, filtered ? `No ${this.doctype} matches the filters.` : `No ${this.doctype} yet.`),
        !filtered && this.info.perms.create ? h('a', { class: 'btn btn-primary', href: `/app/${routeOf(this.doctype)}/new`, 'data-link': true }, `Create the first ${this.doctype}`) : null);
    }
    // The total is known from the rows unless the page is full (or past the end): then it is
    // counted, once per rows entering or leaving, never for a change that only updates or moves.
    if (!more && (rows.length || !s.start)) {
      this.countSoon.cancel();
      this.total = s.start + rows.length;
    } else if (first) {
      this.loadCount();
    } else if (entered) {
      this.countSoon();
    }
    this.renderCount();
  }

  /** frappe.client.get_count for a list longer than its page. */
  async loadCount() {
    const seq = this.seq;
    let count;
    try {
      count = await this.desk.ld.db.count(this.doctype, this.filtered);
    } catch (err) {
      if (seq === this.seq && this.mounted) this.setNote(`Could not count: ${errorText(err)}`);
      return;
    }
    if (seq !== this.seq || !this.mounted) return;
    this.total = count;
    this.renderCount();
  }

  renderCount() {
    const s = this.state;
    const n = this.rows.length;
    const from = n ? s.start + 1 : 0;
    this.countEl.textContent = `${from}–${s.start + n} of ${this.total ?? '…'}`;
    this.prevBtn.disabled = s.start === 0;
    this.nextBtn.disabled = !this.more;
  }

  renderRow(r, flash) {
    const url = docURL(this.doctype, r.name);
    const tf = this.titleField;
    const title = tf && r[tf] && r[tf] !== r.name ? String(r[tf]) : '';
    const tr = h('tr', { 'data-name': r.name, class: flash ? 'flash' : '', onclick: (e) => {
      if (e.target.closest('a') || getSelection().toString()) return;
      this.desk.navigate(url);
    } },
    h('td', { class: 'list-name' }, title
      ? [h('a', { href: url, 'data-link': true, class: 'list-title-main' }, title), h('span', { class: 'list-title muted' }, r.name)]
      : h('a', { href: url, 'data-link': true }, r.name)),
    this.columns.map((f) => {
      const td = h('td', { class: isNum(f) ? 'num' : '', 'data-fieldname': f.fieldname },
        f.fieldname === 'status' && r.status ? h('span', { class: `pill pill-ds${Number(r.docstatus) || 0}` }, r.status) : formatValue(f, r[f.fieldname]));
      if (f.fieldtype === 'Link' && r[f.fieldname]) {
        // show_title_field_in_link: the linked document's title in place of its name.
        this.desk.linkTitle(f.options, r[f.fieldname]).then((t) => {
          if (t) {
            td.textContent = t;
            td.title = r[f.fieldname];
          }
        });
      }
      return td;
    }),
    this.showDocstatus ? h('td', {}, h('span', { class: `pill pill-ds${Number(r.docstatus) || 0}` }, docstatusLabel(r.docstatus))) : null,
    h('td', { class: 'list-modified muted', title: localTime(r.modified) }, timeAgo(r.modified)));
    return tr;
  }
}

function isNum(f) {
  return ['Int', 'Float', 'Currency'].includes(f.fieldtype);
}
