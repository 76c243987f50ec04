// Controls made of a few inputs: Rating (stars; the value is the fraction 0..1 Frappe v14+
// stores), Color (a picker and its hex code), Duration (days, hours, minutes, seconds; the value
// is seconds) and Geolocation (latitude and longitude of a point; the value is GeoJSON text).

import { h } from './ui.js';
import { BaseControl } from './control-base.js';

export class RatingControl extends BaseControl {
  constructor(field, opts) {
    super(field, opts);
    this.n = Math.max(1, Math.min(10, parseInt(field.options, 10) || 5));
    this.value = 0;
    this.stars = Array.from({ length: this.n }, (_, i) => h('button', {
      type: 'button', class: 'star', role: 'radio', 'aria-checked': 'false', 'aria-label': `${i + 1} of ${this.n}`, 'data-star': i + 1,
      onclick: () => {
        if (this.readOnly) return;
        // Clicking the current rating again clears it.
        const v = Math.round(this.value * this.n) === i + 1 ? 0 : (i + 1) / this.n;
        this.set(v);
        this.changed();
      },
    }, '★'));
    this.input = h('div', { id: this.id, class: 'rating', role: 'radiogroup', 'aria-labelledby': `${this.id}-label` }, this.stars);
    this.wrap(this.input);
  }

  get() {
    return this.value;
  }

  set(v) {
    this.value = Math.max(0, Math.min(1, Number(v) || 0));
    const filled = Math.round(this.value * this.n);
    this.stars.forEach((s, i) => {
      s.classList.toggle('on', i < filled);
      s.setAttribute('aria-checked', String(i + 1 === filled));
    });
    this.input.dataset.value = String(filled);
  }

  setReadOnly(ro) {
    this.readOnly = !!ro;
    for (const s of this.stars) s.disabled = !!ro;
    this.el.classList.toggle('read-only', !!ro);
  }
}

const HEX = /^#[0-9a-f]{6}$/i;

export class ColorControl extends BaseControl {
  constructor(field, opts) {
    super(field, opts);
    this.picker = h('input', { type: 'color', class: 'color-picker', 'aria-label': `${field.label || field.fieldname} picker`, value: '#000000' });
    this.input = h('input', { id: this.id, type: 'text', class: 'input color-text', placeholder: '#rrggbb', maxlength: 7, spellcheck: 'false' });
    this.swatch = h('span', { class: 'color-swatch', 'aria-hidden': 'true' });
    this.picker.addEventListener('input', () => {
      this.input.value = this.picker.value;
      this.show();
      this.changed({ complete: false });
    });
    this.picker.addEventListener('change', () => this.opts.onChange?.(this.get()));
    this.input.addEventListener('input', () => {
      if (HEX.test(this.input.value)) this.picker.value = this.input.value.toLowerCase();
      this.show();
      this.changed({ complete: false });
    });
    this.input.addEventListener('change', () => this.opts.onChange?.(this.get()));
    this.wrap(h('div', { class: 'color' }, this.picker, this.input, this.swatch));
  }

  show() {
    this.swatch.style.background = HEX.test(this.input.value) ? this.input.value : 'transparent';
  }

  get() {
    return this.input.value.trim();
  }

  set(v) {
    const s = v === null || v === undefined ? '' : String(v);
    if (this.input.value !== s) this.input.value = s;
    if (HEX.test(s)) this.picker.value = s.toLowerCase();
    this.show();
  }

  setReadOnly(ro) {
    super.setReadOnly(ro);
    this.picker.disabled = !!ro;
  }
}

export class DurationControl extends BaseControl {
  constructor(field, opts) {
    super(field, opts);
    const parts = [['d', 'days', 86400], ['h', 'hours', 3600], ['m', 'minutes', 60], ['s', 'seconds', 1]]
      .filter(([k]) => !(k === 'd' && field.hide_days) && !(k === 's' && field.hide_seconds));
    this.parts = parts.map(([k, name, mult]) => ({
      k, mult,
      input: h('input', { type: 'number', min: '0', step: '1', class: 'input num duration-part', 'data-part': k, 'aria-label': `${field.label || field.fieldname}: ${name}` }),
      name,
    }));
    this.input = this.parts[0].input;
    this.input.id = this.id;
    for (const p of this.parts) {
      p.input.addEventListener('input', () => this.changed({ complete: false }));
      p.input.addEventListener('change', () => this.opts.onChange?.(this.get()));
    }
    this.wrap(h('div', { class: 'duration' }, this.parts.map((p) => h('label', { class: 'duration-unit' }, p.input, h('span', { class: 'muted' }, p.k)))));
  }

