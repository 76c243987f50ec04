package doc

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/livedoc/livedoc/store"
)

// Filter is one condition of a list query.
type Filter struct {
	Field string
	Op    string
	Value any
}

// Query selects documents for List.
type Query struct {
	Fields    []string // default: name
	Filters   []Filter // all must hold
	OrFilters []Filter // at least one must hold, when given
	OrderBy   string   // "field [asc|desc], ..."; default: the DocType's sort field, or modified desc
	Start     int
	Limit     int // 0: no limit
}

var operators = []string{"=", "!=", "<", ">", "<=", ">=", "like", "not like", "in", "not in", "is", "between"}

// ParseFilters reads filters in Frappe's forms: a JSON string of either form, a dict
// {"field": value | [op, value]}, or a list of [field, op, value] / [doctype, field, op, value].
// Only the names are checked here; List checks them against the DocType.
func ParseFilters(v any) ([]Filter, error) {
	if s, ok := v.(string); ok {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, nil
		}
		var parsed any
		if err := json.Unmarshal([]byte(s), &parsed); err != nil {
			return nil, Errorf(DataError, "filters must be JSON: %v", err)
		}
		v = parsed
	}
	var out []Filter
	switch t := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			f := Filter{Field: k, Op: "=", Value: t[k]}
			if pair, ok := t[k].([]any); ok && len(pair) == 2 {
				if op, ok := pair[0].(string); ok {
					f.Op, f.Value = op, pair[1]
				}
			}
			out = append(out, f)
		}
	case []any:
		for _, item := range t {
			parts, ok := item.([]any)
			if !ok {
				return nil, Errorf(DataError, "each filter must be a list [field, operator, value]")
			}
			if len(parts) == 4 {
				parts = parts[1:] // [doctype, field, op, value]: the doctype is the listed one
			}
			if len(parts) == 2 {
				parts = []any{parts[0], "=", parts[1]}
			}
			if len(parts) != 3 {
				return nil, Errorf(DataError, "each filter must be a list [field, operator, value]")
			}
			field, ok1 := parts[0].(string)
			op, ok2 := parts[1].(string)
			if !ok1 || !ok2 {
				return nil, Errorf(DataError, "filter field and operator must be strings")
			}
			out = append(out, Filter{Field: field, Op: op, Value: parts[2]})
		}
	default:
		return nil, Errorf(DataError, "filters must be a list or an object")
	}
	for i := range out {
		out[i].Op = strings.ToLower(strings.TrimSpace(out[i].Op))
		if !slices.Contains(operators, out[i].Op) {
			return nil, Errorf(DataError, "unknown filter operator %q", out[i].Op)
		}
	}
	return out, nil
}

// List returns the documents of doctype that match q and that the user may read.
func (c *Context) List(doctype string, q Query) ([]Doc, error) {
	dt, where, args, err := c.listScope(doctype, q)
	if err != nil {
		return nil, err
	}
	fields := q.Fields
	if len(fields) == 0 {
		fields = []string{"name"}
	}
	var cols []string
	for _, f := range fields {
		if f == "*" {
			for _, col := range dt.columns() {
				cols = append(cols, col.Name)
			}
			continue
		}
		if !c.selectable(dt, f) {
			return nil, Errorf(DataError, "%s has no field %q", dt.Name, f)
		}
		if !slices.Contains(cols, f) {
			cols = append(cols, f)
		}
	}
	order, err := orderBy(dt, q.OrderBy)
	if err != nil {
		return nil, err
	}
	quoted := make([]string, len(cols))
	for i, col := range cols {
		quoted[i] = store.Quote(col)
	}
	sql := fmt.Sprintf("SELECT %s FROM %s%s ORDER BY %s", strings.Join(quoted, ", "), quoteTable(dt), where, order)
	switch {
	case q.Limit > 0:
		sql += fmt.Sprintf(" LIMIT %d", q.Limit)
	case q.Start > 0: // SQLite takes OFFSET only after a LIMIT
		sql += fmt.Sprintf(" LIMIT %d", math.MaxInt32)
	}
	if q.Start > 0 {
		sql += fmt.Sprintf(" OFFSET %d", q.Start)
	}
	rows, err := c.Tx.Query(c, sql, args...)
	if err != nil {
		return nil, err
	}
	colspec := make([]store.Column, len(cols))
	for i, col := range cols {
		colspec[i] = store.Column{Name: col}
	}
	docs, err := scanDocs(dt, rows, colspec)
	for _, d := range docs {
		delete(d, "doctype")
	}
	c.stripUnreadable(dt, docs...)
	if docs == nil && err == nil {
		docs = []Doc{}
	}
	return docs, err
}

