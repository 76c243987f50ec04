package doc

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Insert creates a document: before_insert → autoname → before_validate → validate →
// before_save (before_submit when inserted submitted) → write → after_insert → on_update
// (→ on_submit) → on_change. It returns the stored document.
func (c *Context) Insert(in Doc) (Doc, error) {
	dt, err := c.writableMeta(in.DocType())
	if err != nil {
		return nil, err
	}
	if dt.IsSingle {
		return nil, Errorf(ValidationError, "%s is a single DocType: save it instead of inserting", dt.Name)
	}
	d, err := c.normalize(dt, in)
	if err != nil {
		return nil, err
	}
	status := d.Docstatus()
	if status != 0 && !(status == 1 && dt.IsSubmittable) {
		return nil, Errorf(DocstatusTransition, "Cannot insert %s with docstatus %d", dt.Name, status)
	}
	if err := c.check(dt, PermCreate, d); err != nil {
		return nil, err
	}
	if status == 1 {
		if err := c.check(dt, PermSubmit, d); err != nil {
			return nil, err
		}
	}
	if from := d.String("amended_from"); from != "" {
		old, err := c.load(dt, from, false)
		if err != nil {
			return nil, err
		}
		if err := c.check(dt, PermAmend, old); err != nil {
			return nil, err
		}
	}
	now := c.now("")
	c.keepUnwritable(dt, nil, d)
	setDefaults(dt, d, c.User.Name)
	d["owner"], d["creation"], d["modified"], d["modified_by"] = c.User.Name, now, now, c.User.Name
	d["docstatus"], d["idx"] = status, int64(0)

	if err := c.hooks(dt, d, BeforeInsert, Autoname); err != nil {
		return nil, err
	}
	if err := c.setName(dt, d); err != nil {
		return nil, err
	}
	before := BeforeSave
	if status == 1 {
		before = BeforeSubmit
	}
	if err := c.hooks(dt, d, BeforeValidate, Validate, before); err != nil {
		return nil, err
	}
	if err := c.validate(dt, d, nil, true); err != nil {
		return nil, err
	}
	if ok, err := c.exists(dt, d.Name()); err != nil {
		return nil, err
	} else if ok {
		return nil, Errorf(DuplicateEntryError, "%s %s already exists", dt.Name, d.Name())
	}
	if err := c.insertRow(dt, d); err != nil {
		return nil, err
	}
	row := dt.rowOf(d)
	if err := c.writeChildren(dt, d); err != nil {
		return nil, err
	}
	after := []string{AfterInsert, OnUpdate}
	action := "insert"
	if status == 1 {
		after, action = append(after, OnSubmit), "submit"
	}
	if err := c.hooks(dt, d, append(after, OnChange)...); err != nil {
		return nil, err
	}
	c.record(dt, action, d, "")
	c.lastChange().Row = row
	return d, nil
}

// Get reads a document the user may read.
func (c *Context) Get(doctype, name string) (Doc, error) {
	dt, err := c.meta(doctype)
	if err != nil {
		return nil, err
	}
	if dt.IsTable && !c.sudo {
		return nil, Errorf(PermissionError, "%s is a child table: read it through its parent", dt.Name)
	}
	if dt.IsSingle {
		name = dt.Name
	}
	d, err := c.load(dt, name, false)
	if err != nil {
		if e, ok := AsError(err); ok && e.Type == DoesNotExistError && dt.IsSingle {
			d = Doc{"doctype": dt.Name, "name": dt.Name, "docstatus": int64(0)}
			setDefaults(dt, d, c.User.Name)
		} else {
			return nil, err
		}
	}
	if err := c.check(dt, PermRead, d); err != nil {
		return nil, err
	}
	c.stripUnreadable(dt, d)
	return d, nil
}

