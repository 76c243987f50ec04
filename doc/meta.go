package doc

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/livedoc/livedoc/store"
)

// DocType declares a type of document, in Frappe's DocType JSON shape.
type DocType struct {
	Name          string  `json:"name"`
	Module        string  `json:"module,omitempty"`
	Autoname      string  `json:"autoname,omitempty"`
	IsSubmittable bool    `json:"is_submittable,omitempty"`
	IsTable       bool    `json:"istable,omitempty"`
	IsSingle      bool    `json:"issingle,omitempty"`
	AllowRename   bool    `json:"allow_rename,omitempty"`
	TitleField    string  `json:"title_field,omitempty"`
	SortField     string  `json:"sort_field,omitempty"`
	SortOrder     string  `json:"sort_order,omitempty"`
	Fields        []Field `json:"fields"`
	Permissions   []Perm  `json:"permissions,omitempty"`

	byName map[string]*Field
	sql    *rowSQL // set by Validate
}

// Field is one field of a DocType.
type Field struct {
	Fieldname     string `json:"fieldname"`
	Fieldtype     string `json:"fieldtype"`
	Label         string `json:"label,omitempty"`
	Reqd          bool   `json:"reqd,omitempty"`
	Unique        bool   `json:"unique,omitempty"`
	Default       string `json:"default,omitempty"`
	Options       string `json:"options,omitempty"`
	ReadOnly      bool   `json:"read_only,omitempty"`
	Hidden        bool   `json:"hidden,omitempty"`
	InListView    bool   `json:"in_list_view,omitempty"`
	AllowOnSubmit bool   `json:"allow_on_submit,omitempty"`
}

// Perm grants a role rights on a DocType; with IfOwner only on documents the user owns.
type Perm struct {
	Role    string `json:"role"`
	Read    bool   `json:"read,omitempty"`
	Write   bool   `json:"write,omitempty"`
	Create  bool   `json:"create,omitempty"`
	Delete  bool   `json:"delete,omitempty"`
	Submit  bool   `json:"submit,omitempty"`
	Cancel  bool   `json:"cancel,omitempty"`
	IfOwner bool   `json:"if_owner,omitempty"`
}

// Field types.
const (
	Data      = "Data"
	SmallText = "Small Text"
	Text      = "Text"
	Int       = "Int"
	Float     = "Float"
	Currency  = "Currency"
	Check     = "Check"
	Select    = "Select"
	Date      = "Date"
	Datetime  = "Datetime"
	Link      = "Link"
	Table     = "Table"
	JSON      = "JSON"
	Password  = "Password"
)

var fieldKinds = map[string]store.ColumnKind{
	Data: store.Text, SmallText: store.Text, Text: store.Text, Select: store.Text, Date: store.Text,
	Datetime: store.Text, Link: store.Text, JSON: store.Text,
	Int: store.Integer, Check: store.Integer,
	Float: store.Real, Currency: store.Real,
}

// StandardFields every document has, in column order; child rows add ChildFields.
var (
	StandardFields = []string{"name", "owner", "creation", "modified", "modified_by", "docstatus", "idx"}
	ChildFields    = []string{"parent", "parentfield", "parenttype"}
)

// UnmarshalJSON accepts Frappe's 0/1 integers as well as booleans for the flag fields.
func (dt *DocType) UnmarshalJSON(b []byte) error {
	type plain DocType
	var p plain
	if err := json.Unmarshal(fixFlags(b), &p); err != nil {
		return err
	}
	*dt = DocType(p)
	return nil
}

// fixFlags rewrites `"flag": 0|1` into booleans throughout a JSON document, since Frappe writes
// Check values as integers and Go's decoder will not put a number into a bool.
func fixFlags(b []byte) []byte {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return b // let the real decode report the error
	}
	out, err := json.Marshal(intsToBools(v, ""))
	if err != nil {
		return b
	}
	return out
}

var flagKeys = map[string]bool{
	"is_submittable": true, "istable": true, "issingle": true, "allow_rename": true, "reqd": true,
	"unique": true, "read_only": true, "hidden": true, "in_list_view": true, "allow_on_submit": true,
	"read": true, "write": true, "create": true, "delete": true, "submit": true, "cancel": true,
	"if_owner": true,
}

