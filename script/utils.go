package script

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/dop251/goja"
	"github.com/livedoc/livedoc/doc"
)

// utils is frappe.utils: the date and number helpers server scripts use most. Dates are
// "YYYY-MM-DD" strings and datetimes livedoc's stored form, both UTC, as documents hold them.
func (r *run) utils() *goja.Object {
	o := r.rt.NewObject()
	today := func() string { return time.Now().UTC().Format(doc.DateFormat) }
	_ = o.Set("now", doc.Now)
	_ = o.Set("now_datetime", doc.Now)
	_ = o.Set("today", today)
	_ = o.Set("nowdate", today)
	_ = o.Set("getdate", func(v goja.Value) string {
		if goja.IsUndefined(v) || goja.IsNull(v) || v.String() == "" {
			return today()
		}
		t, ok := parseDate(v.String())
		if !ok {
			r.fail(doc.Errorf(doc.ValidationError, "%q is not a date", v.String()))
		}
		return t.Format(doc.DateFormat)
	})
	_ = o.Set("add_days", func(v string, n int) string {
		t, ok := parseDate(v)
		if !ok {
			r.fail(doc.Errorf(doc.ValidationError, "%q is not a date", v))
		}
		t = t.AddDate(0, 0, n)
		if len(v) > len(doc.DateFormat) {
			return t.Format(doc.DatetimeFormat)
		}
		return t.Format(doc.DateFormat)
	})
	_ = o.Set("flt", func(v goja.Value, precision goja.Value) float64 {
		f := flt(fromJS(v))
		if !goja.IsUndefined(precision) && !goja.IsNull(precision) {
			p := math.Pow(10, float64(precision.ToInteger()))
			f = math.Round(f*p) / p
		}
		return f
	})
	_ = o.Set("cint", func(v goja.Value) int64 { return int64(flt(fromJS(v))) })
	_ = o.Set("cstr", func(v goja.Value) string {
		x := fromJS(v)
		if x == nil {
			return ""
		}
		return fmt.Sprint(x)
	})
	return o
}

// flt is Frappe's flt: a number from a number or numeric text ("1,234.5" too), else 0.
func flt(x any) float64 {
	switch t := x.(type) {
	case int64:
		return float64(t)
	case float64:
		return t
	case bool:
		if t {
			return 1
		}
	case string:
		f, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(t), ",", ""), 64)
		if err == nil {
			return f
		}
	}
	return 0
}

func parseDate(s string) (time.Time, bool) {
	for _, layout := range []string{doc.DatetimeFormat, "2006-01-02 15:04:05", doc.DateFormat} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