// Update merges values into the stored document and saves it, as Frappe's PUT does: fields not
// given keep their stored values, Table fields given replace the rows.
func (c *Context) Update(doctype, name string, values map[string]any) (Doc, error) {
	dt, err := c.writableMeta(doctype)
	if err != nil {
		return nil, err
	}
	if dt.IsSingle {
		name = dt.Name
	}
	stored, err := c.load(dt, name, true)
	var merged Doc
	if err != nil {
		if e, ok := AsError(err); !(ok && e.Type == DoesNotExistError && dt.IsSingle) {
			return nil, err
		}
		stored, merged = nil, Doc{"doctype": dt.Name, "name": dt.Name}
	} else {
		merged = stored.Clone()
	}
	for k, v := range values {
		if k == "name" || k == "doctype" {
			continue
		}
		merged[k] = v
	}
	return c.saveOver(merged, stored)
}

// Save writes a changed document. The docstatus change picks the path, as in Frappe: 0→0 save,
// 0→1 submit, 1→1 update after submit, 1→2 cancel; anything else is refused. A `modified` that
// differs from the stored one means someone saved in between: TimestampMismatchError.
func (c *Context) Save(in Doc) (Doc, error) {
	return c.saveOver(in, nil)
}

// saveOver is Save with the stored version already loaded (for update) by this transaction, or
// nil: a save reads the document once.
func (c *Context) saveOver(in, stored Doc) (Doc, error) {
	dt, err := c.writableMeta(in.DocType())
	if err != nil {
		return nil, err
	}
	if dt.IsSingle {
		in = in.Clone()
		in["name"] = dt.Name
	}
	d, err := c.normalize(dt, in)
	if err != nil {
		return nil, err
	}
	old := stored
	if old == nil || old.Name() != d.Name() {
		if old, err = c.load(dt, d.Name(), true); err != nil {
			if e, ok := AsError(err); ok && e.Type == DoesNotExistError && dt.IsSingle {
				return c.insertSingle(dt, d)
			}
			return nil, err
		}
	}
	if m, ok := in["modified"]; ok && m != nil && fmt.Sprint(m) != old.String("modified") {
		return nil, Errorf(TimestampMismatchError,
			"Document has been modified after you have opened it (%s, %s). Please refresh to get the latest document.",
			old.String("modified"), fmt.Sprint(m))
	}
	if _, ok := in["docstatus"]; !ok {
		d["docstatus"] = old["docstatus"]
	}
	c.keepUnwritable(dt, old, d)
	from, to := old.Docstatus(), d.Docstatus()
	d["owner"], d["creation"], d["idx"] = old["owner"], old["creation"], old["idx"]
	d["modified"], d["modified_by"] = c.now(old.String("modified")), c.User.Name
	switch {
	case from == 0 && to == 0:
		return c.save(dt, old, d)
	case from == 0 && to == 1 && dt.IsSubmittable:
		return c.submit(dt, old, d)
	case from == 1 && to == 1:
		return c.updateAfterSubmit(dt, old, d)
	case from == 1 && to == 2:
		return c.cancel(dt, old)
	}
	return nil, Errorf(DocstatusTransition, "Cannot change docstatus of %s %s from %d to %d", dt.Name, d.Name(), from, to)
}

// Submit submits a draft: before_validate → validate → before_submit → write → on_update →
// on_submit → on_change.
func (c *Context) Submit(in Doc) (Doc, error) {
	d := in.Clone()
	d["docstatus"] = int64(1)
	return c.Save(d)
}

// Cancel cancels a submitted document: before_cancel → write → on_cancel → on_change.
func (c *Context) Cancel(doctype, name string) (Doc, error) {
	dt, err := c.writableMeta(doctype)
	if err != nil {
		return nil, err
	}
	old, err := c.load(dt, name, true)
	if err != nil {
		return nil, err
	}
	if old.Docstatus() != 1 {
		return nil, Errorf(DocstatusTransition, "Cannot cancel %s %s: it is not submitted", dt.Name, name)
	}
	return c.cancel(dt, old)
}

