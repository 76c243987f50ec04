package doc

import (
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/livedoc/livedoc/auth/password"
	"github.com/livedoc/livedoc/store"
)

// load reads one document with its child rows; forUpdate locks its row until the transaction ends.
func (c *Context) load(dt *DocType, name string, forUpdate bool) (Doc, error) {
	sq := dt.rowSQL()
	cols, q := sq.cols, sq.load
	if forUpdate {
		q += c.Tx.Dialect().ForUpdate()
	}
	rows, err := c.Tx.Query(c, q, name)
	if err != nil {
		return nil, err
	}
	docs, err := scanDocs(dt, rows, cols)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, Errorf(DoesNotExistError, "%s %s not found", dt.Name, name)
	}
	d := docs[0]
	for _, tf := range dt.TableFields() {
		child, err := c.meta(tf.Options)
		if err != nil {
			return nil, err
		}
		rows, err := c.loadChildren(child, dt.Name, name, tf.Fieldname)
		if err != nil {
			return nil, err
		}
		d[tf.Fieldname] = rows
	}
	return d, nil
}

func (c *Context) loadChildren(child *DocType, parenttype, parent, parentfield string) ([]Doc, error) {
	sq := child.rowSQL()
	cols := sq.cols
	rows, err := c.Tx.Query(c, sq.children, parent, parenttype, parentfield)
	if err != nil {
		return nil, err
	}
	docs, err := scanDocs(child, rows, cols)
	if docs == nil && err == nil {
		docs = []Doc{}
	}
	return docs, err
}

