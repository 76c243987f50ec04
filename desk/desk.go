// Package desk serves livedoc's desk: the browser UI at /app (a single page built from plain ES
// modules and CSS embedded in the binary, no build step), the assets it needs, the DocTypes'
// client scripts, and the whitelisted methods it calls.
//
// Routes:
//
//	GET /app, /app/{path...}                 the page shell; a login form for Guest
//	GET /login                               redirects to /app
//	GET /favicon.ico                         the icon (drawn in favicon.go)
//	GET /assets/livedoc.js, livedoc.d.ts     the JS client (Options.Client)
//	GET /assets/depends.js                   the depends_on rule (expr.Source), which forms evaluate
//	GET /assets/desk/{file}                  the desk's modules and CSS (desk/static)
//	GET /assets/client-scripts/{doctype}.js  the DocType's client scripts, concatenated
//
// Methods (answers in "message", as every /api/method):
//
//	frappe.desk.form.load.getdoctype(doctype)  {docs: [meta, child metas...], perms, owner_only}
//	livedoc.desk.doctypes()                    [{name, route, module, issingle, is_submittable}]
//	frappe.desk.search.search_link(doctype, txt, page_length)  [{value, description}]
package desk

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/livedoc/livedoc/api"
	"github.com/livedoc/livedoc/auth"
	clientjs "github.com/livedoc/livedoc/client/js"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/expr"
)

//go:embed static
var static embed.FS

// Options configure a Desk.
type Options struct {
	// Site is the Socket.IO namespace the page's client connects to ("/<Site>").
	Site string
	// Client holds livedoc.js and livedoc.d.ts, served under /assets/; nil means the embedded
	// client of package clientjs (client/js).
	Client fs.FS
	Logger *slog.Logger
}

// Desk is the browser UI of one App.
type Desk struct {
	e    *doc.Engine
	api  *api.Server
	opts Options
	log  *slog.Logger

	mu      sync.RWMutex
	scripts map[string][]clientScript // by scriptKey of the file's base name
}

type clientScript struct {
	name string // where it came from, for the comment heading it
	src  []byte
}

// New makes the desk and whitelists its methods on s.
func New(e *doc.Engine, s *api.Server, opts Options) *Desk {
	if opts.Site == "" {
		opts.Site = "livedoc"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Client == nil {
		opts.Client = clientjs.Files
	}
	d := &Desk{e: e, api: s, opts: opts, log: opts.Logger, scripts: map[string][]clientScript{}}
	d.registerMethods()
	return d
}

// scriptKey is how client script files are matched to DocTypes: lower case, with spaces, hyphens
// and underscores all alike ("Invoice Item" = invoice_item.js = invoice-item.js).
func scriptKey(s string) string {
	return strings.NewReplacer(" ", "_", "-", "_").Replace(strings.ToLower(strings.TrimSpace(s)))
}

// AddClientScript adds a client script for doctype; a DocType's scripts are served concatenated in
// the order they were added.
func (d *Desk) AddClientScript(doctype, name string, src []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := scriptKey(doctype)
	d.scripts[k] = append(d.scripts[k], clientScript{name: name, src: slices.Clone(src)})
}

// AddClientScripts adds every public/*.js file of an app folder as the client script of the
// DocType its base name names (public/invoice.js → "Invoice", public/sales_order.js → "Sales
// Order"). A folder without public/ adds nothing.
func (d *Desk) AddClientScripts(fsys fs.FS) error {
	files, err := fs.Glob(fsys, "public/*.js")
	if err != nil {
		return err
	}
	sort.Strings(files)
	for _, f := range files {
		src, err := fs.ReadFile(fsys, f)
		if err != nil {
			return err
		}
		d.AddClientScript(strings.TrimSuffix(path.Base(f), ".js"), f, src)
	}
	return nil
}

// Routes registers the desk's pages and assets on mux.
func (d *Desk) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /app", d.page)
	mux.HandleFunc("GET /app/{path...}", d.page)
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/app", http.StatusFound)
	})
	mux.HandleFunc("GET /favicon.ico", serveFavicon)
	mux.HandleFunc("GET /assets/livedoc.js", d.clientFile("livedoc.js"))
	mux.HandleFunc("GET /assets/livedoc.d.ts", d.clientFile("livedoc.d.ts"))
	mux.HandleFunc("GET /assets/desk/{file}", d.asset)
	mux.HandleFunc("GET /assets/client-scripts/{file}", d.clientScripts)
	// The depends_on rule the server evaluates, as it is: the form evaluates the same file.
	mux.HandleFunc("GET /assets/depends.js", func(w http.ResponseWriter, r *http.Request) {
		serveBytes(w, r, "depends.js", startTime, expr.Source)
	})
}

