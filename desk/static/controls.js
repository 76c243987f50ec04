// The control for a field: one kind per field type (the kinds are in control-*.js; what they
// share is control-base.js).
//
//   const c = makeControl(field, {desk, frm, onInput(value), onChange(value), compact, childMeta});
//
// Layout types (Section Break, Column Break, Tab Break, Fold) have no control: layout.js places
// the controls.

import { InputControl } from './control-input.js';
import { TextEditorControl, CodeControl } from './control-text.js';
import { LinkControl, MultiSelectControl } from './control-link.js';
import { AttachControl, SignatureControl, ImageControl } from './control-media.js';
import { RatingControl, ColorControl, DurationControl, GeolocationControl } from './control-widgets.js';
import { HTMLControl, HeadingControl, ButtonControl } from './control-display.js';
import { TableControl } from './control-table.js';

export { selectOptions, WIDE } from './control-base.js';

const KINDS = {
  Table: TableControl,
  'Table MultiSelect': MultiSelectControl,
  Link: LinkControl,
  'Dynamic Link': LinkControl,
  'Text Editor': TextEditorControl,
  Code: CodeControl,
  'HTML Editor': CodeControl,
  'Markdown Editor': CodeControl,
  Attach: AttachControl,
  'Attach Image': AttachControl,
  Signature: SignatureControl,
  Image: ImageControl,
  Rating: RatingControl,
  Color: ColorControl,
  Duration: DurationControl,
  Geolocation: GeolocationControl,
  HTML: HTMLControl,
  Heading: HeadingControl,
  Button: ButtonControl,
};

export const LAYOUT = new Set(['Section Break', 'Column Break', 'Tab Break', 'Fold']);

/** Field types that hold no value of the document. */
export const NO_VALUE = new Set([...LAYOUT, 'HTML', 'Heading', 'Button', 'Image']);

export function makeControl(field, opts = {}) {
  const Kind = KINDS[field.fieldtype] || InputControl;
  return new Kind(field, opts);
}
