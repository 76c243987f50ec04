package doc

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/livedoc/livedoc/store"
)

// The core DocTypes describe DocTypes, users and roles: doc/core/*.json, in Frappe's shape, with
// every property Frappe v15 gives DocType, DocField and DocPerm (so a DocType exported from Frappe
// keeps them all). They are declared here, not in the database, so the engine can always start;
// they are stored as DocType documents like any other so clients can read them. Child tables
// first, so that parents find them.
//
//go:embed core/*.json
var coreFiles embed.FS

var coreOrder = []string{"docfield", "docperm", "doctype_action", "doctype_link", "doctype_state", "doctype", "role",
	"has_role", "user"}

// coreJSON are the core DocTypes' definitions, in coreOrder; DocField's fieldtype options list
// every field type livedoc takes.
var coreJSON = func() [][]byte {
	var out [][]byte
	for _, n := range coreOrder {
		b, err := coreFiles.ReadFile("core/" + n + ".json")
		if err != nil {
			panic(err) // embedded: cannot fail
		}
		if n == "docfield" {
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			for _, f := range m["fields"].([]any) {
				if f := f.(map[string]any); f["fieldname"] == "fieldtype" {
					f["options"] = strings.Join(FieldTypes(), "\n")
				}
			}
			b, _ = json.Marshal(m)
		}
		out = append(out, b)
	}
	return out
}()

// coreProps are, per core DocType, the names of its fields: the properties a DocType, DocField or
// DocPerm may have.
var coreProps = sync.OnceValue(func() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, j := range coreJSON {
		var dt struct {
			Name   string
			Fields []struct{ Fieldname string }
		}
		_ = json.Unmarshal(j, &dt)
		out[dt.Name] = map[string]bool{}
		for _, f := range dt.Fields {
			out[dt.Name][f.Fieldname] = true
		}
	}
	return out
})

// CoreDocTypes are the DocTypes the engine itself needs.
var CoreDocTypes = func() []string {
	var names []string
	for _, j := range coreJSON {
		var dt struct{ Name string }
		_ = json.Unmarshal(j, &dt)
		names = append(names, dt.Name)
	}
	return names
}()

func (e *Engine) bootstrap(ctx context.Context) error {
	var core []*DocType
	for _, j := range coreJSON {
		dt, err := ParseDocType(j)
		if err != nil {
			return fmt.Errorf("core DocType: %w", err)
		}
		e.install(dt)
		core = append(core, dt)
	}
	e.On("DocType", Validate, e.validateDocType)
	e.On("DocType", OnUpdate, e.migrateDocType)
	e.On("DocType", OnTrash, e.trashDocType)
	return e.Run(ctx, AdminUser, true, func(c *Context) error {
		if err := c.Tx.LockSchema(c); err != nil {
			return err
		}
		for _, q := range []string{
			`CREATE TABLE IF NOT EXISTS __series (name TEXT PRIMARY KEY, current INTEGER NOT NULL)`,
			`CREATE TABLE IF NOT EXISTS __auth (doctype TEXT NOT NULL, name TEXT NOT NULL, fieldname TEXT NOT NULL,
				hash TEXT NOT NULL, PRIMARY KEY (doctype, name, fieldname))`,
		} {
			if _, err := c.Tx.Exec(c, q); err != nil {
				return err
			}
		}
		for _, dt := range core {
			if err := c.migrate(dt, nil); err != nil {
				return err
			}
		}
		if err := c.loadStoredDocTypes(); err != nil {
			return err
		}
		if err := c.ensureRoles("Administrator", SystemManager, RoleAll, RoleGuest); err != nil {
			return err
		}
		return c.Sudo().Sync(core...)
	})
}