// Delete removes a draft or cancelled document: on_trash → delete → after_delete.
func (c *Context) Delete(doctype, name string) error {
	dt, err := c.writableMeta(doctype)
	if err != nil {
		return err
	}
	d, err := c.load(dt, name, true)
	if err != nil {
		return err
	}
	if err := c.check(dt, PermDelete, d); err != nil {
		return err
	}
	if d.Docstatus() == 1 {
		return Errorf(ValidationError, "Submitted %s %s cannot be deleted: cancel it first", dt.Name, name)
	}
	if err := c.checkNotLinked(dt, name); err != nil {
		return err
	}
	if err := c.hooks(dt, d, OnTrash); err != nil {
		return err
	}
	if err := c.deleteRows(dt, name); err != nil {
		return err
	}
	if err := c.hooks(dt, d, AfterDelete); err != nil {
		return err
	}
	c.record(dt, "delete", d, "")
	c.lastChange().Row = dt.rowOf(d)
	return nil
}

// Rename gives a document a new name and updates the Link fields that point to it.
func (c *Context) Rename(doctype, oldName, newName string) (Doc, error) {
	dt, err := c.writableMeta(doctype)
	if err != nil {
		return nil, err
	}
	if !dt.AllowRename {
		return nil, Errorf(ValidationError, "%s documents cannot be renamed", dt.Name)
	}
	newName = strings.TrimSpace(newName)
	if err := validName(newName); err != nil {
		return nil, err
	}
	d, err := c.load(dt, oldName, true)
	if err != nil {
		return nil, err
	}
	if err := c.check(dt, PermWrite, d); err != nil {
		return nil, err
	}
	if newName == oldName {
		return d, nil
	}
	if ok, err := c.exists(dt, newName); err != nil {
		return nil, err
	} else if ok {
		return nil, Errorf(DuplicateEntryError, "%s %s already exists", dt.Name, newName)
	}
	d["new_name"] = newName
	if err := c.hooks(dt, d, BeforeRename); err != nil {
		return nil, err
	}
	delete(d, "new_name")
	if err := c.renameRows(dt, oldName, newName); err != nil {
		return nil, err
	}
	d["name"] = newName
	d["modified"], d["modified_by"] = c.now(d.String("modified")), c.User.Name
	if _, err := c.Tx.Exec(c, fmt.Sprintf("UPDATE %s SET modified = ?, modified_by = ? WHERE name = ?", quoteTable(dt)),
		d["modified"], d["modified_by"], newName); err != nil {
		return nil, err
	}
	if err := c.hooks(dt, d, AfterRename); err != nil {
		return nil, err
	}
	c.record(dt, "rename", d, oldName)
	return c.load(dt, newName, false)
}

func (c *Context) save(dt *DocType, old, d Doc) (Doc, error) {
	if err := c.check(dt, PermWrite, old); err != nil {
		return nil, err
	}
	if err := c.hooks(dt, d, BeforeValidate, Validate, BeforeSave); err != nil {
		return nil, err
	}
	return c.write(dt, old, d, "save", OnUpdate, OnChange)
}

func (c *Context) submit(dt *DocType, old, d Doc) (Doc, error) {
	if err := c.check(dt, PermSubmit, old); err != nil {
		return nil, err
	}
	if err := c.hooks(dt, d, BeforeValidate, Validate, BeforeSubmit); err != nil {
		return nil, err
	}
	return c.write(dt, old, d, "submit", OnUpdate, OnSubmit, OnChange)
}

func (c *Context) updateAfterSubmit(dt *DocType, old, d Doc) (Doc, error) {
	if err := c.check(dt, PermWrite, old); err != nil {
		return nil, err
	}
	if err := c.changedOnlyAllowed(dt, old, d); err != nil {
		return nil, err
	}
	if err := c.hooks(dt, d, BeforeUpdateAfterSubmit); err != nil {
		return nil, err
	}
	return c.write(dt, old, d, "update_after_submit", OnUpdateAfterSubmit, OnChange)
}

func (c *Context) cancel(dt *DocType, old Doc) (Doc, error) {
	if err := c.check(dt, PermCancel, old); err != nil {
		return nil, err
	}
	d := old.Clone()
	d["docstatus"] = int64(2)
	d["modified"], d["modified_by"] = c.now(old.String("modified")), c.User.Name
	if err := c.hooks(dt, d, BeforeCancel); err != nil {
		return nil, err
	}
	return c.write(dt, old, d, "cancel", OnCancel, OnChange)
}