  get() {
    if (this.parts.every((p) => p.input.value === '')) return null;
    return this.parts.reduce((s, p) => s + (Math.max(0, parseInt(p.input.value, 10) || 0) * p.mult), 0);
  }

  set(v) {
    if (v === null || v === undefined || v === '') {
      for (const p of this.parts) p.input.value = '';
      return;
    }
    if (this.get() === Math.round(Number(v))) return;
    let rest = Math.max(0, Math.round(Number(v) || 0));
    for (const p of this.parts) {
      const n = Math.floor(rest / p.mult);
      rest -= n * p.mult;
      p.input.value = String(n);
    }
  }

  setReadOnly(ro) {
    this.readOnly = !!ro;
    for (const p of this.parts) p.input.readOnly = !!ro;
    this.el.classList.toggle('read-only', !!ro);
  }
}

/** The first Point of a GeoJSON value, as [lng, lat], or null. */
function firstPoint(v) {
  let g = v;
  if (typeof g === 'string') {
    try {
      g = JSON.parse(g);
    } catch {
      return null;
    }
  }
  const features = g?.type === 'FeatureCollection' ? g.features : g?.type === 'Feature' ? [g] : g?.type === 'Point' ? [{ geometry: g }] : [];
  for (const f of features || []) {
    if (f?.geometry?.type === 'Point' && Array.isArray(f.geometry.coordinates)) return f.geometry.coordinates;
  }
  return null;
}

export class GeolocationControl extends BaseControl {
  constructor(field, opts) {
    super(field, opts);
    this.raw = '';
    const num = (name, min, max) => h('input', { type: 'number', step: 'any', min, max, class: 'input num', 'data-part': name, 'aria-label': `${field.label || field.fieldname}: ${name}` });
    this.lat = num('latitude', '-90', '90');
    this.lng = num('longitude', '-180', '180');
    this.input = this.lat;
    this.lat.id = this.id;
    this.note = h('span', { class: 'muted geo-note' });
    this.here = 'geolocation' in navigator ? h('button', { type: 'button', class: 'btn btn-sm', onclick: () => this.locate() }, 'My location') : null;
    for (const i of [this.lat, this.lng]) {
      i.addEventListener('input', () => this.edited(false));
      i.addEventListener('change', () => this.edited(true));
    }
    this.wrap(h('div', { class: 'geo' },
      h('label', { class: 'geo-part' }, h('span', { class: 'muted' }, 'Lat'), this.lat),
      h('label', { class: 'geo-part' }, h('span', { class: 'muted' }, 'Lng'), this.lng), this.here, this.note));
  }

  locate() {
    if (this.readOnly) return;
    navigator.geolocation.getCurrentPosition((pos) => {
      this.lat.value = pos.coords.latitude.toFixed(6);
      this.lng.value = pos.coords.longitude.toFixed(6);
      this.edited(true);
    }, (err) => this.setError(`Location unavailable: ${err.message}`));
  }

  edited(complete) {
    const lat = parseFloat(this.lat.value);
    const lng = parseFloat(this.lng.value);
    if (this.lat.value === '' && this.lng.value === '') this.raw = '';
    else if (Number.isFinite(lat) && Number.isFinite(lng)) {
      this.raw = JSON.stringify({ type: 'FeatureCollection', features: [{ type: 'Feature', properties: {}, geometry: { type: 'Point', coordinates: [lng, lat] } }] });
    }
    this.note.textContent = '';
    this.changed({ complete });
  }

  get() {
    return this.raw || null;
  }

  set(v) {
    const s = v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
    if (s === this.raw) return;
    this.raw = s;
    const p = firstPoint(s);
    this.lat.value = p ? String(p[1]) : '';
    this.lng.value = p ? String(p[0]) : '';
    this.note.textContent = s && !p ? 'Shapes other than a point are kept as they are' : '';
  }

  setReadOnly(ro) {
    this.readOnly = !!ro;
    this.lat.readOnly = this.lng.readOnly = !!ro;
    if (this.here) this.here.hidden = !!ro;
    this.el.classList.toggle('read-only', !!ro);
  }
}
