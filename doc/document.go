package doc

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Doc is a document: field values by fieldname, child rows as []Doc under Table fields. Values are
// normalised to string, int64, float64, a decoded JSON value or nil, so hooks can type-assert.
type Doc map[string]any

// Name is the document's name.
func (d Doc) Name() string { return d.String("name") }

// DocType is the name of the document's DocType.
func (d Doc) DocType() string { return d.String("doctype") }

// String returns a field as a string ("" when unset).
func (d Doc) String(f string) string {
	switch v := d[f].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// Int returns a numeric field as an int64 (0 when unset).
func (d Doc) Int(f string) int64 {
	switch v := d[f].(type) {
	case int64:
		return v
	case float64:
		return int64(v)
	case int:
		return int64(v)
	}
	return 0
}

// Float returns a numeric field as a float64 (0 when unset).
func (d Doc) Float(f string) float64 {
	switch v := d[f].(type) {
	case float64:
		return v
	case int64:
		return float64(v)
	case int:
		return float64(v)
	}
	return 0
}

// Children returns the rows of a Table field.
func (d Doc) Children(f string) []Doc {
	rows, _ := d[f].([]Doc)
	return rows
}

// Docstatus is 0 (draft), 1 (submitted) or 2 (cancelled).
func (d Doc) Docstatus() int64 { return d.Int("docstatus") }

// Clone copies the document and its child rows.
func (d Doc) Clone() Doc {
	out := make(Doc, len(d))
	for k, v := range d {
		if rows, ok := v.([]Doc); ok {
			cp := make([]Doc, len(rows))
			for i, r := range rows {
				cp[i] = r.Clone()
			}
			v = cp
		}
		out[k] = v
	}
	return out
}

// Timestamps are written as Frappe writes them, in UTC with microseconds, so they sort as text.
const (
	DatetimeFormat = "2006-01-02 15:04:05.000000"
	DateFormat     = "2006-01-02"
)

// Now returns the current time in DatetimeFormat.
func Now() string { return time.Now().UTC().Format(DatetimeFormat) }

// coerce turns a client- or database-supplied value into the field's Go type. Empty strings stay
// empty for text fields and become nil elsewhere, as an empty form input means "no value".
func coerce(f *Field, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	bad := func() error {
		return Errorf(ValidationError, "%s: %v is not a valid %s", f.Label, short(v), f.Fieldtype)
	}
	switch f.Fieldtype {
	case Data, SmallText, Text, Link, Password, Select:
		s, ok := v.(string)
		if !ok {
			return nil, bad()
		}
		if f.Fieldtype == Data || f.Fieldtype == Link {
			s = strings.TrimSpace(s)
		}
		return s, nil
	case Int, Check:
		n, ok := toNumber(v)
		if !ok || n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return nil, bad()
		}
		if f.Fieldtype == Check && n != 0 && n != 1 {
			return nil, bad()
		}
		return int64(n), nil
	case Float, Currency:
		n, ok := toNumber(v)
		if !ok || math.IsInf(n, 0) || math.IsNaN(n) {
			return nil, bad()
		}
		return n, nil
	case Date, Datetime:
		s, ok := v.(string)
		if !ok {
			return nil, bad()
		}
		if s = strings.TrimSpace(s); s == "" {
			return nil, nil
		}
		t, ok := parseTime(s)
		if !ok {
			return nil, bad()
		}
		if f.Fieldtype == Date {
			return t.Format(DateFormat), nil
		}
		return t.Format(DatetimeFormat), nil
	case JSON:
		if s, ok := v.(string); ok { // as stored, or sent as text by a form
			if s == "" {
				return nil, nil
			}
			var x any
			if err := json.Unmarshal([]byte(s), &x); err != nil {
				return nil, bad()
			}
			return x, nil
		}
		return v, nil
	}
	return nil, bad()
}

// toNumber accepts JSON numbers, database integers, booleans from Check inputs, and numeric strings
// from forms and query strings.
func toNumber(v any) (float64, bool) {
	switch t := v.(type) {
	case float64:
		return t, true
	case int64:
		return float64(t), true
	case int:
		return float64(t), true
	case bool:
		if t {
			return 1, true
		}
		return 0, true
	case json.Number:
		n, err := t.Float64()
		return n, err == nil
	case string:
		s := strings.TrimSpace(t)
		if s == "" {
			return 0, true
		}
		n, err := strconv.ParseFloat(s, 64)
		return n, err == nil
	}
	return 0, false
}

var timeLayouts = []string{DatetimeFormat, "2006-01-02 15:04:05", "2006-01-02 15:04", time.RFC3339Nano, DateFormat}

func parseTime(s string) (time.Time, bool) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// storable converts a normalised value to what the database column holds.
func storable(f *Field, v any) (any, error) {
	if f == nil || v == nil {
		return v, nil
	}
	if f.Fieldtype == JSON {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, Errorf(ValidationError, "%s: %v", f.Label, err)
		}
		return string(b), nil
	}
	return v, nil
}

func short(v any) string {
	s := fmt.Sprintf("%#v", v)
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}
