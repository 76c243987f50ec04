package doc

import (
	"strings"

	"github.com/livedoc/livedoc/store"
)

// Live lists (realtime/livelist.go) follow a list query by matching each committed change in
// memory rather than running the query again. LiveQuery is a list query prepared for that, as one
// user sees it: its filters, the if_owner rule and the order are evaluated on a row as the SQL of
// List evaluates them, on SQLite and on PostgreSQL. Where the answer could differ between SQL and
// memory (a text order under a collation that is not byte order, LIKE on non-ASCII text, a value
// of another type than its column's, JSON fields), it answers "unknown" and the caller reads the
// list again; a query it cannot follow at all (a row filter, a filter or order on a field the
// user may not read) answers "unknown" for every row.
//
// Rows given to it are as a client gets them (JSON-decoded: numbers are float64).
type LiveQuery struct {
	// Read is the query that reads the list's rows: the requested fields plus those the filters,
	// the order and the owner rule need ("wide" rows), ordered with name as the last key so that
	// SQL and memory agree on the order of rows equal in every other key.
	Read Query

	requested []string // the fields the client asked for; nil: every column
	columns   []string
	kinds     map[string]store.ColumnKind
	opaque    map[string]bool // JSON and Geolocation fields: their values are not what SQL compares
	hidden    map[string]bool // fields of a permlevel the user may not read
	filters   []boundFilter
	ors       []boundFilter
	owner     string // with if_owner: the owner rows must have
	ownerCol  string
	keys      []orderKey
	inMemory  bool
	// bytewise: text compares in byte order (SQLite; PostgreSQL with the C collation). Otherwise
	// only strings of one layout (digits in the same places, the same other bytes: dates, times,
	// numbered names) are ordered in memory.
	bytewise bool
	// nullsFirst: NULL sorts before every value in ascending order (SQLite), not after (PostgreSQL).
	nullsFirst bool
}

// PrepareLive prepares q on doctype for matching in memory, as the context's user.
func (c *Context) PrepareLive(doctype string, q Query) (*LiveQuery, error) {
	dt, err := c.meta(doctype)
	if err != nil {
		return nil, err
	}
	keys, err := orderKeys(dt, q.OrderBy)
	if err != nil {
		return nil, err
	}
	named := false
	for _, k := range keys {
		named = named || k.field == "name"
	}
	if !named {
		keys = append(keys, orderKey{field: "name"})
	}
	l := &LiveQuery{keys: keys, kinds: map[string]store.ColumnKind{}, opaque: map[string]bool{}, hidden: map[string]bool{}, inMemory: true,
		nullsFirst: c.Tx.Dialect().Name() == "sqlite"}
	for _, col := range dt.columns() {
		l.columns = append(l.columns, col.Name)
		l.kinds[col.Name] = col.Kind
		if f := dt.Field(col.Name); f != nil && (f.Fieldtype == JSON || f.Fieldtype == Geolocation) {
			l.opaque[col.Name] = true
		}
	}
	for _, f := range q.Filters {
		b, err := c.bind(dt, f)
		if err != nil {
			return nil, err
		}
		l.filters = append(l.filters, b)
	}
	for _, f := range q.OrFilters {
		b, err := c.bind(dt, f)
		if err != nil {
			return nil, err
		}
		l.ors = append(l.ors, b)
	}
	if !c.sudo {
		if dt.grant(c.User, PermRead) == grantOwn {
			l.owner, l.ownerCol = c.User.Name, dt.ownerColumn()
		}
		// A row filter (Permission Query script) is code: only the database can apply it.
		l.inMemory = c.e.rowFilter(dt.Name) == nil
		if lv, some := c.restricted(dt, PermRead); some {
			for i := range dt.Fields {
				if f := &dt.Fields[i]; f.Permlevel > 0 && !lv[f.Permlevel] {
					l.hidden[f.Fieldname] = true
				}
			}
		}
	}
	l.Read = q
	l.Read.OrderBy = ""
	for i, k := range keys {
		if i > 0 {
			l.Read.OrderBy += ", "
		}
		l.Read.OrderBy += k.field + map[bool]string{false: " asc", true: " desc"}[k.desc]
	}
	if !containsStar(q.Fields) {
		l.requested = q.Fields
		if len(l.requested) == 0 {
			l.requested = []string{"name"}
		}
		wide := append([]string(nil), l.requested...)
		add := func(f string) {
			for _, w := range wide {
				if w == f {
					return
				}
			}
			wide = append(wide, f)
		}
		add("name")
		if l.ownerCol != "" {
			add(l.ownerCol)
		}
		for _, b := range append(append([]boundFilter(nil), l.filters...), l.ors...) {
			add(b.field)
		}
		for _, k := range keys {
			add(k.field)
		}
		l.Read.Fields = wide
	}
	// What the user may not read is stripped from the rows the database gives: it cannot be
	// matched in memory.
	for _, b := range append(append([]boundFilter(nil), l.filters...), l.ors...) {
		l.inMemory = l.inMemory && !l.hidden[b.field]
	}
	for _, k := range keys {
		l.inMemory = l.inMemory && !l.hidden[k.field]
	}
	if l.bytewise, err = c.e.textBytewise(c); err != nil {
		return nil, err
	}
	return l, nil
}

