package api

import (
	"net"
	"net/http"
	"strings"

	"github.com/livedoc/livedoc/auth"
	"github.com/livedoc/livedoc/doc"
)

// /api/method/{method}: a whitelisted method; unknown → 404, not allowed → 403, wrong HTTP
// method → 405.
func (s *Server) callMethod(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	name := r.PathValue("method")
	s.mu.RLock()
	m, ok := s.methods[name]
	source := s.source
	s.mu.RUnlock()
	if !ok && source != nil {
		m.fn, m.opts, ok = source(name)
	}
	if !ok {
		return &httpError{status: http.StatusNotFound, typ: "DoesNotExistError", msg: "Method " + name + " not found"}
	}
	if !allowed(m, r.Method) {
		return &httpError{status: http.StatusMethodNotAllowed, typ: "PermissionError", msg: "Method " + name + " does not take " + r.Method}
	}
	if id.User.Name == doc.Guest && !m.opts.AllowGuest {
		return &httpError{status: http.StatusForbidden, typ: doc.PermissionError, msg: "Not permitted: log in to call " + name}
	}
	args, err := readArgs(r)
	if err != nil {
		return err
	}
	delete(args, "cmd")
	var result any
	err = s.run(r, id, func(c *doc.Context) error {
		result, err = m.fn(c, args)
		return err
	})
	if err != nil {
		return err
	}
	if result == nil {
		writeJSON(w, http.StatusOK, map[string]any{})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": result})
	return nil
}

// MethodSource provides methods that Go did not whitelist, by name (API Server Scripts, which
// change at runtime); Go's methods are found first.
type MethodSource func(name string) (Method, MethodOptions, bool)

// SetMethodSource installs the source of methods beyond the whitelisted ones.
func (s *Server) SetMethodSource(src MethodSource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.source = src
}

// HasMethod reports whether Go whitelisted a method called name.
func (s *Server) HasMethod(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.methods[name]
	return ok
}

// POST /api/method/login with usr and pwd: sets the HttpOnly sid cookie and returns the
// session's CSRF token in the body and the X-Frappe-CSRF-Token header.
func (s *Server) login(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	args, err := readArgs(r)
	if err != nil {
		return err
	}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	sid, sess, err := s.auth.Login(r.Context(), args.String("usr"), args.String("pwd"), ip)
	if err != nil {
		return err
	}
	var fullName string
	_ = s.e.Run(r.Context(), doc.AdminUser, false, func(c *doc.Context) error {
		u, err := c.Get("User", sess.User)
		if err == nil {
			fullName = u.String("full_name")
		}
		return err
	})
	// Secure when the browser speaks HTTPS, also to a proxy that terminates TLS (X-Forwarded-Proto).
	// A forged header only keeps the forger's own cookie from coming back over plain HTTP.
	secure := r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
	http.SetCookie(w, &http.Cookie{Name: "sid", Value: sid, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteLaxMode, Expires: sess.Expires})
	http.SetCookie(w, &http.Cookie{Name: "user_id", Value: sess.User, Path: "/", SameSite: http.SameSiteLaxMode, Expires: sess.Expires})
	w.Header().Set("X-Frappe-CSRF-Token", sess.CSRF)
	writeJSON(w, http.StatusOK, map[string]any{"message": "Logged In", "home_page": "/app", "full_name": fullName, "csrf_token": sess.CSRF})
	return nil
}

// POST /api/method/logout ends the cookie session. Only POST, so that handle's CSRF check covers
// it: by GET any page (an <img src>) could log the user out. The route takes every method, so that
// the others get this 405 rather than callMethod's 404 for an unknown method.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return &httpError{status: http.StatusMethodNotAllowed, typ: doc.PermissionError, msg: "Method logout does not take " + r.Method}
	}
	if id.Session != nil {
		if err := s.auth.Logout(r.Context(), id.Session); err != nil {
			return err
		}
	}
	for _, name := range []string{"sid", "user_id"} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1})
	}
	writeJSON(w, http.StatusOK, map[string]any{})
	return nil
}

