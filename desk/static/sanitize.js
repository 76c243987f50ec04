// The desk's HTML sanitiser: rich text from documents (Text Editor values, comments, pasted
// content, HTML fields) is parsed in an inert document and rebuilt from an allow-list, so nothing
// a document holds can run script or load anything but an image the user chose.
//
//   sanitizeHTML(html)        → a string of safe HTML
//   sanitizedFragment(html)   → a DocumentFragment of the same, to append to the page
//   safeURL(url, {image})     → url when it is http(s), mailto, tel, relative (or a data:image
//                               for images), else ''

// Tags kept (with their content); others are unwrapped (their text kept), and DROP are removed
// with everything inside them.
const KEEP = new Set(['p', 'br', 'b', 'strong', 'i', 'em', 'u', 's', 'strike', 'ul', 'ol', 'li', 'a', 'h1', 'h2', 'h3', 'h4',
  'h5', 'h6', 'blockquote', 'pre', 'code', 'div', 'span', 'hr', 'img', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'sub', 'sup']);
const DROP = new Set(['script', 'style', 'iframe', 'object', 'embed', 'noscript', 'template', 'svg', 'math', 'form', 'input',
  'button', 'select', 'textarea', 'link', 'meta', 'base', 'frame', 'frameset', 'audio', 'video', 'source', 'canvas', 'title', 'head']);

/** url when it is safe to follow (or, with image, to load as an image); '' otherwise. */
export function safeURL(url, { image = false } = {}) {
  const s = String(url ?? '').trim();
  if (!s) return '';
  if (image && /^data:image\/(png|jpeg|gif|webp);base64,[a-z0-9+/=\s]+$/i.test(s)) return s;
  // Control characters and whitespace inside a scheme are how "java\tscript:" slips through.
  if (/[\u0000-\u001f\u007f]/.test(s)) return '';
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(s);
  if (!m) return s.startsWith('//') ? '' : s; // relative: /files/x.png, #top, page?x=1
  const scheme = m[1].toLowerCase();
  if (scheme === 'http' || scheme === 'https') return s;
  if (!image && (scheme === 'mailto' || scheme === 'tel')) return s;
  return '';
}

function clean(src, out, doc) {
  for (const node of [...src.childNodes]) {
    if (node.nodeType === Node.TEXT_NODE) {
      out.append(doc.createTextNode(node.data));
      continue;
    }
    if (node.nodeType !== Node.ELEMENT_NODE) continue; // comments, processing instructions
    const tag = node.localName;
    if (DROP.has(tag)) continue;
    if (!KEEP.has(tag)) {
      clean(node, out, doc); // unwrap: keep the text
      continue;
    }
    const el = doc.createElement(tag);
    if (tag === 'a') {
      const href = safeURL(node.getAttribute('href'));
      if (href) {
        el.setAttribute('href', href);
        el.setAttribute('rel', 'noopener noreferrer nofollow');
        el.setAttribute('target', '_blank');
      }
    } else if (tag === 'img') {
      const src = safeURL(node.getAttribute('src'), { image: true });
      if (!src) continue;
      el.setAttribute('src', src);
      const alt = node.getAttribute('alt');
      if (alt) el.setAttribute('alt', alt);
    } else if ((tag === 'td' || tag === 'th') && /^\d{1,2}$/.test(node.getAttribute('colspan') || '')) {
      el.setAttribute('colspan', node.getAttribute('colspan'));
    }
    clean(node, el, doc);
    out.append(el);
  }
}

/** A DocumentFragment (of the page's document) holding html's allowed part. */
export function sanitizedFragment(html) {
  const frag = document.createDocumentFragment();
  if (html === null || html === undefined || html === '') return frag;
  // DOMParser's document is inert: no script runs, no image loads, no event handler fires.
  const parsed = new DOMParser().parseFromString(String(html), 'text/html');
  clean(parsed.body, frag, document);
  return frag;
}

/** html with only the allowed tags and attributes, as a string. */
export function sanitizeHTML(html) {
  const box = document.createElement('div');
  box.append(sanitizedFragment(html));
  return box.innerHTML;
}

/** The text of html, for previews and timelines. */
export function htmlText(html) {
  const box = document.createElement('div');
  box.append(sanitizedFragment(html));
  return box.textContent || '';
}
