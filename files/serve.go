package files

import (
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/livedoc/livedoc/auth"
	"github.com/livedoc/livedoc/doc"
)

// serve answers GET /files/<name> (anyone) and /private/files/<name> (see mayRead).
func (f *Files) serve(private bool) func(http.ResponseWriter, *http.Request, *auth.Identity) error {
	return func(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
		name := r.PathValue("name")
		prefix, dir := publicPrefix, "public/"
		if private {
			prefix, dir = privatePrefix, "private/"
		}
		notFound := doc.Errorf(doc.DoesNotExistError, "File %s not found", name)
		if safeName(name) != name { // "..", separators, control characters: nothing stored has such a name
			return notFound
		}
		if private {
			err := f.e.Run(r.Context(), id.User, false, func(c *doc.Context) error {
				found, ok, err := mayRead(c, prefix+name)
				switch {
				case err != nil:
					return err
				case !found:
					return notFound
				case !ok:
					return doc.Errorf(doc.PermissionError, "You don't have permission to access this file")
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		content, modified, err := f.store.open(r.Context(), dir+name)
		if errors.Is(err, fs.ErrNotExist) {
			return notFound
		} else if err != nil {
			return err
		}
		defer content.Close()
		head := make([]byte, 512)
		n, _ := io.ReadFull(content, head)
		if _, err := content.Seek(0, io.SeekStart); err != nil {
			return err
		}
		setHeaders(w.Header(), name, head[:n], private)
		http.ServeContent(w, r, name, modified, content)
		return nil
	}
}

// inlineTypes are the types a browser may show in place: none of them runs script. Anything
// else (HTML, SVG, XML, JavaScript, unknown) is sent as a download.
var inlineTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true,
	"image/bmp": true, "application/pdf": true, "text/plain": true}

// setHeaders decides how a file is sent. Its type comes from its name and from its content
// (sniffed as browsers do): shown in place only when both agree on a type that cannot run script;
// otherwise an attachment of type application/octet-stream. nosniff and a CSP without scripts
// (sandboxed, but for PDFs, which browsers' viewers cannot show sandboxed) hold either way.
func setHeaders(h http.Header, name string, head []byte, private bool) {
	byName, _, _ := mime.ParseMediaType(mime.TypeByExtension(strings.ToLower(path.Ext(name))))
	sniffed, _, _ := mime.ParseMediaType(http.DetectContentType(head))
	textual := byName == "text/plain" || byName == "text/csv" || byName == "application/json" || byName == "text/markdown"
	typ, disposition := "application/octet-stream", "attachment"
	switch {
	case sniffed == "text/plain" && textual:
		typ, disposition = "text/plain; charset=utf-8", "inline"
	case inlineTypes[sniffed] && sniffed == byName:
		typ, disposition = sniffed, "inline"
	}
	h.Set("Content-Type", typ)
	if cd := mime.FormatMediaType(disposition, map[string]string{"filename": name}); cd != "" {
		disposition = cd
	}
	h.Set("Content-Disposition", disposition)
	h.Set("X-Content-Type-Options", "nosniff")
	csp := "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'"
	if typ != "application/pdf" {
		csp += "; sandbox"
	}
	h.Set("Content-Security-Policy", csp)
	if private {
		h.Set("Cache-Control", "private, no-cache")
	}
}

// sniff is a content's type as browsers would guess it.
func sniff(content []byte) string {
	t, _, _ := mime.ParseMediaType(http.DetectContentType(content))
	return t
}
