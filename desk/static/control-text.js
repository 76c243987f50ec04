// Controls for longer text: Text Editor (rich text: bold, italic, lists, links; pasted content
// sanitised), Markdown Editor (with a preview), HTML Editor (with a sanitised preview) and Code
// (monospace, keeps indentation, Tab indents).

import { h, promptDialog } from './ui.js';
import { BaseControl } from './control-base.js';
import { sanitizeHTML, sanitizedFragment, safeURL } from './sanitize.js';
import { markdownFragment } from './markdown.js';

/** Text Editor: a contenteditable area whose value is always sanitised HTML. */
export class TextEditorControl extends BaseControl {
  constructor(field, opts) {
    super(field, opts);
    this.editor = h('div', { id: this.id, class: 'input rich-text', contenteditable: 'true', role: 'textbox', 'aria-multiline': 'true',
      'aria-labelledby': `${this.id}-label` });
    this.input = this.editor;
    const cmd = (label, title, command, fn) => h('button', { type: 'button', class: 'tb-btn', title, 'aria-label': title, 'data-cmd': command,
      onmousedown: (e) => e.preventDefault(), // keep the selection in the editor
      onclick: () => (fn ? fn() : this.exec(command)) }, label);
    this.toolbar = h('div', { class: 'rich-toolbar', role: 'toolbar', 'aria-label': `${field.label || field.fieldname} formatting` },
      cmd(h('b', {}, 'B'), 'Bold (Ctrl+B)', 'bold'),
      cmd(h('i', {}, 'I'), 'Italic (Ctrl+I)', 'italic'),
      cmd('• List', 'Bulleted list', 'insertUnorderedList'),
      cmd('1. List', 'Numbered list', 'insertOrderedList'),
      cmd('Link', 'Insert a link', 'createLink', () => this.link()),
      cmd('Clear', 'Remove formatting', 'removeFormat'));
    this.editor.addEventListener('input', () => this.changed({ complete: false }));
    this.editor.addEventListener('blur', () => this.opts.onChange?.(this.get()));
    this.editor.addEventListener('paste', (e) => this.paste(e));
    this.editor.addEventListener('drop', (e) => e.preventDefault()); // dropped HTML would skip the sanitiser
    this.wrap(h('div', { class: 'rich-wrap' }, this.toolbar, this.editor));
  }

  exec(command, value) {
    if (this.readOnly) return;
    this.editor.focus();
    document.execCommand(command, false, value);
    this.changed({ complete: false });
  }

  async link() {
    if (this.readOnly) return;
    const sel = getSelection();
    const range = sel.rangeCount ? sel.getRangeAt(0).cloneRange() : null;
    const url = await promptDialog('Link to (https://…, mailto:…, or a path)', { title: 'Insert link', ok: 'Insert' });
    const safe = safeURL(url);
    if (!safe) return;
    this.editor.focus();
    if (range) {
      sel.removeAllRanges();
      sel.addRange(range);
    }
    if (range && !range.collapsed) this.exec('createLink', safe);
    else this.exec('insertHTML', sanitizeHTML(`<a href="${safe.replace(/"/g, '&quot;')}">${safe.replace(/</g, '&lt;')}</a>`));
  }

  /** Pasted HTML is sanitised before it reaches the document; plain text stays text. */
  paste(e) {
    e.preventDefault();
    if (this.readOnly) return;
    const dt = e.clipboardData;
    const html = dt?.getData('text/html');
    if (html) document.execCommand('insertHTML', false, sanitizeHTML(html));
    else document.execCommand('insertText', false, dt?.getData('text/plain') ?? '');
    this.changed({ complete: false });
  }

  get() {
    const html = sanitizeHTML(this.editor.innerHTML);
    return this.editor.textContent.trim() === '' && !/<(img|hr)\b/.test(html) ? '' : html;
  }

  set(v) {
    const s = v === null || v === undefined ? '' : String(v);
    if (this.get() === sanitizeHTML(s)) return;
    this.editor.replaceChildren(sanitizedFragment(s));
  }

  setReadOnly(ro) {
    this.readOnly = !!ro;
    this.editor.contentEditable = ro ? 'false' : 'true';
    this.editor.setAttribute('aria-readonly', String(!!ro));
    this.toolbar.hidden = !!ro;
    this.el.classList.toggle('read-only', !!ro);
  }
}

/** Code, HTML Editor, Markdown Editor: a monospace textarea; the editors add a preview. */
export class CodeControl extends BaseControl {
  constructor(field, opts) {
    super(field, opts);
    const t = field.fieldtype;
    this.input = h('textarea', { id: this.id, name: field.fieldname, class: 'input mono code', rows: 8, spellcheck: 'false', wrap: 'off',
      autocapitalize: 'off', 'data-language': t === 'Code' ? String(field.options || '').toLowerCase() || null : t === 'HTML Editor' ? 'html' : 'markdown' });
    this.input.addEventListener('input', () => {
      this.changed({ complete: false });
      if (!this.preview.hidden) this.renderPreview();
    });
    this.input.addEventListener('change', () => this.opts.onChange?.(this.get()));
    this.input.addEventListener('keydown', (e) => this.key(e));
    this.preview = h('div', { class: 'md-preview', hidden: true, 'aria-live': 'polite' });
    const tabs = t === 'Code' ? null : h('div', { class: 'editor-tabs', role: 'group' },
      this.editBtn = h('button', { type: 'button', class: 'btn btn-sm', 'aria-pressed': 'true', onclick: () => this.showPreview(false) }, 'Edit'),
      this.previewBtn = h('button', { type: 'button', class: 'btn btn-sm', 'aria-pressed': 'false', 'data-action': 'preview', onclick: () => this.showPreview(true) }, 'Preview'));
    const lang = t === 'Code' && field.options ? h('span', { class: 'code-lang muted' }, String(field.options)) : null;
    this.wrap(tabs, h('div', { class: 'code-wrap' }, this.input, lang), this.preview);
  }

  /** Tab indents (4 spaces), Shift+Tab unindents; Escape, then Tab, leaves the editor. */
  key(e) {
    if (e.key === 'Escape') {
      this.escaped = true;
      return;
    }
    if (e.key !== 'Tab' || this.readOnly || this.escaped) {
      this.escaped = false;
      return;
    }
    e.preventDefault();
    const ta = this.input;
    const { selectionStart: s, selectionEnd: end, value } = ta;
    if (e.shiftKey) {
      const lineStart = value.lastIndexOf('\n', s - 1) + 1;
      const m = /^ {1,4}|^\t/.exec(value.slice(lineStart));
      if (!m) return;
      ta.setRangeText('', lineStart, lineStart + m[0].length, 'preserve');
    } else {
      ta.setRangeText('    ', s, end, 'end');
    }
    this.changed({ complete: false });
  }

  showPreview(on) {
    this.preview.hidden = !on;
    this.input.hidden = on;
    this.editBtn?.setAttribute('aria-pressed', String(!on));
    this.previewBtn?.setAttribute('aria-pressed', String(on));
    if (on) this.renderPreview();
  }

  renderPreview() {
    const v = this.input.value;
    this.preview.replaceChildren(this.field.fieldtype === 'Markdown Editor' ? markdownFragment(v) : sanitizedFragment(v));
  }

  get() {
    return this.input.value;
  }

  set(v) {
    const s = v === null || v === undefined ? '' : String(v);
    if (this.input.value !== s) this.input.value = s;
    if (!this.preview.hidden) this.renderPreview();
  }
}
