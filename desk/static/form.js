// The form view of one document: its fields laid out in tabs, sections and columns (layout.js),
// a control per field (controls.js) with depends_on, mandatory_depends_on, read_only_depends_on
// and permlevels applied as values change, fetch_from, the actions its state and the user's
// permissions allow, the sidebar and timeline (docinfo, live from docinfo_update), and its live
// behaviour (the document through ld.live.doc: others' saves patched in with no read, the
// "Changed by" bar, viewers, renames). The FormView is also the `frm` that client scripts get
// (window.cur_frm).

import { h, debounce, toast, confirmDialog, errorText, avatar, timeAgo, localTime, whenInWords, docURL, routeOf, docstatusLabel } from './ui.js';
import { makeControl, LAYOUT, NO_VALUE } from './controls.js';
import { nowUTC } from './control-input.js';
import { Layout } from './layout.js';
import { holds } from './rules.js';
import { Sidebar } from './sidebar.js';
import { Timeline } from './timeline.js';
import { problem } from './list.js';

const RELOAD_DEBOUNCE_MS = 150;

export class FormView {
  constructor(desk, route, name) {
    this.desk = desk;
    this.route = route;
    this.docname = name; // null for a new document
    this.doctype = null;
    this.doc = null;
    this.dirty = false;
    this.mounted = false;
    this.controls = new Map();
    this.saving = null;
    this.subscribedAs = null;
    this.live = null; // ld.live.doc's stop() for the open document
    this.liveAs = null; // the name the server confirmed live (subscribed and open)
    this.loadedOnce = false;

    this.onViewers = (msg) => {
      if (!this.mounted || !msg || msg.doctype !== this.doctype || msg.docname !== this.docname) return;
      this.renderViewers(msg.users || []);
    };
    this.onRename = (msg) => {
      if (!this.mounted || !msg || msg.doctype !== this.doctype || msg.old !== this.docname) return;
      this.followRename(msg.new);
    };
    this.onDocinfo = (msg) => {
      const d = msg?.doc;
      if (!this.mounted || !d || d.reference_doctype !== this.doctype || d.reference_name !== this.docname) return;
      this.mergeDocinfo(msg);
    };
    this.docinfoSoon = debounce(() => this.loadDocinfo(), RELOAD_DEBOUNCE_MS);
  }

  // ---- frm: the client script API ------------------------------------------------------------

  is_new() {
    return !this.docname;
  }

  is_dirty() {
    return this.dirty;
  }

  /**
   * Reloads the document from the server. Unsaved edits are never dropped, whoever calls it (a
   * client script on a realtime event, say): a dirty form keeps them and shows who changed the
   * document, with a Reload button that does discard them.
   */
  reload_doc() {
    if (!this.mounted || !this.docname) return Promise.resolve();
    if (this.dirty) return this.remoteChanged();
    return this.load();
  }

  /** Sets a field's value as if the user had typed it: the form becomes dirty. */
  async set_value(field, value) {
    if (field && typeof field === 'object') {
      for (const [k, v] of Object.entries(field)) await this.set_value(k, v);
      return;
    }
    if (!this.doc) return;
    this.doc[field] = value;
    this.controls.get(field)?.set(value);
    this.markDirty();
    this.applyRules();
    await this.fetchFrom(field);
    await this.trigger(field);
  }

  /** Frappe's frm.set_df_property(field, property, value), for hidden, reqd, read_only, label, description. */
  set_df_property(field, prop, value) {
    const f = this.meta.fields.find((x) => x.fieldname === field);
    if (!f) return;
    f[prop] = value;
    const ctl = this.controls.get(field);
    if (prop === 'label' && ctl?.el) {
      const l = ctl.el.querySelector('.field-label');
      if (l?.firstChild) l.firstChild.textContent = value;
    }
    this.applyRules();
  }

  toggle_display(field, show) {
    for (const f of [].concat(field)) this.set_df_property(f, 'hidden', show ? 0 : 1);
  }

  toggle_reqd(field, reqd) {
    for (const f of [].concat(field)) this.set_df_property(f, 'reqd', reqd ? 1 : 0);
  }

  toggle_enable(field, enable) {
    for (const f of [].concat(field)) this.set_df_property(f, 'read_only', enable ? 0 : 1);
  }

  /** Re-shows the document's values and runs the refresh handlers. */
  refresh() {
    if (!this.doc) return Promise.resolve();
    this.renderValues();
    this.renderState();
    return this.trigger('refresh');
  }

  save(action) {
    if (action === 'Submit') return this.submit();
    if (action === 'Cancel') return this.cancel();
    return this.doSave();
  }

  get fields_dict() {
    return Object.fromEntries([...this.controls].map(([k, c]) => [k, c]));
  }