func noCache(w http.ResponseWriter, contentType string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".ts":
		return "application/typescript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// startTime is the Last-Modified of embedded files: they change only with the binary.
var startTime = time.Now()

func serveBytes(w http.ResponseWriter, r *http.Request, name string, modtime time.Time, b []byte) {
	noCache(w, contentType(name))
	http.ServeContent(w, r, name, modtime, bytes.NewReader(b))
}

func (d *Desk) clientFile(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := fs.ReadFile(d.opts.Client, name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		serveBytes(w, r, name, startTime, b)
	}
}

func (d *Desk) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if !fs.ValidPath(name) || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(static, "static/"+name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	serveBytes(w, r, name, startTime, b)
}

// clientScripts serves /assets/client-scripts/<DocType>.js: the DocType's scripts, concatenated,
// each in its own block so one file's top-level declarations cannot clash with another's. A known
// DocType without scripts gets an empty script, so the desk can load it unconditionally; a name no
// DocType has is a 404, so nothing the request says is ever echoed into the script.
func (d *Desk) clientScripts(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	if !strings.HasSuffix(file, ".js") {
		http.NotFound(w, r)
		return
	}
	dt := d.doctypeByScriptKey(scriptKey(strings.TrimSuffix(file, ".js")))
	if dt == "" {
		http.NotFound(w, r)
		return
	}
	d.mu.RLock()
	scripts := d.scripts[scriptKey(dt)]
	d.mu.RUnlock()
	var b bytes.Buffer
	fmt.Fprintf(&b, "// client scripts for %s\n", jsComment(dt))
	for _, s := range scripts {
		fmt.Fprintf(&b, "\n// %s\n%s\n", jsComment(s.name), s.src)
	}
	serveBytes(w, r, file, time.Time{}, b.Bytes()) // scripts can be added at run time
}

// doctypeByScriptKey is the name of the DocType whose scriptKey is key, or "".
func (d *Desk) doctypeByScriptKey(key string) string {
	for _, dt := range d.e.DocTypes() {
		if scriptKey(dt.Name) == key {
			return dt.Name
		}
	}
	return ""
}

// jsComment makes s safe inside a // comment line. DocType names are already restricted, but a
// script's name is whatever the app passed: any JS line terminator (\r, U+2028, U+2029 too, not
// just \n) would end the comment and run the rest as code, and "*/" would close a block comment
// should this line ever sit in one.
var jsComment = strings.NewReplacer("\n", " ", "\r", " ", "\u2028", " ", "\u2029", " ", "*/", "* /").Replace

// page is the desk's single HTML page. A logged-in user gets the app with the session's CSRF
// token and user name in window globals; Guest gets the login form.
func (d *Desk) page(w http.ResponseWriter, r *http.Request) {
	id, err := d.api.Identity(r)
	if err != nil {
		var de *doc.Error
		if !errors.As(err, &de) {
			d.log.Warn("desk: identity", "err", err)
		}
		id = &auth.Identity{User: doc.GuestUser} // a stale or bad cookie: log in again
	}
	data := pageData{Site: d.opts.Site, User: id.User.Name, Guest: id.User.Name == doc.Guest, Roles: id.User.Roles, Modules: deskModules}
	if id.Session != nil {
		data.CSRF = id.Session.CSRF
	}
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, data); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		d.log.Error("desk: page", "err", err)
		return
	}
	noCache(w, "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store") // it carries the CSRF token
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("X-Frame-Options", "DENY")
	_, _ = w.Write(b.Bytes())
}

type pageData struct {
	Site, User, CSRF string
	Guest            bool
	Roles            []string
	Modules          []string
}

// deskModules are the desk's ES modules, preloaded by the page so they load in parallel.
var deskModules = func() []string {
	var out []string
	entries, _ := fs.ReadDir(static, "static")
	for _, e := range entries {
		if n := e.Name(); path.Ext(n) == ".js" && n != "login.js" && n != "desk.js" {
			out = append(out, n)
		}
	}
	return out
}()

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>livedoc</title>
<link rel="icon" href="/favicon.ico">
<link rel="stylesheet" href="/assets/desk/desk.css">
<script>
window.livedoc_site = {{.Site}};
window.frappe_user = {{.User}};
window.csrf_token = {{.CSRF}};
window.user_roles = {{.Roles}};
</script>
{{if .Guest}}<script type="module" src="/assets/desk/login.js"></script>{{else}}<script src="/assets/depends.js"></script>
<link rel="modulepreload" href="/assets/livedoc.js">
{{range .Modules}}<link rel="modulepreload" href="/assets/desk/{{.}}">
{{end}}<script type="module" src="/assets/desk/desk.js"></script>{{end}}
</head>
<body>
{{if .Guest}}
<main class="login">
  <form class="login-card" id="login-form" method="post" action="/api/method/login">
    <h1 class="login-title">Log in to <span class="brand">livedoc</span></h1>
    <label class="field-label" for="login-usr">User</label>
    <input class="input" id="login-usr" name="usr" autocomplete="username" required autofocus>
    <label class="field-label" for="login-pwd">Password</label>
    <input class="input" id="login-pwd" name="pwd" type="password" autocomplete="current-password" required>
    <p class="login-error" id="login-error" role="alert"></p>
    <button class="btn btn-primary" type="submit">Log in</button>
  </form>
</main>
{{else}}
<header class="navbar">
  <a class="brand" href="/app" data-link>livedoc</a>
  <nav class="crumbs" id="crumbs" aria-label="Breadcrumb"></nav>
  <span class="conn" id="conn" data-state="connecting" role="status" title="Realtime connection"><span class="conn-dot"></span><span class="conn-text">Connecting</span></span>
  <span class="me" id="me"></span>
</header>
<div class="progress" id="progress" hidden><div class="progress-bar"></div><span class="progress-text"></span></div>
<main class="main" id="main" tabindex="-1"><p class="muted">Loading…</p></main>
<div class="toasts" id="toasts" aria-live="polite"></div>
{{end}}
</body>
</html>
`))