func containsStar(fields []string) bool {
	for _, f := range fields {
		if f == "*" {
			return true
		}
	}
	return false
}

// InMemory reports whether rows can be matched in memory at all.
func (l *LiveQuery) InMemory() bool { return l.inMemory }

// Wide is row (a document's stored columns) as Read returns it to the user: its fields, without
// those the user may not read.
func (l *LiveQuery) Wide(row Doc) Doc {
	fields := l.Read.Fields
	if l.requested == nil {
		fields = l.columns
	}
	return l.pick(row, fields)
}

// Project is a wide row as the client's query returns it: the requested fields.
func (l *LiveQuery) Project(wide Doc) Doc {
	if l.requested == nil {
		return l.pick(wide, l.columns)
	}
	return l.pick(wide, l.requested)
}

func (l *LiveQuery) pick(row Doc, fields []string) Doc {
	out := make(Doc, len(fields))
	for _, f := range fields {
		if !l.hidden[f] {
			out[f] = row[f]
		}
	}
	return out
}

// Match reports whether the query selects row (its wide or whole form); known is false when
// memory cannot tell exactly as the database would.
func (l *LiveQuery) Match(row Doc) (match, known bool) {
	if !l.inMemory {
		return false, false
	}
	if l.owner != "" {
		if s, _ := row[l.ownerCol].(string); s != l.owner {
			return false, true
		}
	}
	for i := range l.filters {
		m, ok := l.eval(&l.filters[i], row)
		if !ok {
			return false, false
		}
		if !m {
			return false, true
		}
	}
	if len(l.ors) == 0 {
		return true, true
	}
	unknown := false
	for i := range l.ors {
		m, ok := l.eval(&l.ors[i], row)
		if ok && m {
			return true, true
		}
		unknown = unknown || !ok
	}
	return false, !unknown
}

// Compare orders two rows as Read's ORDER BY does; known is false when memory cannot tell.
func (l *LiveQuery) Compare(a, b Doc) (cmp int, known bool) {
	for _, k := range l.keys {
		va, vb := a[k.field], b[k.field]
		if kind := l.kinds[k.field]; l.opaque[k.field] || !fits(kind, va) || !fits(kind, vb) {
			return 0, false
		}
		var c int
		switch {
		case va == nil && vb == nil:
			continue
		case va == nil || vb == nil:
			c = 1
			if (va == nil) == l.nullsFirst {
				c = -1
			}
		default:
			var ok bool
			if c, ok = l.order(va, vb); !ok {
				return 0, false
			}
		}
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c, true
		}
	}
	return 0, true
}