  // ---- mounting ---------------------------------------------------------------------------------

  async mount(el) {
    this.el = el;
    this.mounted = true;
    this.desk.setCrumbs([{ label: this.route }]);
    let info;
    try {
      info = await this.desk.getMeta(this.route);
    } catch (err) {
      if (this.mounted) {
        this.desk.setTitle('Not permitted');
        problem(el, err, { what: `“${this.route}”` });
      }
      return;
    }
    if (!this.mounted) return;
    this.info = info;
    this.meta = info.meta;
    this.doctype = this.meta.name;
    this.children = info.children;
    if (this.meta.issingle) this.docname = this.doctype;
    this.desk.setCrumbs(this.meta.issingle ? [{ label: this.doctype }] : [{ label: this.doctype, href: `/app/${routeOf(this.doctype)}` }, { label: this.docname || `New ${this.doctype}` }]);
    // The document's snapshot comes while the client script loads (handlers are registered before
    // it is shown).
    if (this.docname) this.watch(this.docname);
    await this.desk.loadClientScript(this.doctype);
    if (!this.mounted) return;
    this.renderSkeleton();
    window.cur_frm = this;
    for (const [ev, fn] of this.listeners()) this.desk.ld.realtime.on(ev, fn);
    await this.trigger('setup');
    if (this.docname) {
      this.subscribe(this.docname);
      this.loadDocinfo();
      await this.load({ first: true });
    } else {
      this.setDoc(this.newDoc(), { dirty: true });
      await this.trigger('onload');
      await this.trigger('refresh');
      this.focusFirst();
    }
  }

  listeners() {
    return [['doc_viewers', this.onViewers], ['doc_rename', this.onRename], ['docinfo_update', this.onDocinfo]];
  }

  /** Focus on the first field the user can type in (of the first tab). */
  focusFirst() {
    for (const [, ctl] of this.controls) {
      if (ctl.input && !ctl.readOnly && !ctl.el.hidden && ctl.el.offsetParent !== null && !NO_VALUE.has(ctl.field.fieldtype)) {
        ctl.focus();
        return;
      }
    }
  }

  unmount() {
    this.mounted = false;
    this.docinfoSoon.cancel();
    for (const [ev, fn] of this.listeners()) this.desk.ld.realtime.off(ev, fn);
    this.unsubscribe();
    this.changedBar?.remove();
    // cur_frm stays (as in Frappe), but reload_doc() on a closed form does nothing.
  }

  /**
   * After a resync (events may have been missed): the live document reads itself again (one GET),
   * so only the docinfo is reloaded here.
   */
  reload() {
    if (!this.docname || !this.doc) return;
    this.loadDocinfo();
  }

  /**
   * Watches the document through ld.live.doc: the first value is what the form opens with
   * (this.firstDoc), later ones are changes (remoteDoc).
   */
  watch(name) {
    this.subscribedAs = name;
    let first;
    this.firstDoc = new Promise((resolve, reject) => {
      first = { resolve, reject };
    });
    this.firstDoc.catch(() => {}); // load() reports it
    this.live = this.desk.ld.live.doc(this.doctype, name,
      (doc) => {
        if (first) first.resolve(doc);
        else this.remoteDoc(doc);
        first = null;
      },
      (err) => {
        if (first) first.reject(err);
        else if (this.subscribedAs !== name) return;
        else if (err?.excType === 'DoesNotExistError' || err?.status === 404) this.showChangedBar(null, 'This document was deleted by someone else.');
        else this.showMessage(`Could not reload: ${errorText(err)}`, 'red');
        first = null;
      });
  }

  /**
   * Watches the document (unless it is already) and opens it: viewers, whose doc_viewers answer
   * needs the form's listeners in place. The page gets data-live="1" once the server confirmed
   * both.
   */
  subscribe(name) {
    const rt = this.desk.ld.realtime;
    if (!this.live || this.subscribedAs !== name) this.watch(name);
    Promise.all([this.firstDoc, rt.doc_open(this.doctype, name)]).then(
      () => {
        if (this.subscribedAs !== name) return;
        this.liveAs = name;
        this.markLive();
      },
      (err) => {
        // Once the document is shown (a missing one is a page of its own).
        this.firstDoc.then(() => {
          if (this.subscribedAs === name) this.showMessage(`Live updates are off for this document: ${errorText(err)}`, 'orange');
        }, () => {});
      });
  }

  /** data-live="1" on the page while the open document is live (subscribed and open). */
  markLive() {
    const page = this.el?.querySelector('.form-page');
    if (page) page.dataset.live = this.liveAs && this.liveAs === this.subscribedAs ? '1' : '0';
  }