// write validates and stores an existing document (old is its stored version), then runs the
// after-write hooks.
func (c *Context) write(dt *DocType, old, d Doc, action string, after ...string) (Doc, error) {
	if err := checkConstants(dt, old, d); err != nil {
		return nil, err
	}
	if err := c.validate(dt, d, nil, false); err != nil {
		return nil, err
	}
	if action == "save" && c.unchanged(dt, old, d) {
		// Nothing to write, as Frappe's desk says ("No changes in document"): the stored
		// document stays as it is, with its modified, and no events or Version follow.
		d["modified"], d["modified_by"] = old["modified"], old["modified_by"]
		return d, nil
	}
	if err := c.updateRow(dt, d); err != nil {
		return nil, err
	}
	row := dt.rowOf(d)
	if err := c.writeChildren(dt, d); err != nil {
		return nil, err
	}
	if err := c.hooks(dt, d, after...); err != nil {
		return nil, err
	}
	c.recordUpdate(dt, action, old, d)
	ch := c.lastChange()
	ch.Row, ch.Before = row, dt.rowBefore(old, row)
	return d, nil
}

// insertSingle stores a single DocType's one document the first time it is saved.
func (c *Context) insertSingle(dt *DocType, d Doc) (Doc, error) {
	if err := c.check(dt, PermWrite, d); err != nil {
		return nil, err
	}
	now := c.now("")
	d["owner"], d["creation"], d["modified"], d["modified_by"] = c.User.Name, now, now, c.User.Name
	d["docstatus"], d["idx"] = int64(0), int64(0)
	if err := c.hooks(dt, d, BeforeValidate, Validate, BeforeSave); err != nil {
		return nil, err
	}
	if err := c.validate(dt, d, nil, true); err != nil {
		return nil, err
	}
	if err := c.insertRow(dt, d); err != nil {
		return nil, err
	}
	if err := c.writeChildren(dt, d); err != nil {
		return nil, err
	}
	if err := c.hooks(dt, d, OnUpdate, OnChange); err != nil {
		return nil, err
	}
	c.record(dt, "save", d, "")
	return d, nil
}

func (c *Context) hooks(dt *DocType, d Doc, events ...string) error {
	for _, ev := range events {
		if err := c.e.runHooks(c, dt.Name, ev, d); err != nil {
			return err
		}
	}
	return nil
}

func (c *Context) record(dt *DocType, action string, d Doc, oldName string) {
	c.txs.changes = append(c.txs.changes, Change{Action: action, DocType: dt.Name, Name: d.Name(),
		OldName: oldName, Owner: dt.OwnerOf(d), Modified: d.String("modified"), IsTable: dt.IsTable, IsSingle: dt.IsSingle})
}

func (c *Context) lastChange() *Change { return &c.txs.changes[len(c.txs.changes)-1] }

// recordUpdate records a change of a stored document with what changed since old, for clients
// that keep a copy (live documents).
func (c *Context) recordUpdate(dt *DocType, action string, old, d Doc) {
	c.record(dt, action, d, "")
	ch := c.lastChange()
	ch.Prev = old.String("modified")
	ch.Changed = changedValues(c, dt, old, d)
}

func (c *Context) writableMeta(doctype string) (*DocType, error) {
	if !c.Tx.Writable() {
		return nil, Errorf(ValidationError, "This request cannot change data: use POST")
	}
	if doctype == "" {
		return nil, Errorf(ValidationError, "doctype is required")
	}
	dt, err := c.meta(doctype)
	if err != nil {
		return nil, err
	}
	if dt.IsTable && !c.sudo {
		return nil, Errorf(PermissionError, "%s is a child table: change it through its parent", dt.Name)
	}
	return dt, nil
}

// now returns a modified timestamp later than prev, so two saves within one microsecond still
// get different timestamps and the concurrency check can tell them apart.
func (c *Context) now(prev string) string {
	t := time.Now().UTC()
	if p, ok := parseTime(prev); ok && !t.After(p) {
		t = p.Add(time.Microsecond)
	}
	return t.Format(DatetimeFormat)
}

