package doc

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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

// coerce turns a client- or database-supplied value into the field's Go type, with Frappe's
// checks for the type (length, non_negative, Data's Email/Phone/URL/Name options, formats).
// Empty strings stay empty for text fields and become nil elsewhere, as an empty form input means
// "no value".
func coerce(f *Field, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	bad := func() error {
		return Errorf(ValidationError, "%s: %v is not a valid %s", f.Title(), short(v), f.Fieldtype)
	}
	switch f.Fieldtype {
	case Data, SmallText, Text, LongText, TextEditor, HTMLEditor, MarkdownEditor, Code, Link, DynamicLink,
		Password, Select, Autocomplete, Attach, AttachImage, ReadOnly, Color, Signature, Barcode, Icon, Phone:
		s, ok := textOf(v)
		if !ok {
			return nil, bad()
		}
		switch f.Fieldtype {
		case Data, Link, DynamicLink, Phone, Color, Icon, Autocomplete:
			s = strings.TrimSpace(s)
		}
		if err := checkText(f, s); err != nil {
			return nil, err
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
		if f.NonNegative && n < 0 {
			return nil, negative(f)
		}
		return int64(n), nil
	case Float, Currency, Percent, Duration, Rating:
		if str, ok := v.(string); ok && strings.TrimSpace(str) == "" {
			return nil, nil
		}
		n, ok := toNumber(v)
		if !ok || math.IsInf(n, 0) || math.IsNaN(n) {
			return nil, bad()
		}
		if (f.NonNegative || f.Fieldtype == Duration || f.Fieldtype == Rating) && n < 0 {
			return nil, negative(f)
		}
		if f.Fieldtype == Rating && n > 1 {
			// Stars from a client of Frappe before v14 (3 of 5); v14 on stores the fraction.
			stars := 5
			if o, err := strconv.Atoi(strings.TrimSpace(f.Options)); err == nil && o > 0 {
				stars = o
			}
			if n > float64(stars) {
				return nil, bad()
			}
			n /= float64(stars)
		}
		return roundTo(n, f.precision()), nil
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
	case Time:
		s, ok := v.(string)
		if !ok {
			return nil, bad()
		}
		if s = strings.TrimSpace(s); s == "" {
			return nil, nil
		}
		t, ok := parseClock(s)
		if !ok {
			return nil, bad()
		}
		return t, nil
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
	case Geolocation:
		// GeoJSON, kept as the text Frappe stores and returns.
		if s, ok := v.(string); ok {
			if strings.TrimSpace(s) == "" {
				return nil, nil
			}
			if !json.Valid([]byte(s)) {
				return nil, bad()
			}
			return s, nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, bad()
		}
		return string(b), nil
	}
	return nil, bad()
}

// textOf accepts text, and numbers as Frappe's cstr would write them.
func textOf(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), true
	case int64:
		return strconv.FormatInt(t, 10), true
	case json.Number:
		return t.String(), true
	}
	return "", false
}

// varcharTypes are the types Frappe keeps in a VARCHAR, 140 characters unless the field's length
// says otherwise.
var varcharTypes = []string{Data, Link, DynamicLink, Select, ReadOnly, Color, Phone, Autocomplete, Icon}

func checkText(f *Field, s string) error {
	limit := f.Length
	if limit == 0 && slices.Contains(varcharTypes, f.Fieldtype) {
		limit = 140
	}
	if n := utf8.RuneCountInString(s); limit > 0 && n > limit {
		return Errorf(ValidationError, "%s: value too big: %d characters, at most %d", f.Title(), n, limit)
	}
	if s == "" || (f.Fieldtype != Data && f.Fieldtype != Phone) {
		return nil
	}
	kind := f.Options
	if f.Fieldtype == Phone {
		kind = "Phone"
	}
	var ok bool
	switch kind {
	case "Email":
		ok = validEmail(s)
	case "Phone":
		ok = phoneRe.MatchString(s)
	case "URL":
		u, err := url.Parse(s)
		ok = err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
	case "Name":
		ok = !strings.ContainsAny(s, "<>%\"{}|^`[]") && validName(s) == nil
	default:
		return nil
	}
	if !ok {
		return Errorf(ValidationError, "%s: %s is not a valid %s", f.Title(), short(s), kind)
	}
	return nil
}

// phoneRe is what Frappe's validate_phone_number accepts: digits, spaces and + - ( ) . x
var phoneRe = regexp.MustCompile(`^[0-9+\-() .x]{3,}$`)

// validEmail accepts one or more addresses separated by commas, each local@domain without spaces.
func validEmail(s string) bool {
	for a := range strings.SplitSeq(s, ",") {
		a = strings.TrimSpace(a)
		local, domain, ok := strings.Cut(a, "@")
		if !ok || local == "" || domain == "" || strings.ContainsAny(a, " \t\r\n<>") || strings.Contains(domain, "@") {
			return false
		}
	}
	return true
}

func negative(f *Field) error {
	return Errorf(ValidationError, "%s: value cannot be negative", f.Title())
}

// precision is the number of decimals a number field keeps: its precision, or the 9 of Frappe's
// decimal(21,9) columns.
func (f *Field) precision() int {
	if n, err := strconv.Atoi(f.Precision); err == nil {
		return n
	}
	return 9
}

// roundTo rounds half to even, as Frappe's default ("Banker's Rounding") does.
func roundTo(n float64, places int) float64 {
	p := math.Pow10(places)
	return math.RoundToEven(n*p) / p
}

// parseClock reads a time of day (H:MM, HH:MM:SS, HH:MM:SS.ffffff) into Frappe's HH:MM:SS, with
// microseconds when there are any.
func parseClock(s string) (string, bool) {
	for _, l := range []string{"15:04:05.999999", "15:04:05", "15:04"} {
		if t, err := time.Parse(l, s); err == nil {
			if t.Nanosecond() != 0 {
				return t.Format("15:04:05.000000"), true
			}
			return t.Format("15:04:05"), true
		}
	}
	return "", false
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
			return nil, Errorf(ValidationError, "%s: %v", f.Title(), err)
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