// Count returns how many documents of doctype match the filters and may be read by the user.
func (c *Context) Count(doctype string, filters []Filter) (int64, error) {
	dt, where, args, err := c.listScope(doctype, Query{Filters: filters})
	if err != nil {
		return 0, err
	}
	var n int64
	err = c.Tx.QueryRow(c, "SELECT count(*) FROM "+quoteTable(dt)+where, args...).Scan(&n)
	return n, err
}

// listScope checks the user may list doctype and builds the WHERE clause: the filters, plus
// owner = user when the user may read only their own documents, plus the DocType's row filter.
func (c *Context) listScope(doctype string, q Query) (*DocType, string, []any, error) {
	dt, err := c.meta(doctype)
	if err != nil {
		return nil, "", nil, err
	}
	if dt.IsTable && !c.sudo {
		return nil, "", nil, Errorf(PermissionError, "%s is a child table: read it through its parent", dt.Name)
	}
	var conds []string
	var args []any
	if !c.sudo {
		switch dt.grant(c.User, PermRead) {
		case grantNone:
			return nil, "", nil, Errorf(PermissionError, "Not permitted: %s cannot read %s", c.User.Name, dt.Name)
		case grantOwn:
			conds, args = append(conds, store.Quote(dt.ownerColumn())+" = ?"), append(args, c.User.Name)
		}
		if rf := c.e.rowFilter(dt.Name); rf != nil {
			extra, err := rf(c, dt)
			if err != nil {
				return nil, "", nil, err
			}
			q.Filters = append(slices.Clip(q.Filters), extra...)
		}
	}
	for _, f := range q.Filters {
		cond, a, err := c.condition(dt, f)
		if err != nil {
			return nil, "", nil, err
		}
		conds, args = append(conds, cond), append(args, a...)
	}
	if len(q.OrFilters) > 0 {
		var ors []string
		for _, f := range q.OrFilters {
			cond, a, err := c.condition(dt, f)
			if err != nil {
				return nil, "", nil, err
			}
			ors, args = append(ors, cond), append(args, a...)
		}
		conds = append(conds, "("+strings.Join(ors, " OR ")+")")
	}
	if len(conds) == 0 {
		return dt, "", args, nil
	}
	return dt, " WHERE " + strings.Join(conds, " AND "), args, nil
}

func (c *Context) selectable(dt *DocType, f string) bool { return dt.hasColumn(f) }

// boundFilter is a filter resolved against its DocType: the operation and the values SQL binds
// for it. The SQL (condition) and the in-memory evaluation of live lists (livematch.go) both read
// it, so they agree on what a filter means.
type boundFilter struct {
	field string
	fld   *Field // nil for standard fields
	op    string // a filter operator, or "null", "not null", "set", "not set", "true", "false"
	vals  []any
}

// bind checks one filter against the DocType and resolves its values. Names are checked against
// the DocType; values are converted to the field's type, as stored.
func (c *Context) bind(dt *DocType, f Filter) (boundFilter, error) {
	if !c.selectable(dt, f.Field) {
		return boundFilter{}, Errorf(DataError, "%s has no field %q to filter on", dt.Name, f.Field)
	}
	fld := dt.Field(f.Field)
	b := boundFilter{field: f.Field, fld: fld, op: f.Op}
	val := func(v any) (any, error) {
		if fld == nil || v == nil {
			switch v.(type) {
			case string, float64, int64, nil, bool:
				return v, nil
			}
			return nil, Errorf(DataError, "filter value for %s must be a scalar", f.Field)
		}
		x, err := coerce(fld, v)
		if err != nil {
			return nil, Errorf(DataError, "filter on %s: %s", f.Field, err.Error())
		}
		return storable(fld, x)
	}
	switch f.Op {
	case "=", "!=", "<", ">", "<=", ">=":
		v, err := val(f.Value)
		if err != nil {
			return b, err
		}
		switch {
		case v == nil && f.Op == "=":
			b.op = "null"
		case v == nil && f.Op == "!=":
			b.op = "not null"
		default:
			b.vals = []any{v}
		}
		return b, nil
	case "like", "not like":
		s, ok := f.Value.(string)
		if !ok {
			return b, Errorf(DataError, "filter %s %s needs a text pattern", f.Field, f.Op)
		}
		b.vals = []any{s}
		return b, nil
	case "in", "not in":
		items, err := listValue(f.Value)
		if err != nil {
			return b, err
		}
		if len(items) == 0 {
			b.op = map[string]string{"in": "false", "not in": "true"}[f.Op]
			return b, nil
		}
		b.vals = make([]any, len(items))
		for i, it := range items {
			if b.vals[i], err = val(it); err != nil {
				return b, err
			}
		}
		return b, nil
	case "is":
		switch f.Value {
		case "set", "not set":
			b.op = f.Value.(string)
			return b, nil
		}
		return b, Errorf(DataError, `filter "is" takes "set" or "not set"`)
	case "between":
		items, err := listValue(f.Value)
		if err != nil || len(items) != 2 {
			return b, Errorf(DataError, "filter between needs two values")
		}
		lo, err := val(items[0])
		if err != nil {
			return b, err
		}
		hi, err := val(items[1])
		if err != nil {
			return b, err
		}
		if fld != nil && fld.Fieldtype == Datetime {
			if s, ok := hi.(string); ok && strings.HasSuffix(s, " 00:00:00.000000") {
				hi = strings.TrimSuffix(s, " 00:00:00.000000") + " 23:59:59.999999" // a date range includes its last day
			}
		}
		b.vals = []any{lo, hi}
		return b, nil
	}
	return b, Errorf(DataError, "unknown filter operator %q", f.Op)
}