func intsToBools(v any, key string) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = intsToBools(x, k)
		}
	case []any:
		for i, x := range t {
			t[i] = intsToBools(x, "")
		}
	case float64:
		if flagKeys[key] {
			return t != 0
		}
	}
	return v
}

// ParseDocType reads and validates a DocType from JSON.
func ParseDocType(b []byte) (*DocType, error) {
	var dt DocType
	if err := json.Unmarshal(b, &dt); err != nil {
		return nil, fmt.Errorf("DocType JSON: %w", err)
	}
	if err := dt.Validate(); err != nil {
		return nil, err
	}
	return &dt, nil
}

var (
	doctypeNameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9 _\-]{0,60}$`)
	fieldnameRe   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,60}$`)
)

// Validate checks names, types and options, and prepares the field index.
func (dt *DocType) Validate() error {
	if !doctypeNameRe.MatchString(dt.Name) {
		return fmt.Errorf("invalid DocType name %q: letters, digits, spaces, - and _ only, starting with a letter", dt.Name)
	}
	dt.byName = make(map[string]*Field, len(dt.Fields))
	for i := range dt.Fields {
		f := &dt.Fields[i]
		if !fieldnameRe.MatchString(f.Fieldname) {
			return fmt.Errorf("%s: invalid fieldname %q: lower-case letters, digits and _ only", dt.Name, f.Fieldname)
		}
		if isStandard(f.Fieldname) {
			return fmt.Errorf("%s: fieldname %q is a standard field", dt.Name, f.Fieldname)
		}
		if _, dup := dt.byName[f.Fieldname]; dup {
			return fmt.Errorf("%s: duplicate fieldname %q", dt.Name, f.Fieldname)
		}
		if _, ok := fieldKinds[f.Fieldtype]; !ok && f.Fieldtype != Table && f.Fieldtype != Password {
			return fmt.Errorf("%s: field %q has unknown fieldtype %q", dt.Name, f.Fieldname, f.Fieldtype)
		}
		if (f.Fieldtype == Link || f.Fieldtype == Table) && !doctypeNameRe.MatchString(f.Options) {
			return fmt.Errorf("%s: %s field %q needs the target DocType in options", dt.Name, f.Fieldtype, f.Fieldname)
		}
		if f.Fieldtype == Table && dt.IsTable {
			return fmt.Errorf("%s: a child table cannot hold Table fields", dt.Name)
		}
		if f.Label == "" {
			f.Label = labelFor(f.Fieldname)
		}
		dt.byName[f.Fieldname] = f
	}
	if err := dt.validateAutoname(); err != nil {
		return err
	}
	for _, fname := range []string{dt.TitleField, dt.SortField} {
		if fname != "" && !dt.hasColumn(fname) {
			return fmt.Errorf("%s: no stored field %q for title_field/sort_field", dt.Name, fname)
		}
	}
	if so := strings.ToLower(dt.SortOrder); so != "" && so != "asc" && so != "desc" {
		return fmt.Errorf("%s: sort_order must be ASC or DESC", dt.Name)
	}
	for _, p := range dt.Permissions {
		if strings.TrimSpace(p.Role) == "" {
			return fmt.Errorf("%s: permission rule without a role", dt.Name)
		}
	}
	dt.sql = dt.buildSQL()
	return nil
}

func (dt *DocType) validateAutoname() error {
	a := dt.Autoname
	switch {
	case a == "", a == "hash", a == "autoincrement", a == "prompt", a == "naming_series:":
		return nil
	case strings.HasPrefix(a, "field:"):
		if f := dt.Field(strings.TrimPrefix(a, "field:")); f == nil || !dt.hasColumn(f.Fieldname) { // a Password would be the name
			return fmt.Errorf("%s: autoname %q names no field", dt.Name, a)
		}
		return nil
	case strings.Contains(a, "#"):
		return nil
	}
	return fmt.Errorf("%s: unknown autoname rule %q", dt.Name, a)
}

