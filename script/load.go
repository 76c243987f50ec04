package script

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/livedoc/livedoc/doc"
)

// LoadFS stores the Server Scripts of an app folder: every JSON file under server_script/, in
// Frappe's export shape ({"doctype": "Server Script", "name": ..., "script_type": ..., ...}), so
// that scripts can live in git. A script that changed is saved, one that did not is left alone;
// they then take effect as any saved script does.
func (s *Service) LoadFS(ctx context.Context, fsys fs.FS) error {
	var docs []doc.Doc
	err := fs.WalkDir(fsys, "server_script", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".json" {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		var m doc.Doc
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if m.DocType() != DocType || m.Name() == "" {
			return fmt.Errorf("%s: not a Server Script with a name", p)
		}
		docs = append(docs, m)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(docs) == 0) {
		return nil
	}
	if err != nil {
		return err
	}
	err = s.e.Run(ctx, doc.AdminUser, true, func(c *doc.Context) error {
		c = c.Sudo()
		for _, m := range docs {
			for _, k := range []string{"owner", "creation", "modified", "modified_by", "idx", "docstatus"} {
				delete(m, k) // Frappe's export carries them; here they are the engine's
			}
			old, err := c.Get(DocType, m.Name())
			if e, ok := doc.AsError(err); ok && e.Type == doc.DoesNotExistError {
				if _, err := c.Insert(m); err != nil {
					return fmt.Errorf("server script %s: %w", m.Name(), err)
				}
				continue
			} else if err != nil {
				return err
			}
			if same(old, m) {
				continue
			}
			if _, err := c.Update(DocType, m.Name(), m); err != nil {
				return fmt.Errorf("server script %s: %w", m.Name(), err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.Reload(ctx)
}

// same reports whether the stored script already has every value the file gives.
func same(stored, file doc.Doc) bool {
	for k, v := range file {
		if k == "doctype" || k == "name" {
			continue
		}
		if fmt.Sprint(stored[k]) != fmt.Sprint(v) {
			return false
		}
	}
	return true
}
