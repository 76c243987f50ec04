// Package report prints a scenario's result as an aligned table or as JSON.
package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Row is one figure. Value is an integer, a float64, a string or a bool; Unit ("ms", "KiB", "s",
// "%", "/s"...) is shown in the table and appended to the JSON key.
type Row struct {
	Key   string
	Value any
	Unit  string
	Note  string
}

// Result is a scenario's outcome.
type Result struct {
	Scenario string
	Target   string
	Started  time.Time
	Params   []Row
	Rows     []Row
	Notes    []string
}

// Add appends a row.
func (r *Result) Add(key string, value any, unit string) {
	r.Rows = append(r.Rows, Row{key, value, unit, ""})
}

// AddNote appends a row with a note.
func (r *Result) AddNote(key string, value any, unit, note string) {
	r.Rows = append(r.Rows, Row{key, value, unit, note})
}

// Param records a setting.
func (r *Result) Param(key string, value any) {
	r.Params = append(r.Params, Row{Key: key, Value: value})
}

// Table writes the result as an aligned table.
func (r *Result) Table(w io.Writer) error {
	fmt.Fprintf(w, "scenario %s, target %s, %s\n", r.Scenario, r.Target, r.Started.Format(time.RFC3339))
	var ps []string
	for _, p := range r.Params {
		ps = append(ps, p.Key+"="+fmt.Sprint(p.Value))
	}
	fmt.Fprintf(w, "  %s\n", strings.Join(ps, " "))
	kw, vw, uw := 0, 0, 0
	vals := make([]string, len(r.Rows))
	for i, row := range r.Rows {
		vals[i] = Format(row.Value)
		kw, vw, uw = max(kw, len(row.Key)), max(vw, len(vals[i])), max(uw, len(row.Unit))
	}
	for i, row := range r.Rows {
		line := fmt.Sprintf("  %-*s  %*s %-*s", kw, row.Key, vw, vals[i], uw, row.Unit)
		if row.Note != "" {
			line += "  " + row.Note
		}
		if _, err := fmt.Fprintln(w, strings.TrimRight(line, " ")); err != nil {
			return err
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	return nil
}

// JSON writes the result as one JSON object with keys in table order.
func (r *Result) JSON(w io.Writer) error {
	var b bytes.Buffer
	b.WriteString(`{"scenario":`)
	writeJSON(&b, r.Scenario)
	b.WriteString(`,"target":`)
	writeJSON(&b, r.Target)
	b.WriteString(`,"started":`)
	writeJSON(&b, r.Started.Format(time.RFC3339))
	b.WriteString(`,"params":{`)
	for i, p := range r.Params {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSON(&b, p.Key)
		b.WriteByte(':')
		writeJSON(&b, p.Value)
	}
	b.WriteString(`},"results":{`)
	for i, row := range r.Rows {
		if i > 0 {
			b.WriteByte(',')
		}
		k := row.Key
		if row.Unit != "" {
			k += "_" + unitKey(row.Unit)
		}
		writeJSON(&b, k)
		b.WriteByte(':')
		writeJSON(&b, row.Value)
	}
	b.WriteString(`},"notes":`)
	if r.Notes == nil {
		r.Notes = []string{}
	}
	writeJSON(&b, r.Notes)
	b.WriteString("}\n")
	_, err := w.Write(b.Bytes())
	return err
}

func unitKey(u string) string {
	switch u {
	case "/s":
		return "per_s"
	case "%":
		return "pct"
	case "KiB":
		return "kib"
	case "MiB":
		return "mib"
	}
	return strings.ToLower(strings.ReplaceAll(u, "/", "_per_"))
}

func writeJSON(b *bytes.Buffer, v any) {
	if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
		b.WriteString("null")
		return
	}
	j, err := json.Marshal(v)
	if err != nil {
		j = []byte("null")
	}
	b.Write(j)
}

// Format renders a value for the table: integers with thousands separators, floats with up to
// three decimals.
func Format(v any) string {
	switch x := v.(type) {
	case int:
		return Thousands(int64(x))
	case int64:
		return Thousands(x)
	case uint64:
		return Thousands(int64(x))
	case float64:
		switch {
		case math.IsNaN(x) || math.IsInf(x, 0):
			return "-"
		case math.Abs(x) >= 1000:
			return Thousands(int64(math.Round(x)))
		case math.Abs(x) >= 100:
			return strconv.FormatFloat(x, 'f', 1, 64)
		case math.Abs(x) >= 10:
			return strconv.FormatFloat(x, 'f', 2, 64)
		default:
			return strconv.FormatFloat(x, 'f', 3, 64)
		}
	}
	return fmt.Sprint(v)
}

// Thousands formats n as 1,234,567.
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// Ms is d in milliseconds.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Int is the integer value of the row key, if there is one.
func (r *Result) Int(key string) (int64, bool) {
	for _, row := range r.Rows {
		if row.Key != key {
			continue
		}
		switch v := row.Value.(type) {
		case int:
			return int64(v), true
		case int64:
			return v, true
		case uint64:
			return int64(v), true
		}
	}
	return 0, false
}
