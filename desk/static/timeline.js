// The form's timeline, as Frappe's: a box to add a comment, then the document's activity newest
// first: comments, versions in words ("Ann changed Status from Draft to Paid"), attachments and
// assignments, and its creation. It shows the form's docinfo, which the form keeps current from
// docinfo_update, so a comment one user adds appears on every open form.

import { h, avatar, errorText, toast, timeAgo, localTime, formatValue, plainText } from './ui.js';
import { sanitizedFragment } from './sanitize.js';

const LOG_KEYS = ['assignment_logs', 'attachment_logs', 'info_logs', 'like_logs', 'workflow_logs'];

function short(s, n = 60) {
  s = String(s ?? '');
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

export class Timeline {
  constructor(frm) {
    this.frm = frm;
    this.box = h('textarea', { class: 'input comment-input', rows: 3, placeholder: 'Add a comment', 'aria-label': 'Comment' });
    this.sendBtn = h('button', { type: 'button', class: 'btn btn-sm btn-primary', 'data-action': 'comment', onclick: () => this.comment() }, 'Comment');
    this.box.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        this.comment();
      }
    });
    this.list = h('ol', { class: 'timeline-list', 'aria-live': 'polite' });
    this.el = h('section', { class: 'form-timeline', 'aria-label': 'Activity' },
      h('h2', { class: 'timeline-title' }, 'Activity'),
      h('div', { class: 'comment-box' }, avatar(frm.desk.user, { size: 'avatar-sm' }), h('div', { class: 'comment-main' }, this.box, h('div', { class: 'comment-actions' }, this.sendBtn))),
      this.list);
  }

  userName(u) {
    return this.frm.docinfo?.user_info?.[u]?.fullname || u || 'Someone';
  }

  fieldLabel(fieldname, meta = this.frm.meta) {
    return meta.fields.find((f) => f.fieldname === fieldname)?.label || fieldname;
  }

  value(fieldname, v, meta = this.frm.meta) {
    if (v === null || v === undefined || v === '') return '';
    const f = meta.fields.find((x) => x.fieldname === fieldname);
    return short(formatValue(f, typeof v === 'object' ? JSON.stringify(v) : v));
  }

  /** A Version's data as sentences: what its author did. */
  versionText(data) {
    let d = data;
    if (typeof d === 'string') {
      try {
        d = JSON.parse(d);
      } catch {
        return [];
      }
    }
    const out = [];
    for (const [field, oldV, newV] of d?.changed || []) {
      if (field === 'docstatus') {
        out.push(Number(newV) === 1 ? 'submitted this document' : Number(newV) === 2 ? 'cancelled this document' : `changed the status to ${newV}`);
        continue;
      }
      if (field === 'name') {
        out.push(`renamed this from ${short(oldV)} to ${short(newV)}`);
        continue;
      }
      const label = this.fieldLabel(field);
      const o = this.value(field, oldV);
      const n = this.value(field, newV);
      if (!o) out.push(`set ${label} to ${n}`);
      else if (!n) out.push(`cleared ${label} (was ${o})`);
      else out.push(`changed ${label} from ${o} to ${n}`);
    }
    const tableLabel = (t) => this.fieldLabel(t);
    for (const [t] of d?.added || []) out.push(`added a row to ${tableLabel(t)}`);
    for (const [t] of d?.removed || []) out.push(`removed a row from ${tableLabel(t)}`);
    for (const [t, idx, , changes] of d?.row_changed || []) {
      const tf = this.frm.meta.fields.find((f) => f.fieldname === t);
      const child = tf && this.frm.children?.[tf.options];
      for (const [f, o, n] of changes || []) {
        out.push(`changed ${child ? this.fieldLabel(f, child) : f} in ${tableLabel(t)} row ${Number(idx) + 1} from ${child ? this.value(f, o, child) || '(empty)' : short(o)} to ${child ? this.value(f, n, child) || '(empty)' : short(n)}`);
      }
    }
    return out;
  }

  items() {
    const info = this.frm.docinfo || {};
    const doc = this.frm.doc || {};
    const out = [];
    for (const c of info.comments || []) {
      out.push({ kind: 'comment', name: c.name, who: c.owner || c.comment_email, when: c.creation, content: c.content });
    }
    for (const key of LOG_KEYS) {
      for (const c of info[key] || []) out.push({ kind: 'log', name: c.name, who: c.owner, when: c.creation, text: plainText(c.content) });
    }
    for (const v of info.versions || []) {
      const parts = this.versionText(v.data);
      if (parts.length) out.push({ kind: 'version', name: v.name, who: v.owner, when: v.creation, text: parts.join(', ') });
    }
    if (doc.creation) out.push({ kind: 'created', name: 'created', who: doc.owner, when: doc.creation, text: 'created this' });
    out.sort((a, b) => String(b.when).localeCompare(String(a.when)));
    return out;
  }

  render() {
    const isNew = this.frm.is_new();
    this.el.hidden = isNew;
    if (isNew) return;
    this.list.replaceChildren(...this.items().map((it) => {
      const time = h('time', { class: 'timeline-time muted', datetime: it.when, title: localTime(it.when) }, timeAgo(it.when));
      if (it.kind === 'comment') {
        return h('li', { class: 'timeline-item timeline-comment', 'data-kind': 'comment', 'data-name': it.name },
          avatar(it.who, { size: 'avatar-sm' }),
          h('div', { class: 'comment-card' },
            h('div', { class: 'comment-head' }, h('strong', {}, this.userName(it.who)), ' commented · ', time),
            h('div', { class: 'comment-content' }, sanitizedFragment(it.content))));
      }
      // Logs often name their author already ("ann@x.com assigned ..."): not twice.
      const text = it.kind === 'log' && it.who && it.text.startsWith(it.who) ? it.text.slice(it.who.length).trimStart() : it.text;
      return h('li', { class: `timeline-item timeline-${it.kind}`, 'data-kind': it.kind, 'data-name': it.name },
        h('span', { class: 'timeline-dot', 'aria-hidden': 'true' }),
        h('span', { class: 'timeline-text' }, h('strong', {}, this.userName(it.who)), ' ', text, ' · ', time));
    }));
  }

  async comment() {
    const text = this.box.value.trim();
    if (!text) return this.box.focus();
    const frm = this.frm;
    // Plain text becomes escaped paragraphs (the server keeps only bare formatting tags anyway).
    const box = h('div');
    for (const para of text.split(/\n{2,}/)) {
      const p = h('p');
      para.split('\n').forEach((line, i) => {
        if (i) p.append(h('br'));
        p.append(line);
      });
      box.append(p);
    }
    this.sendBtn.disabled = true;
    try {
      const c = await frm.desk.ld.call('frappe.desk.form.utils.add_comment', {
        reference_doctype: frm.doctype, reference_name: frm.docname, content: box.innerHTML, comment_email: frm.desk.user, comment_by: frm.desk.user,
      });
      this.box.value = '';
      frm.mergeDocinfo({ key: 'comments', action: 'add', doc: c });
    } catch (err) {
      toast(`Could not comment: ${errorText(err)}`, { indicator: 'red' });
    } finally {
      this.sendBtn.disabled = false;
    }
  }
}