// condition turns one filter into SQL; values are always bound, never spliced.
func (c *Context) condition(dt *DocType, f Filter) (string, []any, error) {
	b, err := c.bind(dt, f)
	if err != nil {
		return "", nil, err
	}
	col := store.Quote(b.field)
	switch b.op {
	case "null":
		return col + " IS NULL", nil, nil
	case "not null":
		return col + " IS NOT NULL", nil, nil
	case "!=": // Frappe's != also matches unset values
		return fmt.Sprintf("(%s != ? OR %s IS NULL)", col, col), b.vals, nil
	case "=", "<", ">", "<=", ">=":
		return fmt.Sprintf("%s %s ?", col, b.op), b.vals, nil
	case "like", "not like":
		op := c.Tx.Dialect().Like()
		if b.op == "not like" {
			op = "NOT " + op
		}
		return fmt.Sprintf("%s %s ?", col, op), b.vals, nil
	case "false":
		return "1 = 0", nil, nil
	case "true":
		return "1 = 1", nil, nil
	case "in", "not in":
		ph := strings.TrimSuffix(strings.Repeat("?, ", len(b.vals)), ", ")
		if b.op == "not in" {
			return fmt.Sprintf("(%s NOT IN (%s) OR %s IS NULL)", col, ph, col), b.vals, nil
		}
		return fmt.Sprintf("%s IN (%s)", col, ph), b.vals, nil
	case "set":
		return fmt.Sprintf("(%s IS NOT NULL AND %s != '')", col, col), nil, nil
	case "not set":
		return fmt.Sprintf("(%s IS NULL OR %s = '')", col, col), nil, nil
	case "between":
		return fmt.Sprintf("%s BETWEEN ? AND ?", col), b.vals, nil
	}
	return "", nil, Errorf(DataError, "unknown filter operator %q", b.op)
}

// listValue accepts a JSON list or Frappe's comma-separated string.
func listValue(v any) ([]any, error) {
	switch t := v.(type) {
	case []any:
		return t, nil
	case string:
		var out []any
		for p := range strings.SplitSeq(t, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out, nil
	}
	return nil, Errorf(DataError, "filter value must be a list")
}

// orderKey is one key of a list's order.
type orderKey struct {
	field string
	desc  bool
}

// orderBy validates "field [asc|desc], ..." and quotes it.
func orderBy(dt *DocType, spec string) (string, error) {
	keys, err := orderKeys(dt, spec)
	if err != nil {
		return "", err
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = store.Quote(k.field) + " ASC"
		if k.desc {
			parts[i] = store.Quote(k.field) + " DESC"
		}
	}
	return strings.Join(parts, ", "), nil
}

// orderKeys parses an order_by; an empty one is the DocType's sort field and order, by default
// modified desc.
func orderKeys(dt *DocType, spec string) ([]orderKey, error) {
	if strings.TrimSpace(spec) == "" {
		field, dir := "modified", "desc"
		if dt.SortField != "" {
			field = dt.SortField
		}
		if dt.SortOrder != "" {
			dir = dt.SortOrder
		}
		spec = field + " " + dir
	}
	var keys []orderKey
	for p := range strings.SplitSeq(spec, ",") {
		words := strings.Fields(p)
		if len(words) == 0 || len(words) > 2 {
			return nil, Errorf(DataError, "order_by must be \"field asc\" or \"field desc\"")
		}
		field := strings.Trim(words[0], "`")
		if i := strings.LastIndex(field, "."); i >= 0 { // `tabX`.`field`
			field = strings.Trim(field[i+1:], "`")
		}
		if !dt.hasColumn(field) {
			return nil, Errorf(DataError, "%s has no field %q to order by", dt.Name, field)
		}
		k := orderKey{field: field}
		if len(words) == 2 {
			switch strings.ToLower(words[1]) {
			case "asc":
			case "desc":
				k.desc = true
			default:
				return nil, Errorf(DataError, "order direction must be asc or desc")
			}
		}
		keys = append(keys, k)
	}
	return keys, nil
}
