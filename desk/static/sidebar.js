// The form's sidebar, as Frappe's: who the document is assigned to, its attachments (upload with
// a progress bar, remove) and its tags. It shows the form's docinfo (getdoc's), which the form
// keeps current from docinfo_update.

import { h, avatar, errorText, toast, promptDialog, confirmDialog } from './ui.js';
import { safeURL } from './sanitize.js';
import { uploadFile, progressBar } from './upload.js';

export class Sidebar {
  constructor(frm) {
    this.frm = frm;
    this.assignEl = h('ul', { class: 'sidebar-list', 'data-list': 'assignments' });
    this.attachEl = h('ul', { class: 'sidebar-list', 'data-list': 'attachments' });
    this.tagsEl = h('div', { class: 'chips', 'data-list': 'tags' });
    this.file = h('input', { type: 'file', class: 'visually-hidden', tabindex: -1, 'aria-hidden': 'true', onchange: () => this.upload(this.file.files[0]) });
    this.progress = progressBar(h);
    const section = (title, action, ...body) => h('section', { class: 'sidebar-section' },
      h('div', { class: 'sidebar-head' }, h('h2', { class: 'sidebar-title' }, title), action), ...body);
    this.el = h('aside', { class: 'form-sidebar', 'aria-label': 'Document information' },
      section('Assigned to', h('button', { type: 'button', class: 'btn btn-sm btn-ghost', 'data-action': 'assign', 'aria-label': 'Assign to someone', onclick: () => this.assign() }, '+'), this.assignEl),
      section('Attachments', h('button', { type: 'button', class: 'btn btn-sm btn-ghost', 'data-action': 'attach-file', 'aria-label': 'Attach a file', onclick: () => this.file.click() }, '+'),
        this.attachEl, this.progress.el, this.file),
      section('Tags', h('button', { type: 'button', class: 'btn btn-sm btn-ghost', 'data-action': 'add-tag', 'aria-label': 'Add a tag', onclick: () => this.addTag() }, '+'), this.tagsEl));
  }

  get ld() {
    return this.frm.desk.ld;
  }

  userName(u) {
    return this.frm.docinfo?.user_info?.[u]?.fullname || u;
  }

  render() {
    const info = this.frm.docinfo || {};
    const isNew = this.frm.is_new();
    this.el.hidden = isNew;
    if (isNew) return;
    const assigned = (info.assignments || []).filter((a) => !a.status || a.status === 'Open');
    this.assignEl.replaceChildren(...(assigned.length ? assigned.map((a) => h('li', { class: 'sidebar-item', 'data-user': a.owner },
      avatar(a.owner, { size: 'avatar-sm' }), h('span', { class: 'sidebar-text' }, this.userName(a.owner)),
      h('button', { type: 'button', class: 'chip-remove', 'aria-label': `Unassign ${a.owner}`, onclick: () => this.unassign(a.owner) }, '×')))
      : [h('li', { class: 'sidebar-empty muted' }, 'Nobody')]));
    const files = info.attachments || [];
    this.attachEl.replaceChildren(...(files.length ? files.map((f) => {
      const url = safeURL(f.file_url);
      return h('li', { class: 'sidebar-item', 'data-file': f.name },
        h('a', { class: 'sidebar-text', href: url || null, target: '_blank', rel: 'noopener' }, f.file_name || f.file_url || f.name),
        h('button', { type: 'button', class: 'chip-remove', 'aria-label': `Remove ${f.file_name || f.name}`, onclick: () => this.removeFile(f) }, '×'));
    }) : [h('li', { class: 'sidebar-empty muted' }, 'None')]));
    const tags = String(info.tags || '').split(',').map((t) => t.trim()).filter(Boolean);
    this.tagsEl.replaceChildren(...tags.map((t) => h('span', { class: 'chip', 'data-value': t }, h('span', {}, t),
      h('button', { type: 'button', class: 'chip-remove', 'aria-label': `Remove tag ${t}`, onclick: () => this.removeTag(t) }, '×'))));
  }

  async act(fn, done) {
    try {
      await fn();
      done && toast(done, { indicator: 'green', timeout: 2000 });
    } catch (err) {
      toast(errorText(err), { indicator: 'red' });
    }
  }

  async upload(file) {
    if (!file) return;
    const frm = this.frm;
    this.progress.set(0);
    this.el.dataset.uploading = '1';
    await this.act(async () => {
      const f = await uploadFile(file, { doctype: frm.doctype, docname: frm.docname, is_private: 1, onProgress: (p) => {
        this.progress.set(p);
        this.el.dataset.progress = String(Math.round(p * 100));
      } });
      frm.mergeDocinfo({ key: 'attachments', action: 'add', doc: { ...f, reference_doctype: frm.doctype, reference_name: frm.docname } });
    }, `Attached ${file.name}`);
    delete this.el.dataset.uploading;
    this.file.value = '';
    setTimeout(() => this.progress.hide(), 800);
  }

  async removeFile(f) {
    if (!(await confirmDialog(`Remove the attachment ${f.file_name || f.name}?`, { ok: 'Remove', danger: true }))) return;
    await this.act(() => this.ld.call('frappe.desk.form.utils.remove_attach', { fid: f.name, dt: this.frm.doctype, dn: this.frm.docname }));
  }

  async assign() {
    const user = await promptDialog('Assign to (user e-mail or name)', { title: 'Assign', ok: 'Assign' });
    if (!user) return;
    await this.act(() => this.ld.call('frappe.desk.form.assign_to.add', { assign_to: [user], doctype: this.frm.doctype, name: this.frm.docname }), `Assigned to ${user}`);
  }

  async unassign(user) {
    await this.act(() => this.ld.call('frappe.desk.form.assign_to.remove', { doctype: this.frm.doctype, name: this.frm.docname, assign_to: user }));
  }

  async addTag() {
    const tag = await promptDialog('Tag', { title: 'Add a tag', ok: 'Add' });
    if (!tag) return;
    await this.act(async () => {
      await this.ld.call('frappe.desk.doctype.tag.tag.add_tag', { tag, dt: this.frm.doctype, dn: this.frm.docname });
      await this.frm.loadDocinfo();
    });
  }

  async removeTag(tag) {
    await this.act(async () => {
      await this.ld.call('frappe.desk.doctype.tag.tag.remove_tag', { tag, dt: this.frm.doctype, dn: this.frm.docname });
      await this.frm.loadDocinfo();
    });
  }
}