// loadStoredDocTypes installs every DocType stored in the database.
func (c *Context) loadStoredDocTypes() error {
	dt, _ := c.e.Meta("DocType")
	rows, err := c.Tx.Query(c, "SELECT name FROM "+quoteTable(dt))
	if err != nil {
		return err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// Child tables first, so a parent's Table fields find them.
	var parents []*DocType
	for _, n := range names {
		if slices.Contains(CoreDocTypes, n) {
			continue
		}
		d, err := c.load(dt, n, false)
		if err != nil {
			return err
		}
		meta, err := docToMeta(d)
		if err != nil {
			return fmt.Errorf("stored DocType %s: %w", n, err)
		}
		if meta.IsTable {
			c.e.install(meta)
		} else {
			parents = append(parents, meta)
		}
	}
	for _, m := range parents {
		c.e.install(m)
	}
	return nil
}

// Sync stores DocTypes declared in code or app files as DocType documents, inserting new ones and
// saving changed ones (which migrates their tables); unchanged ones are left alone. Child tables
// go first so that parents can refer to them.
func (c *Context) Sync(dts ...*DocType) error {
	if err := c.Tx.LockSchema(c); err != nil { // nodes starting together sync one at a time
		return err
	}
	ordered := slices.Clone(dts)
	slices.SortStableFunc(ordered, func(a, b *DocType) int {
		switch {
		case a.IsTable == b.IsTable:
			return 0
		case a.IsTable:
			return -1
		}
		return 1
	})
	meta, _ := c.e.Meta("DocType")
	// DocTypes of one app link to each other in any order (a child table to its parent's Link
	// target): the whole set is known to the transaction before the first is stored.
	for _, dt := range ordered {
		if _, err := c.meta(dt.Name); err != nil {
			c.pending(dt)
		}
	}
	for _, dt := range ordered {
		want, err := metaToDoc(dt)
		if err != nil {
			return err
		}
		stored, err := c.load(meta, dt.Name, true)
		if e, ok := AsError(err); ok && e.Type == DoesNotExistError {
			if _, err := c.Insert(want); err != nil {
				return fmt.Errorf("DocType %s: %w", dt.Name, err)
			}
			continue
		} else if err != nil {
			return err
		}
		storedMeta, err := docToMeta(stored)
		if err == nil && sameMeta(storedMeta, dt) {
			continue
		}
		want["modified"] = stored["modified"]
		if _, err := c.Save(want); err != nil {
			return fmt.Errorf("DocType %s: %w", dt.Name, err)
		}
	}
	return nil
}

func sameMeta(a, b *DocType) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return reflect.DeepEqual(ja, jb)
}

// Map is the DocType in its JSON shape, with "doctype": "DocType", as clients read metadata.
func (dt *DocType) Map() (map[string]any, error) {
	b, err := json.Marshal(dt)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m["doctype"] = "DocType"
	return m, nil
}

// metaToDoc turns a DocType into a DocType document.
func metaToDoc(dt *DocType) (Doc, error) {
	m, err := dt.Map()
	if err != nil {
		return nil, err
	}
	for _, key := range []string{"fields", "permissions"} {
		if m[key] == nil {
			m[key] = []any{}
		}
	}
	return boolsToInts(m), nil
}

func boolsToInts(m map[string]any) Doc {
	for k, v := range m {
		switch t := v.(type) {
		case bool:
			m[k] = map[bool]int64{false: 0, true: 1}[t]
		case []any:
			for _, r := range t {
				if rm, ok := r.(map[string]any); ok {
					boolsToInts(rm)
				}
			}
		}
	}
	return m
}

// docToMeta turns a DocType document into a validated DocType.
func docToMeta(d Doc) (*DocType, error) {
	clean := Doc{}
	for k, v := range d {
		if slices.Contains(StandardFields, k) && k != "name" || k == "doctype" {
			continue
		}
		if rows, ok := v.([]Doc); ok {
			out := make([]map[string]any, len(rows))
			for i, r := range rows {
				out[i] = map[string]any{}
				for rk, rv := range r {
					if !slices.Contains(StandardFields, rk) && !slices.Contains(ChildFields, rk) && rk != "doctype" && rv != nil {
						out[i][rk] = rv
					}
				}
			}
			clean[k] = out
			continue
		}
		if v != nil {
			clean[k] = v
		}
	}
	b, err := json.Marshal(clean)
	if err != nil {
		return nil, err
	}
	return ParseDocType(b)
}

// validateDocType is the DocType DocType's validate hook: the definition must be valid, refer to
// DocTypes that exist, and not change the engine's own DocTypes through the API.
func (e *Engine) validateDocType(c *Context, d Doc) error {
	dt, err := docToMeta(d)
	if err != nil {
		return Errorf(ValidationError, "%s", err.Error())
	}
	if slices.Contains(CoreDocTypes, dt.Name) && !c.sudo {
		return Errorf(PermissionError, "Core DocType %s cannot be changed", dt.Name)
	}
	for _, f := range dt.Fields {
		if f.Fieldtype != Link && !f.IsTable() {
			continue
		}
		target, err := c.meta(f.Options)
		if err != nil && f.Options != dt.Name {
			return Errorf(LinkValidationError, "%s: field %s points to DocType %s, which does not exist", dt.Name, f.Fieldname, f.Options)
		}
		if f.IsTable() && (target == nil || !target.IsTable) {
			return Errorf(ValidationError, "%s: Table field %s needs a child table DocType (istable), not %s", dt.Name, f.Fieldname, f.Options)
		}
	}
	if old, err := c.meta(dt.Name); err == nil && old.IsTable != dt.IsTable {
		return Errorf(ValidationError, "%s: istable cannot be changed once created", dt.Name)
	}
	roles := make([]string, 0, len(dt.Permissions))
	for _, p := range dt.Permissions {
		roles = append(roles, p.Role)
	}
	return c.ensureRoles(roles...)
}