// Field returns the named field, or nil.
func (dt *DocType) Field(name string) *Field {
	if dt.byName == nil {
		return nil
	}
	return dt.byName[name]
}

// HasField reports whether name is a field or a standard field of the DocType.
func (dt *DocType) HasField(name string) bool {
	return dt.Field(name) != nil || isStandard(name) || (dt.IsTable && slices.Contains(ChildFields, name))
}

// hasColumn reports whether name is a field stored in the DocType's own row, the only ones a list
// may select, filter or sort on: Table fields live in child tables, and Password fields have no
// column at all (their hashes are in __auth, out of every query's reach).
func (dt *DocType) hasColumn(name string) bool {
	if f := dt.Field(name); f != nil {
		return f.Fieldtype != Table && f.Fieldtype != Password
	}
	return dt.HasField(name)
}

// TableFields lists the fields holding child tables.
func (dt *DocType) TableFields() []*Field {
	var out []*Field
	for i := range dt.Fields {
		if dt.Fields[i].Fieldtype == Table {
			out = append(out, &dt.Fields[i])
		}
	}
	return out
}

// TableName is the database table holding the DocType's documents, as in Frappe.
func (dt *DocType) TableName() string { return "tab" + dt.Name }

// Route is the DocType's URL segment in the desk: lower case, spaces as hyphens.
func (dt *DocType) Route() string { return strings.ReplaceAll(strings.ToLower(dt.Name), " ", "-") }

// rowSQL is the text of the statements that read and write one document's row, built once per
// DocType rather than (quoting every column) on every read and write: ~10% of an insert or save
// with three hooks (BenchmarkInsertWithThreeHooks, BenchmarkSaveWithThreeHooks).
type rowSQL struct {
	cols     []store.Column // the table's columns: standard ones, then one per stored field
	load     string         // SELECT cols ... WHERE name = ?
	children string         // SELECT cols ... WHERE parent, parenttype, parentfield ORDER BY idx
	insert   string         // INSERT (cols) VALUES (?, ...)
	update   string         // UPDATE SET every column but name ... WHERE name = ?
}

// rowSQL returns the statements Validate prepared (or builds them for a DocType it did not see).
func (dt *DocType) rowSQL() *rowSQL {
	if dt.sql != nil {
		return dt.sql
	}
	return dt.buildSQL()
}

// columns lists the table's columns: standard ones, then one per stored field.
func (dt *DocType) columns() []store.Column { return dt.rowSQL().cols }

func (dt *DocType) buildSQL() *rowSQL {
	cols := make([]store.Column, 0, len(StandardFields)+len(ChildFields)+len(dt.Fields))
	for _, s := range StandardFields {
		k := store.Text
		if s == "docstatus" || s == "idx" {
			k = store.Integer
		}
		cols = append(cols, store.Column{Name: s, Kind: k})
	}
	if dt.IsTable {
		for _, s := range ChildFields {
			cols = append(cols, store.Column{Name: s, Kind: store.Text})
		}
	}
	for _, f := range dt.Fields {
		if k, ok := fieldKinds[f.Fieldtype]; ok {
			cols = append(cols, store.Column{Name: f.Fieldname, Kind: k})
		}
	}
	names := make([]string, len(cols))
	var sets []string
	for i, col := range cols {
		names[i] = store.Quote(col.Name)
		if col.Name != "name" {
			sets = append(sets, names[i]+" = ?")
		}
	}
	table, list := store.Quote(dt.TableName()), strings.Join(names, ", ")
	return &rowSQL{
		cols:     cols,
		load:     "SELECT " + list + " FROM " + table + " WHERE name = ?",
		children: "SELECT " + list + " FROM " + table + " WHERE parent = ? AND parenttype = ? AND parentfield = ? ORDER BY idx",
		insert:   "INSERT INTO " + table + " (" + list + ") VALUES (" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")",
		update:   "UPDATE " + table + " SET " + strings.Join(sets, ", ") + " WHERE name = ?",
	}
}

func isStandard(name string) bool { return slices.Contains(StandardFields, name) }

func labelFor(fieldname string) string {
	words := strings.Split(fieldname, "_")
	for i, w := range words {
		if w != "" {
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, " ")
}