  unsubscribe() {
    const name = this.subscribedAs;
    if (!name) return;
    this.subscribedAs = null;
    this.liveAs = null;
    this.markLive();
    this.live?.();
    this.live = null;
    this.desk.ld.realtime.doc_close(this.doctype, name).catch(() => {});
  }

  newDoc() {
    const d = { doctype: this.doctype, docstatus: 0, __islocal: 1 };
    const today = new Date();
    const pad = (n) => String(n).padStart(2, '0');
    for (const f of this.meta.fields) {
      if (f.fieldtype === 'Table' || f.fieldtype === 'Table MultiSelect') {
        d[f.fieldname] = [];
        continue;
      }
      if (f.default === undefined || f.default === null || f.default === '' || NO_VALUE.has(f.fieldtype)) continue;
      let v = f.default;
      const lower = String(v).toLowerCase();
      if (lower === 'today') v = `${today.getFullYear()}-${pad(today.getMonth() + 1)}-${pad(today.getDate())}`;
      else if (lower === 'now') v = f.fieldtype === 'Datetime' ? nowUTC() : f.fieldtype === 'Time' ? today.toTimeString().slice(0, 8) : null;
      else if (lower === '__user') v = this.desk.user;
      else if (['Int', 'Check'].includes(f.fieldtype)) v = parseInt(v, 10);
      else if (['Float', 'Currency', 'Percent', 'Rating', 'Duration'].includes(f.fieldtype)) v = parseFloat(v);
      if (v !== null) d[f.fieldname] = v;
    }
    return d;
  }

  /**
   * Shows the stored document: the live document's first value when the form opens, else a GET
   * (reload_doc, Reload). Unless forced, edits the user started meanwhile are kept.
   */
  async load({ first = false, force = false } = {}) {
    const name = this.docname;
    let doc;
    try {
      doc = first ? structuredClone(await this.firstDoc) : await this.desk.ld.db.get(this.doctype, name);
    } catch (err) {
      if (!this.mounted || name !== this.docname) return;
      if (first) {
        this.unsubscribe();
        this.desk.setTitle('Not found');
        return problem(this.el, err, { what: `${this.doctype} ${name}` });
      }
      this.showMessage(`Could not reload: ${errorText(err)}`, 'red');
      return;
    }
    if (!this.mounted || name !== this.docname) return;
    if (!first && !force && this.dirty) {
      if (doc.modified > this.doc.modified) this.showChangedBar(doc);
      return;
    }
    this.setDoc(doc);
    if (!first) this.docinfoSoon();
    if (first || !this.loadedOnce) {
      this.loadedOnce = true;
      await this.trigger('onload');
    }
    await this.trigger('refresh');
  }

  /** Shows doc as the form's document: no unsaved edits afterwards (unless dirty). */
  setDoc(doc, { dirty = false } = {}) {
    this.doc = doc;
    this.stored = dirty ? null : structuredClone(doc);
    this.dirty = dirty;
    this.hideChangedBar();
    this.clearErrors();
    this.renderValues();
    this.renderState();
    this.sidebar?.render();
    this.timeline?.render();
  }

  // ---- docinfo: the sidebar and the timeline -----------------------------------------------------

  /** Loads getdoc's docinfo (attachments, comments, versions, assignments, tags). */
  async loadDocinfo() {
    const name = this.docname;
    if (!name || !this.mounted) return;
    try {
      const r = await this.desk.ld.request('GET', '/api/method/frappe.desk.form.load.get_docinfo', { query: { doctype: this.doctype, name } });
      if (!this.mounted || name !== this.docname) return;
      this.docinfo = r.docinfo || {};
    } catch (err) {
      if (err?.excType === 'DoesNotExistError' || err?.status === 404) return;
      console.warn('livedoc: docinfo', errorText(err));
      return;
    }
    this.renderDocinfo();
  }

  /** Applies a docinfo_update {doc, key, action} (Frappe's form does the same). */
  mergeDocinfo({ doc, key, action }) {
    if (!key || !doc) return;
    this.docinfo ||= {};
    const list = Array.isArray(this.docinfo[key]) ? this.docinfo[key] : [];
    const rest = list.filter((x) => x.name !== doc.name);
    if (action === 'delete') this.docinfo[key] = rest;
    else if (action === 'edit') this.docinfo[key] = list.map((x) => (x.name === doc.name ? { ...x, ...doc } : x));
    else this.docinfo[key] = key === 'attachments' ? [...rest, doc] : [doc, ...rest];
    if (doc.owner && !this.docinfo.user_info?.[doc.owner]) (this.docinfo.user_info ||= {})[doc.owner] = { fullname: doc.comment_by && doc.comment_by !== doc.owner ? doc.comment_by : doc.owner };
    this.renderDocinfo();
  }