// ensureRoles creates the Role documents that do not exist yet, so that a DocType can name the
// roles its permissions are for without a separate setup step.
func (c *Context) ensureRoles(roles ...string) error {
	meta, err := c.meta("Role")
	if err != nil {
		return err
	}
	for _, r := range roles {
		ok, err := c.exists(meta, r)
		if err != nil {
			return err
		}
		if !ok {
			if _, err := c.Sudo().Insert(Doc{"doctype": "Role", "role_name": r}); err != nil {
				return err
			}
		}
	}
	return nil
}

// migrateDocType is the DocType DocType's on_update hook: it migrates the table in the same
// transaction and installs the new definition once the transaction commits.
func (e *Engine) migrateDocType(c *Context, d Doc) error {
	dt, err := docToMeta(d)
	if err != nil {
		return Errorf(ValidationError, "%s", err.Error())
	}
	old, _ := c.meta(dt.Name)
	if err := c.migrate(dt, old); err != nil {
		return err
	}
	c.pending(dt)
	c.AfterCommit(func() { e.install(dt) })
	return nil
}

// trashDocType refuses to delete a DocType that still has documents, then drops its empty table
// once the deletion commits.
func (e *Engine) trashDocType(c *Context, d Doc) error {
	name := d.Name()
	if slices.Contains(CoreDocTypes, name) {
		return Errorf(PermissionError, "Core DocType %s cannot be deleted", name)
	}
	dt, err := e.Meta(name)
	if err != nil {
		return nil
	}
	var n int64
	if err := c.Tx.QueryRow(c, "SELECT count(*) FROM "+quoteTable(dt)).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return Errorf(LinkExistsError, "DocType %s still has %d documents: delete them first", name, n)
	}
	for _, other := range e.DocTypes() {
		for _, f := range other.Fields {
			if (f.Fieldtype == Link || f.IsTable()) && f.Options == name && other.Name != name {
				return Errorf(LinkExistsError, "DocType %s is used by %s.%s", name, other.Name, f.Fieldname)
			}
		}
	}
	if _, err := c.Tx.Exec(c, "DROP TABLE "+quoteTable(dt)); err != nil {
		return err
	}
	c.AfterCommit(func() { e.uninstall(name) })
	return nil
}

// migrate brings dt's table in line with its fields. A field whose type changed keeps its data
// only if every stored value converts; otherwise the change is refused with the value that does
// not fit.
func (c *Context) migrate(dt, old *DocType) error {
	if err := dt.Validate(); err != nil {
		return Errorf(ValidationError, "%s", err.Error())
	}
	have, err := c.Tx.Dialect().Columns(c, c.Tx, dt.TableName())
	if err != nil {
		return err
	}
	existing := map[string]bool{}
	for _, h := range have {
		existing[h.Name] = true
	}
	for i := range dt.Fields {
		f := &dt.Fields[i]
		if !existing[f.Fieldname] || !f.Stored() {
			continue
		}
		if old != nil {
			if of := old.Field(f.Fieldname); of != nil && of.Fieldtype == f.Fieldtype {
				continue
			}
		}
		if err := c.checkConvertible(dt, f); err != nil {
			return err
		}
	}
	if err := store.EnsureTable(c, c.Tx, dt.TableName(), "name", dt.columns()); err != nil {
		return err
	}
	for _, f := range dt.Fields {
		if !f.Stored() {
			continue
		}
		if err := store.EnsureIndex(c, c.Tx, dt.TableName(), f.Fieldname, true, f.Unique); err != nil {
			if c.Tx.Dialect().IsUniqueViolation(err) {
				return Errorf(ValidationError, "%s: %s cannot be made unique: some documents share a value", dt.Name, f.Title())
			}
			return err
		}
		if err := store.EnsureIndex(c, c.Tx, dt.TableName(), f.Fieldname, false, f.SearchIndex && !f.Unique); err != nil {
			return err
		}
	}
	index := "modified"
	if dt.IsTable {
		index = "parent"
	}
	return store.EnsureIndex(c, c.Tx, dt.TableName(), index, false, true)
}

func (c *Context) checkConvertible(dt *DocType, f *Field) error {
	q := fmt.Sprintf("SELECT DISTINCT %s FROM %s WHERE %s IS NOT NULL", quoteIdent(f.Fieldname), quoteTable(dt), quoteIdent(f.Fieldname))
	rows, err := c.Tx.Query(c, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var v any
		if err := rows.Scan(&v); err != nil {
			return err
		}
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		if _, err := coerce(f, v); err != nil {
			return Errorf(ValidationError, "%s: cannot change %s to %s: stored value %s does not convert",
				dt.Name, f.Title(), f.Fieldtype, strings.TrimSpace(short(v)))
		}
	}
	return rows.Err()
}
