package files

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"path"
	"strings"

	"github.com/livedoc/livedoc/api"
	"github.com/livedoc/livedoc/auth"
	"github.com/livedoc/livedoc/doc"
)

// websiteTypes are what users without desk access may upload, as Frappe's ALLOWED_MIMETYPES
// (judged by content here, not by the name the client gives).
var websiteTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true,
	"application/pdf": true, "text/plain": true, "application/zip": true}

// upload is Frappe's upload_file: a multipart form with the file in "file" (or a file_url), and
// is_private, doctype, docname, fieldname, folder. It answers {"message": <File>}. With doctype
// and docname the file is attached to that document, which the user must be able to write; with
// fieldname too, that Attach field of the document is set to the file's URL.
//
// Files are private unless is_private says 0 (Frappe's default is public, but its clients always
// send is_private).
func (f *Files) upload(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	if id.User.Name == doc.Guest {
		return doc.Errorf(doc.PermissionError, "Not permitted: log in to upload files")
	}
	a, err := api.ReadArgs(r)
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	if err != nil {
		return err
	}
	name, fileURL := a.String("file_name"), strings.TrimSpace(a.String("file_url"))
	var content []byte
	hasContent := false
	if r.MultipartForm != nil && len(r.MultipartForm.File["file"]) > 0 {
		fh := r.MultipartForm.File["file"][0]
		if fh.Size > f.maxSize {
			return &http.MaxBytesError{Limit: f.maxSize}
		}
		file, err := fh.Open()
		if err != nil {
			return err
		}
		content, err = io.ReadAll(io.LimitReader(file, f.maxSize+1))
		file.Close()
		if err != nil {
			return err
		}
		if int64(len(content)) > f.maxSize {
			return &http.MaxBytesError{Limit: f.maxSize}
		}
		name, hasContent = fh.Filename, true
	}
	if !hasContent && fileURL == "" {
		return doc.Errorf(doc.DataError, "upload_file: send the file in the form field \"file\", or a file_url")
	}
	private := true
	switch strings.ToLower(a.String("is_private")) {
	case "0", "false":
		private = false
	}
	if hasContent && id.User.UserType == doc.WebsiteUser && !websiteTypes[sniff(content)] {
		return doc.Errorf(doc.ValidationError, "You can only upload JPG, PNG, PDF, TXT or Microsoft documents.")
	}
	dt, dn, field := a.String("doctype"), a.String("docname"), a.String("fieldname")
	var created string
	var out doc.Doc
	err = f.e.Run(r.Context(), id.User, true, func(c *doc.Context) error {
		if (dt == "") != (dn == "") || (field != "" && dt == "") {
			return doc.Errorf(doc.ValidationError, "upload_file: doctype and docname go together, and fieldname needs both")
		}
		if field != "" {
			meta, err := c.Meta(dt)
			if err != nil {
				return err
			}
			if fd := meta.Field(field); fd == nil || (fd.Fieldtype != doc.Attach && fd.Fieldtype != doc.AttachImage) {
				return doc.Errorf(doc.ValidationError, "%s has no Attach field %s", dt, field)
			}
		}
		if dt != "" {
			if err := mayWrite(c, dt, dn); err != nil {
				return err
			}
		}
		up := &uploaded{url: fileURL}
		switch {
		case hasContent:
			sum := sha256.Sum256(content)
			up.hash, up.size = hex.EncodeToString(sum[:]), int64(len(content))
			var err error
			if up.url, created, err = f.place(c, content, up.hash, safeName(name), private); err != nil {
				return err
			}
			name = path.Base(up.url)
		case isLocal(fileURL):
			if err := f.shareExisting(c, up); err != nil {
				return err
			}
			private = strings.HasPrefix(fileURL, privatePrefix)
		}
		c.SetLocal(uploadedKey{}, up)
		var err error
		out, err = c.Insert(doc.Doc{"doctype": "File", "file_name": name, "file_url": up.url, "is_private": private,
			"folder": a.String("folder"), "attached_to_doctype": dt, "attached_to_name": dn, "attached_to_field": field})
		if err != nil || field == "" {
			return err
		}
		_, err = c.Update(dt, dn, map[string]any{field: up.url})
		return err
	})
	if err != nil {
		if created != "" {
			f.store.discard(created)
		}
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"message": out})
	return nil
}

// place stores content under a free name and returns its URL, and the storage key it created
// ("" when it reused one). Content the user already stored with the same privacy, or anyone
// stored publicly, is shared rather than stored twice, as Frappe does (never another user's
// private file: its name would tell what they called it).
func (f *Files) place(c *doc.Context, content []byte, hash, name string, private bool) (string, string, error) {
	prefix, dir := publicPrefix, "public/"
	filters := []doc.Filter{{Field: "content_hash", Op: "=", Value: hash}, {Field: "is_private", Op: "=", Value: 0}}
	if private {
		prefix, dir = privatePrefix, "private/"
		filters = []doc.Filter{{Field: "content_hash", Op: "=", Value: hash}, {Field: "is_private", Op: "=", Value: 1},
			{Field: "owner", Op: "=", Value: c.User.Name}}
	}
	same, err := c.Sudo().List("File", doc.Query{Fields: []string{"file_url"}, Filters: filters, Limit: 1})
	if err != nil {
		return "", "", err
	}
	if len(same) > 0 && strings.HasPrefix(same[0].String("file_url"), prefix) && keyOf(same[0].String("file_url")) != "" {
		return same[0].String("file_url"), "", nil
	}
	ext := path.Ext(name)
	if len(ext) > 20 {
		ext = ""
	}
	stem := strings.TrimSuffix(name, ext)
	for _, candidate := range []string{name, stem + hash[:8] + ext, stem + hash[:16] + ext, hash + ext} {
		candidate = safeName(candidate)
		ok, err := f.store.create(c, dir+candidate, content)
		if err != nil {
			return "", "", err
		}
		if ok {
			return prefix + candidate, dir + candidate, nil
		}
	}
	return "", "", doc.Errorf(doc.DuplicateEntryError, "A file named %s already exists", name)
}

// shareExisting lets a new File document point at a stored file the user may already read (to
// attach it to another document), with that file's hash and size.
func (f *Files) shareExisting(c *doc.Context, up *uploaded) error {
	found, ok, err := mayRead(c, up.url)
	switch {
	case err != nil:
		return err
	case !found:
		return doc.Errorf(doc.DoesNotExistError, "File %s not found", up.url)
	case !ok:
		return doc.Errorf(doc.PermissionError, "Not permitted: %s cannot read %s", c.User.Name, up.url)
	}
	rows, err := c.Sudo().List("File", doc.Query{Fields: []string{"content_hash", "file_size"},
		Filters: []doc.Filter{{Field: "file_url", Op: "=", Value: up.url}}, Limit: 1})
	if err != nil {
		return err
	}
	up.hash, up.size = rows[0].String("content_hash"), rows[0].Int("file_size")
	return nil
}