  renderDocinfo() {
    this.sidebar?.render();
    this.timeline?.render();
    const page = this.el?.querySelector('.form-page');
    if (page) page.dataset.docinfo = String((this.docinfoLoads = (this.docinfoLoads || 0) + 1));
  }

  // ---- rendering --------------------------------------------------------------------------------

  renderSkeleton() {
    this.titleEl = h('h1', { class: 'page-title form-title' });
    this.subtitleEl = h('span', { class: 'form-subtitle muted' });
    this.statusEl = h('span', { class: 'pill', 'data-status': '' });
    this.viewersEl = h('div', { class: 'viewers', 'aria-label': 'Also viewing', role: 'group' });
    this.actionsEl = h('div', { class: 'actions' });
    this.messageEl = h('div', { class: 'form-message', role: 'alert', hidden: true });
    this.metaEl = h('p', { class: 'form-meta muted' });
    this.form = h('form', { class: 'form-body card', novalidate: true, onsubmit: (e) => { e.preventDefault(); this.doSave(); } });
    this.controls.clear();
    // Prompt naming: the user names a new document (Frappe's __newname).
    const prompt = this.is_new() && (/^prompt$/i.test(this.meta.autoname || '') || this.meta.naming_rule === 'Set by user');
    const fields = prompt ? [{ fieldname: '__newname', fieldtype: 'Data', label: `${this.doctype} Name`, reqd: 1, bold: 1 }, ...this.meta.fields] : this.meta.fields;
    this.layout = new Layout(fields, {
      control: (f) => this.makeFieldControl(f),
      holds: (expr) => holds(expr, this.doc),
    });
    this.form.append(this.layout.el, h('button', { type: 'submit', hidden: true, tabindex: -1 }, 'Save'));
    this.changedBar = h('div', { class: 'changed-bar', role: 'status', hidden: true });
    this.sidebar = new Sidebar(this);
    this.timeline = new Timeline(this);
    this.el.replaceChildren(h('div', { class: 'page form-page', 'data-doctype': this.doctype },
      h('div', { class: 'page-head form-head' },
        h('div', { class: 'title-area' }, this.titleEl, this.statusEl, this.subtitleEl),
        this.viewersEl,
        this.actionsEl),
      this.messageEl,
      h('div', { class: 'form-shell' },
        this.sidebar.el,
        h('div', { class: 'form-main' }, this.form, this.metaEl, this.timeline.el))));
    document.body.append(this.changedBar);
  }

  /** The control of one field (none for layout fields, which the layout places). */
  makeFieldControl(f) {
    if (LAYOUT.has(f.fieldtype)) return null;
    const ctl = makeControl(f, {
      desk: this.desk,
      frm: this,
      childMeta: f.fieldtype === 'Table' || f.fieldtype === 'Table MultiSelect' ? this.children[f.options] : null,
      onClick: () => this.trigger(f.fieldname),
      onInput: (v) => {
        if (!this.doc) return;
        this.doc[f.fieldname] = v;
        ctl.setError('');
        this.markDirty();
        this.applyRules();
      },
      onChange: async (v, info) => {
        if (!this.doc) return;
        this.doc[f.fieldname] = v;
        this.applyRules();
        if (info?.cdt) return this.trigger(info.fieldname || `${f.fieldname}_${info.added ? 'add' : info.removed ? 'remove' : 'change'}`, info.cdt, info.cdn);
        await this.fetchFrom(f.fieldname);
        await this.trigger(f.fieldname);
      },
    });
    this.controls.set(f.fieldname, ctl);
    return ctl;
  }

  /** Whether the user may read / write fields of f's permlevel (getdoctype's perm_levels). */
  levelCan(f, what) {
    const lv = this.info.perm_levels?.[String(f.permlevel || 0)];
    if (!lv) return !(f.permlevel > 0) && !!this.info.perms[what];
    return !!lv[what];
  }

  /**
   * depends_on, mandatory_depends_on, read_only_depends_on and permlevels, over the document as
   * it is now: called on every edit, so fields appear, become required or locked as the user types.
   */
  applyRules() {
    if (!this.doc || !this.layout) return;
    const d = this.doc;
    const ds = Number(d.docstatus) || 0;
    const canWrite = this.is_new() ? this.canDo('create') : this.canDo('write');
    for (const [fname, ctl] of this.controls) {
      const f = ctl.field;
      const visible = fname === '__newname' ? this.is_new() : !f.hidden && this.levelCan(f, 'read') && holds(f.depends_on, d);
      ctl.setHidden(!visible);
      if (NO_VALUE.has(f.fieldtype)) {
        ctl.refresh?.(d);
        if (f.fieldtype === 'Button') ctl.setReadOnly(!!f.read_only);
        continue;
      }
      ctl.setMandatory(visible && (!!f.reqd || (!!f.mandatory_depends_on && holds(f.mandatory_depends_on, d))));
      const locked = !!f.read_only || !canWrite || ds === 2 || (ds === 1 && !f.allow_on_submit) || !this.levelCan(f, 'write') ||
        (!!f.read_only_depends_on && holds(f.read_only_depends_on, d)) ||
        (!!f.set_only_once && !this.is_new() && this.stored?.[fname] !== undefined && this.stored?.[fname] !== null && this.stored?.[fname] !== '');
      if (ctl.readOnly !== locked || ctl.el.dataset.ro === undefined) {
        ctl.setReadOnly(locked);
        ctl.el.dataset.ro = locked ? '1' : '0';
      }
    }
    this.layout.refresh();
  }

