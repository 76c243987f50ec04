// Controls for files and pictures: Attach and Attach Image (upload with a progress bar, a
// preview, remove), Signature (drawn on a canvas, kept as a PNG data URL) and Image (shows the
// picture of the Attach Image field its options name; no value of its own).

import { h, errorText } from './ui.js';
import { BaseControl } from './control-base.js';
import { safeURL } from './sanitize.js';
import { uploadFile, progressBar } from './upload.js';

function fileName(url) {
  const s = String(url || '');
  try {
    return decodeURIComponent(s.split('?')[0].split('/').pop()) || s;
  } catch {
    return s;
  }
}

/** Attach, Attach Image. */
export class AttachControl extends BaseControl {
  constructor(field, opts) {
    super(field, opts);
    this.image = field.fieldtype === 'Attach Image';
    this.value = '';
    this.file = h('input', { type: 'file', class: 'visually-hidden', tabindex: -1, 'aria-hidden': 'true', accept: this.image ? 'image/*' : null,
      onchange: () => this.upload(this.file.files[0]) });
    this.input = h('button', { type: 'button', id: this.id, class: 'btn btn-sm', 'data-action': 'attach', onclick: () => this.file.click() },
      this.image ? 'Attach an image' : 'Attach a file');
    this.link = h('a', { class: 'attach-link', target: '_blank', rel: 'noopener' });
    this.removeBtn = h('button', { type: 'button', class: 'btn btn-sm btn-ghost-danger', 'data-action': 'remove', onclick: () => this.setValue('') }, 'Remove');
    this.preview = h('img', { class: 'attach-preview', alt: '', hidden: true });
    this.current = h('div', { class: 'attach-current', hidden: true }, this.image ? this.preview : null, this.link, this.removeBtn);
    this.progress = progressBar(h);
    this.wrap(h('div', { class: 'attach' }, this.current, this.input, this.file, this.progress.el));
    this.el.addEventListener('dragover', (e) => {
      if (!this.readOnly) e.preventDefault();
    });
    this.el.addEventListener('drop', (e) => {
      if (this.readOnly || !e.dataTransfer?.files?.length) return;
      e.preventDefault();
      this.upload(e.dataTransfer.files[0]);
    });
  }

  async upload(file) {
    if (!file || this.readOnly) return;
    const frm = this.frm;
    this.setError('');
    this.input.disabled = true;
    this.progress.set(0);
    this.el.dataset.uploading = '1';
    try {
      const saved = frm && !frm.is_new() && frm.docname;
      const f = await uploadFile(file, {
        doctype: saved ? frm.doctype : undefined, docname: saved ? frm.docname : undefined, is_private: 1,
        onProgress: (p) => {
          this.progress.set(p);
          this.el.dataset.progress = String(Math.round(p * 100));
        },
      });
      this.setValue(f.file_url);
    } catch (err) {
      this.setError(`Upload failed: ${errorText(err)}`);
    } finally {
      delete this.el.dataset.uploading;
      this.input.disabled = this.readOnly;
      this.file.value = '';
      setTimeout(() => this.progress.hide(), 800);
    }
  }

  setValue(v) {
    this.set(v);
    this.changed();
  }

  get() {
    return this.value;
  }

  set(v) {
    this.value = v === null || v === undefined ? '' : String(v);
    const url = safeURL(this.value);
    this.current.hidden = !this.value;
    this.input.hidden = !!this.value || this.readOnly;
    this.link.textContent = fileName(this.value);
    if (url) this.link.href = url;
    else this.link.removeAttribute('href');
    if (this.image) {
      const src = safeURL(this.value, { image: true });
      this.preview.hidden = !src;
      if (src) this.preview.src = src;
      else this.preview.removeAttribute('src');
    }
  }

  setReadOnly(ro) {
    this.readOnly = !!ro;
    this.removeBtn.hidden = !!ro;
    this.input.disabled = !!ro;
    this.input.hidden = !!this.value || !!ro;
    this.el.classList.toggle('read-only', !!ro);
  }
}

/** Signature: draw with a mouse, pen or finger. */
export class SignatureControl extends BaseControl {
  constructor(field, opts) {
    super(field, opts);
    this.value = '';
    this.canvas = h('canvas', { id: this.id, class: 'signature-pad', width: 480, height: 160, role: 'img', 'aria-label': `${field.label || field.fieldname}: draw here`, tabindex: 0 });
    this.input = this.canvas;
    this.clearBtn = h('button', { type: 'button', class: 'btn btn-sm', 'data-action': 'clear', onclick: () => this.clear() }, 'Clear');
    this.wrap(h('div', { class: 'signature' }, this.canvas, h('div', { class: 'signature-actions' }, this.clearBtn)));
    let drawing = false;
    let last = null;
    const ctx = this.canvas.getContext('2d');
    const point = (e) => {
      const r = this.canvas.getBoundingClientRect();
      return [(e.clientX - r.left) * (this.canvas.width / r.width), (e.clientY - r.top) * (this.canvas.height / r.height)];
    };
    this.canvas.addEventListener('pointerdown', (e) => {
      if (this.readOnly) return;
      drawing = true;
      last = point(e);
      this.canvas.setPointerCapture(e.pointerId);
    });
    this.canvas.addEventListener('pointermove', (e) => {
      if (!drawing) return;
      const p = point(e);
      ctx.strokeStyle = '#1f2328';
      ctx.lineWidth = 2.5;
      ctx.lineCap = 'round';
      ctx.beginPath();
      ctx.moveTo(...last);
      ctx.lineTo(...p);
      ctx.stroke();
      last = p;
    });
    const end = () => {
      if (!drawing) return;
      drawing = false;
      this.value = this.canvas.toDataURL('image/png');
      this.changed();
    };
    this.canvas.addEventListener('pointerup', end);
    this.canvas.addEventListener('pointercancel', end);
  }

  clear() {
    if (this.readOnly) return;
    this.canvas.getContext('2d').clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.value = '';
    this.changed();
  }

  get() {
    return this.value;
  }

  set(v) {
    const s = v === null || v === undefined ? '' : String(v);
    if (s === this.value) return;
    this.value = s;
    const ctx = this.canvas.getContext('2d');
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    const src = safeURL(s, { image: true });
    if (!src) return;
    const img = new Image();
    img.onload = () => {
      if (this.value === s) ctx.drawImage(img, 0, 0, this.canvas.width, this.canvas.height);
    };
    img.src = src;
  }

  setReadOnly(ro) {
    this.readOnly = !!ro;
    this.clearBtn.hidden = !!ro;
    this.el.classList.toggle('read-only', !!ro);
  }
}

/** Image: the picture in the field its options name. */
export class ImageControl extends BaseControl {
  constructor(field, opts) {
    super(field, opts);
    this.img = h('img', { class: 'image-view', alt: field.label || '', hidden: true });
    this.none = h('p', { class: 'muted image-none' }, 'No image');
    this.el = h('div', { class: 'field field-image wide', 'data-fieldname': field.fieldname, 'data-fieldtype': 'Image' },
      field.label ? h('div', { class: 'field-label' }, field.label) : null, this.img, this.none);
  }

  /** Called by the form whenever the document changes. */
  refresh(doc) {
    const src = safeURL(doc?.[this.field.options], { image: true });
    this.img.hidden = !src;
    this.none.hidden = !!src;
    if (src && this.img.getAttribute('src') !== src) this.img.src = src;
  }

  get() {
    return undefined;
  }

  set() {}
}