// registerBuiltins whitelists the methods Frappe's clients call: ping, the session user, the
// frappe.client helpers used by frappe-js-sdk, and API key generation.
func (s *Server) registerBuiltins() {
	get := MethodOptions{Methods: []string{http.MethodGet, http.MethodPost}}
	post := MethodOptions{Methods: []string{http.MethodPost, http.MethodPut}}
	s.Whitelist("ping", func(c *doc.Context, a Args) (any, error) { return "pong", nil },
		MethodOptions{AllowGuest: true})
	s.Whitelist("frappe.auth.get_logged_user", func(c *doc.Context, a Args) (any, error) { return c.User.Name, nil }, get)

	s.Whitelist("frappe.client.get_count", func(c *doc.Context, a Args) (any, error) {
		filters, err := doc.ParseFilters(a["filters"])
		if err != nil {
			return nil, err
		}
		return c.Count(a.String("doctype"), filters)
	}, get)
	s.Whitelist("frappe.client.get_list", func(c *doc.Context, a Args) (any, error) {
		q, err := listQuery(a, 20)
		if err != nil {
			return nil, err
		}
		return c.List(a.String("doctype"), q)
	}, get)
	s.Whitelist("frappe.client.get", func(c *doc.Context, a Args) (any, error) {
		return c.Get(a.String("doctype"), a.String("name"))
	}, get)
	s.Whitelist("frappe.client.get_value", s.getValue, get)
	s.Whitelist("frappe.client.get_single_value", func(c *doc.Context, a Args) (any, error) {
		d, err := c.Get(a.String("doctype"), a.String("doctype"))
		if err != nil {
			return nil, err
		}
		return d[a.String("field")], nil
	}, get)
	s.Whitelist("frappe.client.set_value", func(c *doc.Context, a Args) (any, error) {
		values := map[string]any{}
		fv, err := a.JSON("fieldname")
		if err != nil {
			return nil, err
		}
		if m, ok := fv.(map[string]any); ok {
			values = m
		} else {
			values[a.String("fieldname")] = a["value"]
		}
		return c.Update(a.String("doctype"), a.String("name"), values)
	}, post)
	s.Whitelist("frappe.client.insert", func(c *doc.Context, a Args) (any, error) {
		d, err := docArg(a)
		if err != nil {
			return nil, err
		}
		return c.Insert(d)
	}, post)
	s.Whitelist("frappe.client.save", func(c *doc.Context, a Args) (any, error) {
		d, err := docArg(a)
		if err != nil {
			return nil, err
		}
		return c.Save(d)
	}, post)
	s.Whitelist("frappe.client.submit", func(c *doc.Context, a Args) (any, error) {
		d, err := docArg(a)
		if err != nil {
			return nil, err
		}
		return c.Submit(d)
	}, post)
	s.Whitelist("frappe.client.cancel", func(c *doc.Context, a Args) (any, error) {
		return c.Cancel(a.String("doctype"), a.String("name"))
	}, post)
	s.Whitelist("frappe.client.delete", func(c *doc.Context, a Args) (any, error) {
		return nil, c.Delete(a.String("doctype"), a.String("name"))
	}, MethodOptions{Methods: []string{http.MethodPost, http.MethodDelete}})
	s.Whitelist("frappe.client.rename_doc", func(c *doc.Context, a Args) (any, error) {
		if m := a["merge"]; m == true || m == "1" || m == "true" {
			return nil, doc.Errorf(doc.ValidationError, "Merging documents on rename is not supported")
		}
		d, err := c.Rename(a.String("doctype"), a.String("old_name"), a.String("new_name"))
		if err != nil {
			return nil, err
		}
		return d.Name(), nil
	}, post)
	s.Whitelist("frappe.core.doctype.user.user.update_password", func(c *doc.Context, a Args) (any, error) {
		if err := s.auth.UpdatePassword(c, a.String("old_password"), a.String("new_password")); err != nil {
			return nil, err
		}
		return "/app", nil // Frappe answers with the home page
	}, post)
	s.Whitelist("frappe.core.doctype.user.user.generate_keys", func(c *doc.Context, a Args) (any, error) {
		key, secret, err := s.auth.GenerateKeys(c, a.String("user"))
		if err != nil {
			return nil, err
		}
		return map[string]any{"api_key": key, "api_secret": secret}, nil
	}, post)
}

// getValue is frappe.client.get_value: fieldname (one name or a JSON list) of the first document
// matching filters (a name, or filters in any form).
func (s *Server) getValue(c *doc.Context, a Args) (any, error) {
	fv, err := a.JSON("fieldname")
	if err != nil {
		return nil, err
	}
	var fields []string
	switch f := fv.(type) {
	case string:
		fields = []string{f}
	case []any:
		for _, x := range f {
			if s, ok := x.(string); ok {
				fields = append(fields, s)
			}
		}
	}
	if len(fields) == 0 {
		fields = []string{"name"}
	}
	fl, err := a.JSON("filters")
	if err != nil {
		return nil, err
	}
	var filters []doc.Filter
	if name, ok := fl.(string); ok {
		filters = []doc.Filter{{Field: "name", Op: "=", Value: name}}
	} else if filters, err = doc.ParseFilters(fl); err != nil {
		return nil, err
	}
	rows, err := c.List(a.String("doctype"), doc.Query{Fields: fields, Filters: filters, Limit: 1})
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	if asDict := a.String("as_dict"); asDict == "false" || asDict == "0" {
		if len(fields) == 1 {
			return rows[0][fields[0]], nil
		}
		out := make([]any, len(fields))
		for i, f := range fields {
			out[i] = rows[0][f]
		}
		return out, nil
	}
	return rows[0], nil
}

func docArg(a Args) (doc.Doc, error) {
	v, err := a.JSON("doc")
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, doc.Errorf(doc.DataError, "doc must be a document object")
	}
	return m, nil
}