  /** fetch_from: after a Link changed, the fields that copy from the linked document. */
  async fetchFrom(linkField) {
    const link = this.meta.fields.find((f) => f.fieldname === linkField);
    if (!link || !['Link', 'Dynamic Link'].includes(link.fieldtype)) return;
    const targets = this.meta.fields.filter((f) => f.fetch_from && f.fetch_from.split('.')[0] === linkField);
    if (!targets.length) return;
    const value = this.doc[linkField];
    const doctype = link.fieldtype === 'Link' ? link.options : this.doc[link.options];
    let source = {};
    if (value && doctype) {
      try {
        source = (await this.desk.ld.request('GET', '/api/method/frappe.client.get_value', {
          query: { doctype, filters: value, fieldname: JSON.stringify(targets.map((f) => f.fetch_from.split('.')[1])) },
        })).message || {};
      } catch {
        return; // e.g. the user may only select, not read, the linked DocType: the server fills them on save
      }
    }
    if (this.doc[linkField] !== value) return;
    for (const f of targets) {
      if (f.fetch_if_empty && this.doc[f.fieldname] !== null && this.doc[f.fieldname] !== undefined && this.doc[f.fieldname] !== '') continue;
      const v = source[f.fetch_from.split('.')[1]] ?? null;
      this.doc[f.fieldname] = v;
      this.controls.get(f.fieldname)?.set(v);
    }
    this.applyRules();
  }

  renderValues() {
    for (const [fname, ctl] of this.controls) {
      if (!NO_VALUE.has(ctl.field.fieldtype)) ctl.set(this.doc[fname]);
    }
  }

  canDo(ptype) {
    const p = this.info.perms;
    if (!p[ptype]) return false;
    if (this.info.owner_only.includes(ptype) && this.doc && !this.is_new()) return this.doc.owner === this.desk.user;
    return true;
  }

  renderState() {
    const d = this.doc;
    const ds = Number(d.docstatus) || 0;
    const isNew = this.is_new();
    const submittable = !!this.meta.is_submittable;
    this.titleEl.textContent = isNew ? `New ${this.doctype}` : this.meta.issingle ? this.doctype : this.docname;
    const tf = this.meta.title_field;
    this.subtitleEl.textContent = !isNew && tf && d[tf] && d[tf] !== this.docname ? String(d[tf]) : '';
    let status = isNew || this.dirty ? 'Not Saved' : submittable ? docstatusLabel(ds) : '';
    this.statusEl.textContent = status;
    this.statusEl.dataset.status = status;
    this.statusEl.className = `pill ${status === 'Not Saved' ? 'pill-dirty' : `pill-ds${ds}`}`;
    this.statusEl.hidden = !status;
    this.desk.setTitle(isNew ? `New ${this.doctype}` : this.meta.issingle ? this.doctype : `${this.docname} · ${this.doctype}`);
    this.metaEl.textContent = isNew || !d.modified ? '' : `Created by ${d.owner} · ${localTime(d.creation)} — last saved by ${d.modified_by} · ${timeAgo(d.modified)}`;
    this.metaEl.title = isNew ? '' : `Last saved ${localTime(d.modified)}`;

    // Which fields are shown, required and editable now.
    const canWrite = isNew ? this.canDo('create') : this.canDo('write');
    this.applyRules();

    // The actions the state and the permissions allow.
    const btns = [];
    const btn = (label, action, cls, fn, extra = {}) => h('button', { type: 'button', class: `btn ${cls}`, 'data-action': action, onclick: fn, ...extra }, label);
    const hasAllowOnSubmit = this.meta.fields.some((f) => f.allow_on_submit && !f.read_only);
    if (ds === 0 && canWrite) {
      const primarySave = isNew || this.dirty || !submittable || !this.canDo('submit');
      btns.push(btn('Save', 'save', primarySave ? 'btn-primary' : '', () => this.doSave(), { title: 'Save (Ctrl+S)', 'aria-keyshortcuts': 'Control+S Meta+S' }));
    }
    if (ds === 0 && submittable && !isNew && !this.dirty && this.canDo('submit')) btns.push(btn('Submit', 'submit', 'btn-primary', () => this.submit()));
    if (ds === 1 && hasAllowOnSubmit && this.canDo('write') && this.dirty) btns.push(btn('Update', 'save', 'btn-primary', () => this.doSave(), { title: 'Update (Ctrl+S)' }));
    if (ds === 1 && this.canDo('cancel')) btns.push(btn('Cancel', 'cancel', 'btn-danger-outline', () => this.cancel()));
    if (!isNew && ds !== 1 && this.canDo('delete') && !this.meta.issingle) btns.push(btn('Delete', 'delete', 'btn-ghost-danger', () => this.remove()));
    this.actionsEl.replaceChildren(...btns);
  }

