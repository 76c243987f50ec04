package docinfo

import (
	"encoding/json"

	"github.com/livedoc/livedoc/doc"
)

// beforeKey is where a save keeps, in its transaction, the stored version of a document of a
// track_changes DocType, read before the write: the Version's diff is taken against it.
type beforeKey struct{ doctype, name string }

// versionHooks record a Version after each save, submit, update after submit and cancel of a
// document whose DocType has track_changes, as Frappe's save_version: the stored document is read
// by the hook that runs before each path's write, the diff taken in on_change. An insert has no
// stored version, and no Version (as in Frappe).
func (i *Info) versionHooks() {
	keep := func(c *doc.Context, d doc.Doc) error {
		dt, err := c.Meta(d.DocType())
		if err != nil || !dt.TrackChanges || dt.IsTable || d.Name() == "" {
			return err
		}
		old, err := c.Sudo().Get(dt.Name, d.Name())
		if e, ok := doc.AsError(err); ok && e.Type == doc.DoesNotExistError {
			return nil
		} else if err != nil {
			return err
		}
		c.SetLocal(beforeKey{dt.Name, d.Name()}, old)
		return nil
	}
	for _, ev := range []string{doc.BeforeValidate, doc.BeforeUpdateAfterSubmit, doc.BeforeCancel} {
		i.e.On("*", ev, keep)
	}
	i.e.On("*", doc.OnChange, func(c *doc.Context, d doc.Doc) error {
		k := beforeKey{d.DocType(), d.Name()}
		old, ok := c.Local(k).(doc.Doc)
		if !ok {
			return nil
		}
		c.SetLocal(k, nil)
		dt, err := c.Meta(d.DocType())
		if err != nil {
			return err
		}
		diff, err := Diff(c, dt, old, d)
		if err != nil || diff == nil {
			return err
		}
		data, err := json.Marshal(diff)
		if err != nil {
			return err
		}
		_, err = c.Sudo().Insert(doc.Doc{"doctype": "Version", "ref_doctype": dt.Name, "docname": d.Name(), "data": string(data)})
		return err
	})
}
