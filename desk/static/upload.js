// Uploading a file as Frappe's desk does: POST /api/method/upload_file, a multipart form, with
// the session's CSRF token. XMLHttpRequest rather than fetch, for its upload progress events.

import { LivedocError, parseError } from '/assets/livedoc.js';

/**
 * @param {File} file
 * @param {object} o  {doctype, docname (attach the file to that document), is_private (default 1),
 *                     folder, onProgress(fraction 0..1)}
 * @returns {Promise<object>} the File document
 */
export function uploadFile(file, { doctype, docname, is_private = 1, folder, onProgress } = {}) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append('file', file, file.name);
    form.append('is_private', String(is_private ? 1 : 0));
    if (doctype && docname) {
      form.append('doctype', doctype);
      form.append('docname', docname);
    }
    if (folder) form.append('folder', folder);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/method/upload_file');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('X-Frappe-CSRF-Token', window.frappe?.csrf_token || window.csrf_token || '');
    xhr.withCredentials = true;
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) onProgress?.(e.loaded / e.total);
    });
    xhr.addEventListener('load', () => {
      let body;
      try {
        body = JSON.parse(xhr.responseText || '{}');
      } catch {
        body = { message: xhr.responseText };
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress?.(1);
        resolve(body.message);
      } else {
        reject(parseError(xhr.status, body));
      }
    });
    xhr.addEventListener('error', () => reject(new LivedocError('The upload failed: the server could not be reached', { status: 0, excType: 'NetworkError' })));
    xhr.addEventListener('abort', () => reject(new LivedocError('The upload was cancelled', { status: 0, excType: 'AbortError' })));
    xhr.send(form);
  });
}

/** A progress bar element with set(fraction) and done(). */
export function progressBar(h) {
  const fill = h('span', { class: 'upload-fill' });
  const text = h('span', { class: 'upload-text' }, '0%');
  const el = h('div', { class: 'upload-progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0', hidden: true },
    h('span', { class: 'upload-track' }, fill), text);
  return {
    el,
    set(f) {
      const pct = Math.round(Math.max(0, Math.min(1, f)) * 100);
      el.hidden = false;
      fill.style.width = `${pct}%`;
      text.textContent = `${pct}%`;
      el.setAttribute('aria-valuenow', String(pct));
    },
    hide() {
      el.hidden = true;
    },
  };
}