  renderViewers(users) {
    const others = [...new Set(users)].filter((u) => u && u !== this.desk.user);
    const shown = others.slice(0, 5).map((u) => avatar(u));
    if (others.length > 5) shown.push(h('span', { class: 'avatar avatar-more', title: others.slice(5).join(', ') }, `+${others.length - 5}`));
    this.viewersEl.replaceChildren(...shown);
    this.viewersEl.title = others.length ? `Also viewing: ${others.join(', ')}` : '';
    this.viewersEl.dataset.count = String(others.length);
  }

  markDirty() {
    if (this.dirty) return;
    this.dirty = true;
    this.renderState();
  }

  clearErrors() {
    for (const ctl of this.controls.values()) ctl.setError('');
    this.showMessage('');
  }

  showMessage(text, indicator = 'red', ...extra) {
    if (!this.messageEl) return;
    delete this.messageEl.dataset.conflict;
    this.messageEl.removeAttribute('title');
    this.messageEl.replaceChildren(...(text ? [h('span', { class: 'form-message-text' }, text), ...extra] : []));
    this.messageEl.className = `form-message form-message-${indicator}`;
    this.messageEl.hidden = !text;
  }

  // ---- live behaviour ---------------------------------------------------------------------------

  /**
   * A newer version through the live document (someone saved; patched from doc_update with no
   * read): a form without unsaved edits shows it, one with edits keeps them and shows who changed
   * it, with a Reload.
   */
  async remoteDoc(doc) {
    if (!this.mounted || !this.doc || this.is_new() || doc.name !== this.docname) return;
    if (this.saving) await this.saving.catch(() => {});
    if (!this.mounted || !(doc.modified > this.doc.modified)) return; // our own save, or what we show
    if (this.dirty) return this.showChangedBar(doc);
    this.setDoc(structuredClone(doc));
    this.docinfoSoon();
    await this.trigger('refresh');
  }

  /**
   * A script or a rename asks for the latest version (one GET): a form without unsaved edits
   * shows it; one with edits keeps them and shows who changed it, with a Reload.
   */
  async remoteChanged() {
    if (!this.mounted || !this.docname) return;
    if (this.saving) await this.saving.catch(() => {});
    if (!this.dirty) return this.load();
    const name = this.docname;
    let latest;
    try {
      latest = await this.desk.ld.db.get(this.doctype, name);
    } catch (err) {
      if (err?.excType === 'DoesNotExistError' && this.mounted && name === this.docname) {
        this.showChangedBar(null, 'This document was deleted by someone else.');
      }
      return;
    }
    if (!this.mounted || name !== this.docname) return;
    if (!this.dirty) return this.setDoc(latest);
    if (latest.modified > this.doc.modified) this.showChangedBar(latest);
  }

  showChangedBar(latest, text) {
    const bar = this.changedBar;
    const who = latest ? h('strong', { class: 'changed-by' }, latest.modified_by) : null;
    const when = latest ? h('time', { datetime: latest.modified, title: localTime(latest.modified) }, timeAgo(latest.modified)) : null;
    bar.replaceChildren(
      h('span', { class: 'changed-text' }, ...(latest ? ['Changed by ', who, ' ', when] : [text])),
      latest ? h('span', { class: 'changed-sep', 'aria-hidden': 'true' }, ' — ') : null,
      latest ? h('button', { type: 'button', class: 'btn btn-sm btn-primary', 'data-action': 'reload', onclick: () => this.discardAndReload() }, 'Reload') : null,
      h('span', { class: 'changed-note muted' }, latest ? 'your unsaved edits are kept until you reload' : ''));
    bar.hidden = false;
    bar.dataset.modifiedBy = latest?.modified_by ?? '';
  }

  /** The user chose to drop their edits for the stored version. */
  discardAndReload() {
    if (!this.mounted || !this.docname) return Promise.resolve();
    return this.load({ force: true });
  }

  hideChangedBar() {
    if (this.changedBar) this.changedBar.hidden = true;
  }