// normalize checks and converts input values to the DocType's field types. Unknown fields are
// ignored, as Frappe ignores them, and so are values for layout and virtual fields; keys starting
// with "__" are client-side markers (Frappe's __islocal, __unsaved) and dropped, but for
// __newname, the name a user gives a document named by prompt.
func (c *Context) normalize(dt *DocType, in Doc) (Doc, error) {
	d := Doc{"doctype": dt.Name}
	if n, ok := in["__newname"].(string); ok && strings.TrimSpace(n) != "" && in.Name() == "" {
		d["name"] = strings.TrimSpace(n)
	}
	for k, v := range in {
		if strings.HasPrefix(k, "__") || k == "doctype" {
			continue
		}
		f := dt.Field(k)
		switch {
		case f != nil && (f.IsLayout() || f.IsVirtual):
		case f != nil && f.IsTable():
			rows, err := c.normalizeRows(dt, f, v)
			if err != nil {
				return nil, err
			}
			d[k] = rows
		case f != nil:
			x, err := coerce(f, v)
			if err != nil {
				return nil, err
			}
			d[k] = x
		case k == "name":
			s, ok := v.(string)
			if !ok && v != nil {
				return nil, Errorf(ValidationError, "name must be a string")
			}
			d[k] = strings.TrimSpace(s)
		case k == "docstatus" || k == "idx":
			n, ok := toNumber(v)
			if !ok || n != float64(int64(n)) {
				return nil, Errorf(ValidationError, "%s must be an integer", k)
			}
			d[k] = int64(n)
		case dt.HasField(k):
			d[k] = v // standard fields the engine sets itself; kept only for the modified check
		}
	}
	return d, nil
}

func (c *Context) normalizeRows(dt *DocType, f *Field, v any) ([]Doc, error) {
	child, err := c.meta(f.Options)
	if err != nil {
		return nil, err
	}
	var items []any
	switch t := v.(type) {
	case nil:
		return []Doc{}, nil
	case []any:
		items = t
	case []Doc:
		for _, r := range t {
			items = append(items, map[string]any(r))
		}
	case []map[string]any:
		for _, r := range t {
			items = append(items, r)
		}
	default:
		return nil, Errorf(ValidationError, "%s: %s must be a list of rows", dt.Name, f.Title())
	}
	rows := make([]Doc, 0, len(items))
	for i, it := range items {
		var m map[string]any
		switch r := it.(type) {
		case map[string]any:
			m = r
		case Doc:
			m = r
		default:
			return nil, Errorf(ValidationError, "%s: row %d of %s is not an object", dt.Name, i+1, f.Title())
		}
		row, err := c.normalize(child, m)
		if err != nil {
			return nil, err
		}
		for _, k := range ChildFields { // set by the parent on write
			delete(row, k)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func setDefaults(dt *DocType, d Doc, user string) {
	for i := range dt.Fields {
		f := &dt.Fields[i]
		if f.IsTable() {
			if d[f.Fieldname] == nil {
				d[f.Fieldname] = []Doc{}
			}
			continue
		}
		if d[f.Fieldname] != nil || f.Default == "" {
			continue
		}
		def := f.Default
		switch strings.ToLower(def) {
		case "today":
			def = time.Now().UTC().Format(DateFormat)
		case "now":
			def = Now()
		case "__user":
			def = user
		}
		if v, err := coerce(f, def); err == nil {
			d[f.Fieldname] = v
		}
	}
}

// changedOnlyAllowed refuses an update after submit that touches fields without allow_on_submit.
func (c *Context) changedOnlyAllowed(dt *DocType, old, d Doc) error {
	for _, f := range dt.Fields {
		if f.AllowOnSubmit || f.Fieldtype == Password || !f.HasValue() || f.IsVirtual {
			continue
		}
		if f.IsTable() {
			child, err := c.meta(f.Options)
			if err != nil {
				return err
			}
			if !sameRows(child, old.Children(f.Fieldname), d.Children(f.Fieldname)) {
				return Errorf(UpdateAfterSubmitError, "Not allowed to change %s after submission", f.Title())
			}
			continue
		}
		if !reflect.DeepEqual(old[f.Fieldname], d[f.Fieldname]) {
			return Errorf(UpdateAfterSubmitError, "Not allowed to change %s after submission", f.Title())
		}
	}
	return nil
}

// unchanged reports whether the validated d holds exactly what is stored (old): every value,
// every child row (by name, in order) and no new password.
func (c *Context) unchanged(dt *DocType, old, d Doc) bool {
	for _, f := range dt.Fields {
		if !f.HasValue() || f.IsVirtual {
			continue
		}
		if f.Fieldtype == Password {
			if v, ok := d[f.Fieldname].(string); ok && v != "" {
				return false
			}
			continue
		}
		if !f.IsTable() {
			if !sameValue(old[f.Fieldname], d[f.Fieldname]) {
				return false
			}
			continue
		}
		child, err := c.meta(f.Options)
		if err != nil {
			return false
		}
		a, b := old.Children(f.Fieldname), d.Children(f.Fieldname)
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i].Name() == "" || a[i].Name() != b[i].Name() || !c.unchanged(child, a[i], b[i]) {
				return false
			}
		}
	}
	return true
}

// sameValue compares stored and given values as their JSON, an empty string as null.
func sameValue(a, b any) bool {
	if a == "" {
		a = nil
	}
	if b == "" {
		b = nil
	}
	if reflect.DeepEqual(a, b) {
		return true
	}
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

func sameRows(child *DocType, a, b []Doc) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		for _, f := range child.Fields {
			if !f.AllowOnSubmit && !reflect.DeepEqual(a[i][f.Fieldname], b[i][f.Fieldname]) {
				return false
			}
		}
	}
	return true
}