// eval evaluates one filter on a row, SQL's NULL as false (filters are only ever combined with
// AND and OR, never negated, so a NULL condition and a false one select the same rows).
func (l *LiveQuery) eval(b *boundFilter, row Doc) (bool, bool) {
	if l.opaque[b.field] {
		return false, false
	}
	kind := l.kinds[b.field]
	v := row[b.field]
	if !fits(kind, v) {
		return false, false
	}
	for _, x := range b.vals {
		if !fits(kind, x) {
			return false, false
		}
	}
	switch b.op {
	case "null":
		return v == nil, true
	case "not null":
		return v != nil, true
	case "true":
		return true, true
	case "false":
		return false, true
	case "set":
		return v != nil && v != "", true
	case "not set":
		return v == nil || v == "", true
	}
	if v == nil {
		// Every other condition is NULL on a NULL column, but Frappe's forms of != and not in.
		return b.op == "!=" || b.op == "not in", true
	}
	switch b.op {
	case "=", "!=":
		if b.vals[0] == nil {
			return false, true
		}
		eq := equal(v, b.vals[0])
		return eq == (b.op == "="), true
	case "<", ">", "<=", ">=":
		if b.vals[0] == nil {
			return false, true
		}
		c, ok := l.order(v, b.vals[0])
		if !ok {
			return false, false
		}
		switch b.op {
		case "<":
			return c < 0, true
		case ">":
			return c > 0, true
		case "<=":
			return c <= 0, true
		}
		return c >= 0, true
	case "between":
		if b.vals[0] == nil || b.vals[1] == nil {
			return false, true
		}
		lo, ok1 := l.order(b.vals[0], v)
		hi, ok2 := l.order(v, b.vals[1])
		return lo <= 0 && hi <= 0, ok1 && ok2
	case "in", "not in":
		null := false
		for _, x := range b.vals {
			if x == nil {
				null = true
			} else if equal(v, x) {
				return b.op == "in", true
			}
		}
		// v NOT IN (..., NULL) is NULL when v is none of the others.
		return b.op == "not in" && !null, true
	case "like", "not like":
		s, ok := v.(string)
		pattern := b.vals[0].(string)
		// SQLite's LIKE folds the case of ASCII letters only, and PostgreSQL's ILIKE takes \ as
		// its escape: only ASCII text and patterns without \ are matched the same by both.
		if !ok || !isASCII(s) || !isASCII(pattern) || strings.Contains(pattern, `\`) {
			return false, false
		}
		return like(strings.ToLower(pattern), strings.ToLower(s)) == (b.op == "like"), true
	}
	return false, false
}

// fits reports whether a value is of its column's kind: text for text, numbers for numbers. Other
// pairs compare by rules that differ between SQLite (affinity) and PostgreSQL (casts or errors).
func fits(kind store.ColumnKind, v any) bool {
	switch v.(type) {
	case nil:
		return true
	case string:
		return kind == store.Text
	case float64, int64:
		return kind == store.Integer || kind == store.Real
	}
	return false
}

func number(v any) float64 {
	if n, ok := v.(int64); ok {
		return float64(n)
	}
	return v.(float64)
}

// equal compares two non-NULL values of one kind: text byte for byte (SQLite's BINARY,
// PostgreSQL's deterministic collations), numbers by value.
func equal(a, b any) bool {
	if s, ok := a.(string); ok {
		return s == b.(string)
	}
	return number(a) == number(b)
}

// order compares two non-NULL values of one kind, known only where both databases agree.
func (l *LiveQuery) order(a, b any) (int, bool) {
	if s, ok := a.(string); ok {
		t, ok := b.(string)
		if !ok || (!l.bytewise && !sameLayout(s, t)) {
			return 0, false
		}
		return strings.Compare(s, t), true
	}
	if _, ok := b.(string); ok {
		return 0, false
	}
	x, y := number(a), number(b)
	switch {
	case x < y:
		return -1, true
	case x > y:
		return 1, true
	}
	return 0, true
}

// sameLayout reports whether two ASCII strings have digits in the same places and the same bytes
// elsewhere: any collation orders them as their bytes.
func sameLayout(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		da, db := a[i] >= '0' && a[i] <= '9', b[i] >= '0' && b[i] <= '9'
		if a[i] >= 0x80 || (da != db) || (!da && a[i] != b[i]) {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// like matches SQL's LIKE pattern (% any run, _ one character) on ASCII text.
func like(pattern, s string) bool {
	// Backtracking on the last %: linear for the patterns lists use.
	p, i, star, mark := 0, 0, -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '%':
			star, mark = p, i
			p++
		case p < len(pattern) && (pattern[p] == '_' || pattern[p] == s[i]):
			p++
			i++
		case star >= 0:
			mark++
			p, i = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '%' {
		p++
	}
	return p == len(pattern)
}

// textBytewise reports whether the database orders text as its bytes: SQLite's BINARY collation
// always; PostgreSQL when the database's collation is C (C.UTF-8 orders by code point, which
// is byte order in UTF-8). Asked once.
func (e *Engine) textBytewise(c *Context) (bool, error) {
	switch e.bytewise.Load() {
	case 1:
		return true, nil
	case 2:
		return false, nil
	}
	ok := true
	if c.Tx.Dialect().Name() == "postgres" {
		var collate, provider *string
		// to_jsonb: datlocprovider exists from PostgreSQL 15 on, and older ones have only libc.
		if err := c.Tx.QueryRow(c, `SELECT datcollate, to_jsonb(d)->>'datlocprovider' FROM pg_database d
			WHERE datname = current_database()`).Scan(&collate, &provider); err != nil {
			return false, err
		}
		ok = collate != nil && (provider == nil || *provider == "c")
		if ok {
			switch *collate {
			case "C", "POSIX", "C.UTF-8", "C.utf8":
			default:
				ok = false
			}
		}
	}
	e.bytewise.Store(map[bool]int32{true: 1, false: 2}[ok])
	return ok, nil
}