  followRename(newName) {
    const old = this.docname;
    this.unsubscribe();
    this.docname = newName;
    if (this.doc) this.doc.name = newName;
    history.replaceState(history.state, '', docURL(this.doctype, newName));
    this.desk.setCrumbs([{ label: this.doctype, href: `/app/${routeOf(this.doctype)}` }, { label: newName }]);
    this.subscribe(newName);
    toast(`${this.doctype} ${old} was renamed to ${newName}`, { indicator: 'blue' });
    if (this.dirty) {
      this.renderState();
      this.remoteChanged();
    } else {
      this.load();
    }
  }

  // ---- actions ----------------------------------------------------------------------------------

  async trigger(event, cdt, cdn) {
    const doctype = cdt || this.doctype;
    const fns = handlersFor(doctype, event);
    for (const fn of fns) {
      try {
        await fn(this, doctype, cdn || this.docname);
      } catch (err) {
        if (event === 'validate' || event === 'before_save') throw err;
        console.error(`livedoc: ${doctype} ${event} handler failed`, err);
        toast(`${doctype} script (${event}): ${errorText(err)}`, { indicator: 'red' });
      }
    }
  }

  payload() {
    const d = structuredClone(this.doc);
    for (const f of this.meta.fields) {
      if (f.fieldtype === 'Password' && !d[f.fieldname]) delete d[f.fieldname];
    }
    d.doctype = this.doctype;
    return d;
  }

  doSave() {
    if (this.saving) return this.saving;
    if (this.doc && !this.is_new() && !this.dirty) {
      // As Frappe: nothing to save, nothing is sent (no new modified, no Version, no events).
      toast('No changes in document', { indicator: 'blue', timeout: 2500 });
      return Promise.resolve(false);
    }
    const run = async () => {
      if (!this.doc) return;
      this.clearErrors();
      if (!this.checkMandatory()) return false;
      const frappe = window.frappe;
      try {
        if (frappe) frappe.validated = true;
        await this.trigger('validate');
        await this.trigger('before_save');
        if (frappe && frappe.validated === false) return false;
      } catch (err) {
        this.showMessage(errorText(err), 'red');
        return false;
      }
      const wasNew = this.is_new();
      this.setBusy(true);
      let saved;
      try {
        const saving = wasNew ? this.desk.ld.db.insert(this.payload()) : this.desk.ld.db.save(this.payload());
        this.live?.saved(saving.then((d) => structuredClone(d))); // its doc_update costs no GET
        saved = await saving;
      } catch (err) {
        this.showSaveError(err);
        return false;
      } finally {
        this.setBusy(false);
      }
      if (!this.mounted) return saved;
      if (wasNew && !this.meta.issingle) {
        this.docname = saved.name;
        history.replaceState(history.state, '', docURL(this.doctype, saved.name));
        this.desk.setCrumbs([{ label: this.doctype, href: `/app/${routeOf(this.doctype)}` }, { label: saved.name }]);
        this.subscribe(saved.name);
      }
      this.setDoc(saved);
      this.docinfoSoon(); // the Version of this save
      toast(`Saved ${this.doctype} ${saved.name}`, { indicator: 'green', timeout: 2500 });
      await this.trigger('refresh');
      await this.trigger('after_save');
      return saved;
    };
    this.saving = run().finally(() => {
      this.saving = null;
    });
    return this.saving;
  }

  /** The visible fields that are required and empty, named at the field; false if any. */
  checkMandatory() {
    const missing = [];
    for (const [, ctl] of this.controls) {
      if (ctl.el.hidden || !ctl.mandatory || NO_VALUE.has(ctl.field.fieldtype) || ctl.field.fieldtype === 'Password') continue;
      if (ctl.isEmpty()) missing.push(ctl);
    }
    if (!missing.length) return true;
    for (const ctl of missing) ctl.setError(`${ctl.field.label || ctl.field.fieldname} is required`);
    this.showMessage(`Missing values: ${missing.map((c) => c.field.label || c.field.fieldname).join(', ')}`, 'red');
    this.layout.reveal(missing[0].field.fieldname);
    missing[0].focus();
    return false;
  }

  setBusy(b) {
    this.form?.classList.toggle('busy', b);
    for (const btn of this.actionsEl?.querySelectorAll('button') ?? []) btn.disabled = b;
  }