func selectOptions(f *Field) []string {
	var out []string
	for o := range strings.SplitSeq(f.Options, "\n") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// linkFields lists every Link field, in every DocType, that points at target.
func (e *Engine) linkFields(target string) map[*DocType][]string {
	out := map[*DocType][]string{}
	for _, dt := range e.DocTypes() {
		for _, f := range dt.Fields {
			if f.Fieldtype == Link && f.Options == target {
				out[dt] = append(out[dt], f.Fieldname)
			}
		}
	}
	return out
}

func (c *Context) checkNotLinked(dt *DocType, name string) error {
	links := c.e.linkFields(dt.Name)
	for _, from := range slices.SortedFunc(maps.Keys(links), func(a, b *DocType) int { return strings.Compare(a.Name, b.Name) }) {
		for _, field := range links[from] {
			var ref string
			q := fmt.Sprintf("SELECT %s FROM %s WHERE %s = ? LIMIT 1", selectParentOrName(from), quoteTable(from), quoteIdent(field))
			err := c.Tx.QueryRow(c, q, name).Scan(&ref)
			if err == nil {
				return Errorf(LinkExistsError, "Cannot delete or cancel because %s %s is linked with %s %s", dt.Name, name, from.Name, ref)
			}
			if !isNoRows(err) {
				return err
			}
		}
	}
	return nil
}

func (c *Context) renameRows(dt *DocType, oldName, newName string) error {
	stmts := [][]any{{fmt.Sprintf("UPDATE %s SET name = ? WHERE name = ?", quoteTable(dt)), newName, oldName},
		{"UPDATE __auth SET name = ? WHERE doctype = ? AND name = ?", newName, dt.Name, oldName}}
	for _, tf := range dt.TableFields() {
		child, err := c.meta(tf.Options)
		if err != nil {
			return err
		}
		stmts = append(stmts, []any{fmt.Sprintf("UPDATE %s SET parent = ? WHERE parent = ? AND parenttype = ?", quoteTable(child)), newName, oldName, dt.Name})
	}
	for from, fields := range c.e.linkFields(dt.Name) {
		for _, field := range fields {
			stmts = append(stmts, []any{fmt.Sprintf("UPDATE %s SET %s = ? WHERE %s = ?", quoteTable(from), quoteIdent(field), quoteIdent(field)), newName, oldName})
		}
	}
	for _, s := range stmts {
		if _, err := c.Tx.Exec(c, s[0].(string), s[1:]...); err != nil {
			return err
		}
	}
	return nil
}

func selectParentOrName(dt *DocType) string {
	if dt.IsTable {
		return "parent"
	}
	return "name"
}