// scanDocs reads rows of dt's table into documents, converting stored values back to field types.
func scanDocs(dt *DocType, rows *sql.Rows, cols []store.Column) ([]Doc, error) {
	defer rows.Close()
	var out []Doc
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		d := Doc{"doctype": dt.Name}
		for i, col := range cols {
			d[col.Name] = fromColumn(dt.Field(col.Name), vals[i])
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// fromColumn converts a stored value to the field's type. Stored values that no longer fit (a
// field whose type changed) are returned as they are rather than failing the read.
func fromColumn(f *Field, v any) any {
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	if f == nil || v == nil {
		return v
	}
	if out, err := coerce(f, v); err == nil {
		return out
	}
	return v
}

// insertRow writes one new row of dt.
func (c *Context) insertRow(dt *DocType, d Doc) error {
	sq := dt.rowSQL()
	args := make([]any, 0, len(sq.cols))
	for _, col := range sq.cols {
		v, err := storable(dt.Field(col.Name), d[col.Name])
		if err != nil {
			return err
		}
		args = append(args, v)
	}
	if _, err := c.Tx.Exec(c, sq.insert, args...); err != nil {
		if c.Tx.Dialect().IsUniqueViolation(err) {
			return duplicateError(dt, d, err)
		}
		return err
	}
	return c.writePasswords(dt, d)
}

// updateRow rewrites every column of an existing row of dt.
func (c *Context) updateRow(dt *DocType, d Doc) error {
	sq := dt.rowSQL()
	args := make([]any, 0, len(sq.cols))
	for _, col := range sq.cols {
		if col.Name == "name" {
			continue
		}
		v, err := storable(dt.Field(col.Name), d[col.Name])
		if err != nil {
			return err
		}
		args = append(args, v)
	}
	args = append(args, d.Name())
	if _, err := c.Tx.Exec(c, sq.update, args...); err != nil {
		if c.Tx.Dialect().IsUniqueViolation(err) {
			return duplicateError(dt, d, err)
		}
		return err
	}
	return c.writePasswords(dt, d)
}

// writeChildren replaces the child rows of every Table field of d.
func (c *Context) writeChildren(dt *DocType, d Doc) error {
	for _, tf := range dt.TableFields() {
		child, err := c.meta(tf.Options)
		if err != nil {
			return err
		}
		q := fmt.Sprintf("DELETE FROM %s WHERE parent = ? AND parenttype = ? AND parentfield = ?", store.Quote(child.TableName()))
		if _, err := c.Tx.Exec(c, q, d.Name(), dt.Name, tf.Fieldname); err != nil {
			return err
		}
		for i, row := range d.Children(tf.Fieldname) {
			if row.Name() == "" {
				row["name"] = randomName()
			}
			row["doctype"] = child.Name
			row["parent"], row["parenttype"], row["parentfield"] = d.Name(), dt.Name, tf.Fieldname
			row["idx"] = int64(i + 1)
			row["docstatus"] = d["docstatus"]
			row["owner"], row["modified_by"] = d["owner"], d["modified_by"]
			row["modified"] = d["modified"]
			if row["creation"] == nil {
				row["creation"] = d["modified"]
			}
			if err := c.insertRow(child, row); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Context) deleteRows(dt *DocType, name string) error {
	for _, tf := range dt.TableFields() {
		child, err := c.meta(tf.Options)
		if err != nil {
			return err
		}
		q := fmt.Sprintf("DELETE FROM %s WHERE parent = ? AND parenttype = ?", store.Quote(child.TableName()))
		if _, err := c.Tx.Exec(c, q, name, dt.Name); err != nil {
			return err
		}
	}
	q := fmt.Sprintf("DELETE FROM %s WHERE name = ?", store.Quote(dt.TableName()))
	if _, err := c.Tx.Exec(c, q, name); err != nil {
		return err
	}
	_, err := c.Tx.Exec(c, "DELETE FROM __auth WHERE doctype = ? AND name = ?", dt.Name, name)
	return err
}

// exists reports whether a document of dt named name exists.
func (c *Context) exists(dt *DocType, name string) (bool, error) {
	var one int
	err := c.Tx.QueryRow(c, fmt.Sprintf("SELECT 1 FROM %s WHERE name = ?", store.Quote(dt.TableName())), name).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// writePasswords hashes Password fields into __auth; their columns never hold them. The value is
// cleared from the document so it is never echoed back.
func (c *Context) writePasswords(dt *DocType, d Doc) error {
	for _, f := range dt.Fields {
		if f.Fieldtype != Password {
			continue
		}
		pw := d.String(f.Fieldname)
		delete(d, f.Fieldname)
		if pw == "" {
			continue
		}
		hash, err := password.Hash(pw)
		if err != nil {
			return err
		}
		if err := c.SetSecret(dt.Name, d.Name(), f.Fieldname, hash); err != nil {
			return err
		}
	}
	return nil
}

// SetSecret stores a hashed secret of a document (a password or an API secret).
func (c *Context) SetSecret(doctype, name, field, hash string) error {
	_, err := c.Tx.Exec(c, `INSERT INTO __auth (doctype, name, fieldname, hash) VALUES (?, ?, ?, ?)
		ON CONFLICT (doctype, name, fieldname) DO UPDATE SET hash = excluded.hash`, doctype, name, field, hash)
	return err
}

// Secret returns the stored hash of a document's secret, or "" when there is none.
func (c *Context) Secret(doctype, name, field string) (string, error) {
	var h string
	err := c.Tx.QueryRow(c, "SELECT hash FROM __auth WHERE doctype = ? AND name = ? AND fieldname = ?", doctype, name, field).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return h, err
}

func duplicateError(dt *DocType, d Doc, err error) error {
	for _, f := range dt.Fields {
		if f.Unique && strings.Contains(err.Error(), "."+f.Fieldname) {
			return Errorf(DuplicateEntryError, "%s: %s %q is already used by another %s", dt.Name, f.Title(), d.String(f.Fieldname), dt.Name)
		}
	}
	return Errorf(DuplicateEntryError, "%s %s already exists", dt.Name, d.Name())
}

// rowOf copies the values of d's own columns as insertRow and updateRow write them: what a list
// query would read back. Values are shared, not copied: a hook that changed a JSON value in place
// after the write would be seen here (a live list is then off until its next read).
func (dt *DocType) rowOf(d Doc) Doc {
	cols := dt.columns()
	row := make(Doc, len(cols))
	for _, col := range cols {
		row[col.Name] = d[col.Name]
	}
	return row
}

// rowBefore is the previous values, in old, of the columns whose value in row differs.
func (dt *DocType) rowBefore(old, row Doc) Doc {
	before := Doc{}
	for k, v := range row {
		if !reflect.DeepEqual(old[k], v) {
			before[k] = old[k]
		}
	}
	return before
}