  /** Shows a failed save where the user can act on it: at the fields, or as the form's message. */
  showSaveError(err) {
    const type = err?.excType || '';
    const msg = errorText(err);
    if (type === 'TimestampMismatchError') {
      this.showConflict();
      return;
    }
    if (type === 'MandatoryError') {
      const labels = msg.slice(msg.lastIndexOf(': ') + 2).split(', ').map((s) => s.trim()).filter(Boolean);
      let first = null;
      for (const label of labels) {
        const f = this.meta.fields.find((x) => x.label === label);
        const ctl = f && this.controls.get(f.fieldname);
        if (ctl) {
          ctl.setError(`${label} is required`);
          first ||= ctl;
        }
      }
      if (first) this.layout.reveal(first.field.fieldname);
      this.showMessage(`Missing values: ${labels.join(', ')}`, 'red');
      first?.focus();
      return;
    }
    // "Label: ..." messages belong to that field.
    const f = this.meta.fields.find((x) => x.label && msg.startsWith(`${x.label}:`));
    if (f && this.controls.get(f.fieldname)) {
      this.layout.reveal(f.fieldname);
      this.controls.get(f.fieldname).setError(msg.slice(f.label.length + 1).trim());
      this.controls.get(f.fieldname).focus();
    }
    this.showMessage(`${type ? type.replace(/Error$/, ' error') + ': ' : ''}${msg}`, 'red');
  }

  /** A save refused because someone saved first: who and when, in words, and a way on. */
  async showConflict() {
    const reload = h('button', { type: 'button', class: 'btn btn-sm', 'data-action': 'reload', onclick: () => this.discardAndReload() }, 'Reload their version');
    this.showMessage(`Not saved: someone else saved this ${this.doctype} after you opened it. Your edits are kept.`, 'red', reload);
    this.messageEl.dataset.conflict = '1';
    let latest;
    try {
      latest = await this.desk.ld.db.get(this.doctype, this.docname);
    } catch {
      return;
    }
    if (!this.mounted || this.messageEl.dataset.conflict !== '1') return;
    const who = latest.modified_by === this.desk.user ? 'You' : latest.modified_by;
    this.showMessage(`Not saved: ${who} saved this ${this.doctype} ${whenInWords(latest.modified)}, after you opened it. Your edits are kept: reload to see their version (your edits will be lost), or copy what you need first.`,
      'red', reload);
    this.messageEl.dataset.conflict = '1';
    this.messageEl.title = `Saved ${localTime(latest.modified)}`;
    if (this.dirty && latest.modified > this.doc.modified) this.showChangedBar(latest);
  }

  async submit() {
    if (this.dirty) {
      const saved = await this.doSave();
      if (!saved) return;
    }
    if (!(await confirmDialog(`Permanently submit ${this.doctype} ${this.docname}? A submitted document can only be cancelled.`, { ok: 'Submit', title: 'Submit' }))) return;
    this.clearErrors();
    this.setBusy(true);
    try {
      const saving = this.desk.ld.db.submit(this.payload());
      this.live?.saved(saving.then((d) => structuredClone(d)));
      this.saving = saving.catch(() => {});
      this.setDoc(await saving);
      this.docinfoSoon();
      toast(`Submitted ${this.docname}`, { indicator: 'green', timeout: 2500 });
      await this.trigger('refresh');
      await this.trigger('on_submit');
    } catch (err) {
      this.showSaveError(err);
    } finally {
      this.saving = null;
      this.setBusy(false);
    }
  }

  async cancel() {
    if (!(await confirmDialog(`Cancel ${this.doctype} ${this.docname}? This cannot be undone.`, { ok: 'Cancel document', cancel: 'Keep', danger: true, title: 'Cancel' }))) return;
    this.clearErrors();
    this.setBusy(true);
    try {
      const saving = this.desk.ld.db.cancel(this.doctype, this.docname);
      this.saving = saving.catch(() => {});
      await saving;
      this.saving = null;
      await this.load();
      toast(`Cancelled ${this.docname}`, { indicator: 'orange', timeout: 2500 });
      await this.trigger('after_cancel');
    } catch (err) {
      this.showSaveError(err);
    } finally {
      this.saving = null;
      this.setBusy(false);
    }
  }

  async remove() {
    if (!(await confirmDialog(`Delete ${this.doctype} ${this.docname} permanently?`, { ok: 'Delete', danger: true, title: 'Delete' }))) return;
    try {
      await this.desk.ld.db.delete(this.doctype, this.docname);
    } catch (err) {
      this.showSaveError(err);
      return;
    }
    toast(`Deleted ${this.doctype} ${this.docname}`, { indicator: 'orange', timeout: 2500 });
    this.dirty = false;
    this.desk.navigate(`/app/${routeOf(this.doctype)}`);
  }
}

/** The client script handlers for event on doctype (frappe.ui.form.on), in registration order. */
function handlersFor(doctype, event) {
  const all = window.frappe?.ui?.form?.handlers?.[doctype];
  if (!all) return [];
  const out = [];
  const add = (x) => {
    if (typeof x === 'function') out.push(x);
    else if (Array.isArray(x)) x.forEach(add);
  };
  if (Array.isArray(all)) all.forEach((hs) => add(hs?.[event]));
  else add(all[event]);
  return out;
}
