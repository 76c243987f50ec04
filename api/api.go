// Package api serves Frappe's REST contract: /api/resource for documents, /api/method for
// whitelisted methods, login and logout, with Frappe's response and error shapes so Frappe's
// own clients (frappe-js-sdk, frappe-ui) work unchanged.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livedoc/livedoc/auth"
	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/store"
)

// Server holds the REST handlers and the whitelisted methods.
type Server struct {
	e       *doc.Engine
	auth    *auth.Service
	log     *slog.Logger
	maxBody int64

	mu      sync.RWMutex
	methods map[string]method
	source  MethodSource

	// diskFullLogged is when a full disk was last logged (unix ns): every write fails alike
	// until space is freed, and /api/health reports it meanwhile.
	diskFullLogged atomic.Int64
}

// Method is a whitelisted server function. It runs in a transaction as the calling user: one that
// commits for POST, PUT, DELETE and PATCH, and a read-only one for GET.
type Method func(c *doc.Context, args Args) (any, error)

// MethodOptions say who may call a method and how.
type MethodOptions struct {
	AllowGuest bool     // callable without logging in
	Methods    []string // HTTP methods allowed; default GET and POST
}

type method struct {
	fn   Method
	opts MethodOptions
}

// DefaultMaxBody is the largest request body accepted.
const DefaultMaxBody = 10 << 20

// New makes the API server.
func New(e *doc.Engine, a *auth.Service, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{e: e, auth: a, log: log, maxBody: DefaultMaxBody, methods: map[string]method{}}
	s.registerBuiltins()
	return s
}

// Whitelist exposes fn at /api/method/<name>.
func (s *Server) Whitelist(name string, fn Method, opts MethodOptions) {
	if len(opts.Methods) == 0 {
		opts.Methods = []string{http.MethodGet, http.MethodPost}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.methods[name] = method{fn: fn, opts: opts}
}

// Routes registers the API's handlers on mux.
func (s *Server) Routes(mux *http.ServeMux) {
	mux.Handle("POST /api/method/login", s.handle(s.login))
	mux.Handle("/api/method/logout", s.handle(s.logout))
	mux.Handle("/api/method/{method}", s.handle(s.callMethod))
	mux.Handle("GET /api/resource/{doctype}", s.handle(s.listDocs))
	mux.Handle("POST /api/resource/{doctype}", s.handle(s.createDoc))
	mux.Handle("GET /api/resource/{doctype}/{name...}", s.handle(s.getDoc))
	mux.Handle("PUT /api/resource/{doctype}/{name...}", s.handle(s.updateDoc))
	mux.Handle("DELETE /api/resource/{doctype}/{name...}", s.handle(s.deleteDoc))
	mux.Handle("/api/", s.handle(func(w http.ResponseWriter, r *http.Request, id *auth.Identity) error {
		return &httpError{status: http.StatusNotFound, typ: "DoesNotExistError", msg: "No API at " + r.URL.Path}
	}))
}

// Identity resolves who a request is from; other HTTP layers (realtime, desk) use it too.
func (s *Server) Identity(r *http.Request) (*auth.Identity, error) { return s.auth.Authenticate(r) }

// HandlerFunc is an API handler: it gets the caller's identity, and errors it returns are answered
// in Frappe's shape.
type HandlerFunc func(w http.ResponseWriter, r *http.Request, id *auth.Identity) error

// Handler wraps h the way every API endpoint is wrapped, for endpoints other packages serve.
func (s *Server) Handler(h HandlerFunc) http.Handler { return s.handle(h) }

// HandlerLimit is Handler for an endpoint whose bodies may be larger (or must be smaller) than
// other requests' (uploads).
func (s *Server) HandlerLimit(maxBody int64, h HandlerFunc) http.Handler {
	return s.handleLimit(maxBody, h)
}

// WriteJSON answers with a JSON body.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

// ReadArgs reads a request's arguments from its query string and JSON or form body.
func ReadArgs(r *http.Request) (Args, error) { return readArgs(r) }

// handle is every API request's way in: body limit, identity, CSRF, and errors in Frappe's shape.
func (s *Server) handle(h HandlerFunc) http.Handler { return s.handleLimit(s.maxBody, h) }

func (s *Server) handleLimit(maxBody int64, h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic in API handler", "path", r.URL.Path, "panic", p)
				s.writeError(w, fmt.Errorf("internal error"))
			}
		}()
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		id, err := s.auth.Authenticate(r)
		if err != nil {
			s.writeError(w, err)
			return
		}
		if id.Session != nil && unsafeMethod(r.Method) && r.URL.Path != "/api/method/login" {
			if tok := r.Header.Get("X-Frappe-CSRF-Token"); tok == "" || tok != id.Session.CSRF {
				s.writeError(w, &httpError{status: http.StatusBadRequest, typ: "CSRFTokenError", msg: "Invalid Request: missing or wrong X-Frappe-CSRF-Token"})
				return
			}
		}
		r = r.WithContext(auth.WithIdentity(r.Context(), id))
		if err := h(w, r, id); err != nil {
			s.writeError(w, err)
		}
	})
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// run runs fn in a transaction as the request's user: a write transaction for unsafe methods,
// a read-only one for GET, as Frappe commits only on POST/PUT/DELETE/PATCH.
func (s *Server) run(r *http.Request, id *auth.Identity, fn func(c *doc.Context) error) error {
	return s.e.Run(r.Context(), id.User, unsafeMethod(r.Method), fn)
}

// Run runs fn in a write transaction as user, for in-process callers of methods.
func (s *Server) Run(ctx context.Context, user *doc.User, fn func(c *doc.Context) error) error {
	return s.e.Run(ctx, user, true, fn)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type httpError struct {
	status int
	typ    string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// statuses maps Frappe's exception classes to HTTP statuses, as Frappe does.
var statuses = map[string]int{
	doc.ValidationError: 417, doc.MandatoryError: 417, doc.LinkValidationError: 417,
	doc.TimestampMismatchError: 417, doc.DocstatusTransition: 417, doc.UpdateAfterSubmitError: 417,
	doc.PermissionError: 403, doc.DoesNotExistError: 404, doc.DuplicateEntryError: 409,
	doc.LinkExistsError: 417, doc.DataError: 400, auth.AuthenticationError: 401,
}

// writeError answers in Frappe's error shape: exc_type, exception, and _server_messages (a JSON
// list of JSON-encoded message objects, as frappe.msgprint queues them).
func (s *Server) writeError(w http.ResponseWriter, err error) {
	status, typ, msg := http.StatusInternalServerError, "Exception", "Internal Server Error"
	var he *httpError
	var mbe *http.MaxBytesError
	var te *auth.ThrottledError
	switch {
	case errors.As(err, &he):
		status, typ, msg = he.status, he.typ, he.msg
	case errors.As(err, &mbe):
		status, typ, msg = http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", fmt.Sprintf("Request body larger than %d bytes", mbe.Limit)
	case errors.As(err, &te):
		status, typ, msg = http.StatusTooManyRequests, "TooManyRequestsError", te.Error()
	default:
		if de, ok := doc.AsError(err); ok {
			typ, msg = de.Type, de.Message
			if st, ok := statuses[de.Type]; ok {
				status = st
			} else {
				status = 417
			}
		} else if errors.Is(err, context.Canceled) {
			status, msg = 499, "Request cancelled"
		} else if store.IsDiskFull(err) {
			status, typ, msg = http.StatusInsufficientStorage, "InsufficientStorageError",
				"The database's disk is full: nothing was saved. Free disk space on the server, then try again"
			if now, last := time.Now().UnixNano(), s.diskFullLogged.Load(); now-last >= int64(10*time.Second) && s.diskFullLogged.CompareAndSwap(last, now) {
				s.log.Error("database disk full: writes are refused until space is freed", "err", err)
			}
		} else if store.IsUnavailable(err) {
			status, typ, msg = http.StatusServiceUnavailable, "ServiceUnavailable", "The database is not reachable right now; try again shortly"
			s.log.Warn("database unavailable", "err", err)
		} else {
			s.log.Error("request failed", "err", err)
		}
	}
	inner, _ := json.Marshal(map[string]any{"message": msg, "title": "Message", "indicator": "red", "raise_exception": 1})
	outer, _ := json.Marshal([]string{string(inner)})
	writeJSON(w, status, map[string]any{
		"exc_type":         typ,
		"exception":        "frappe.exceptions." + typ + ": " + msg,
		"_server_messages": string(outer),
	})
}

// Args are a method's arguments, from the query string, a form or a JSON body.
type Args map[string]any

// String returns an argument as text.
func (a Args) String(k string) string {
	switch v := a[k].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// JSON returns an argument decoded from JSON when it was sent as text (as query strings and forms
// send lists and objects), or as it is.
func (a Args) JSON(k string) (any, error) {
	s, ok := a[k].(string)
	if !ok {
		return a[k], nil
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if !strings.HasPrefix(s, "{") && !strings.HasPrefix(s, "[") && !strings.HasPrefix(s, `"`) {
		return s, nil
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, &httpError{status: http.StatusBadRequest, typ: "DataError", msg: fmt.Sprintf("%s: invalid JSON: %v", k, err)}
	}
	return v, nil
}

// readArgs merges the query string with a JSON object body or a form body.
func readArgs(r *http.Request) (Args, error) {
	args, err := readBody(r)
	if err != nil {
		return nil, err
	}
	for k, v := range r.URL.Query() {
		if _, inBody := args[k]; !inBody {
			args[k] = v[len(v)-1]
		}
	}
	return args, nil
}

// readBody reads a JSON object body or a form body.
func readBody(r *http.Request) (Args, error) {
	args := Args{}
	if r.Body == nil || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return args, nil
	}
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/json"):
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		var body any
		if err := dec.Decode(&body); err != nil {
			if err.Error() == "EOF" {
				return args, nil
			}
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, err
			}
			return nil, &httpError{status: http.StatusBadRequest, typ: "DataError", msg: "Invalid JSON body: " + err.Error()}
		}
		obj, ok := denumber(body).(map[string]any)
		if !ok && body != nil {
			return nil, &httpError{status: http.StatusBadRequest, typ: "DataError", msg: "The JSON body must be an object"}
		}
		for k, v := range obj {
			args[k] = v
		}
	case strings.HasPrefix(ct, "application/x-www-form-urlencoded"), strings.HasPrefix(ct, "multipart/form-data"):
		if err := r.ParseMultipartForm(1 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, err
			}
			return nil, &httpError{status: http.StatusBadRequest, typ: "DataError", msg: "Invalid form body: " + err.Error()}
		}
		for k, v := range r.PostForm {
			args[k] = v[len(v)-1]
		}
	default:
		if b, _ := io.ReadAll(io.LimitReader(r.Body, 1)); len(b) > 0 {
			return nil, &httpError{status: http.StatusUnsupportedMediaType, typ: "DataError", msg: "Send JSON (application/json) or a form"}
		}
	}
	return args, nil
}

// denumber turns json.Number into float64, keeping integers exact up to 2^53.
func denumber(v any) any {
	switch t := v.(type) {
	case json.Number:
		f, _ := t.Float64()
		return f
	case map[string]any:
		for k, x := range t {
			t[k] = denumber(x)
		}
	case []any:
		for i, x := range t {
			t[i] = denumber(x)
		}
	}
	return v
}

func allowed(m method, httpMethod string) bool {
	return slices.Contains(m.opts.Methods, httpMethod) || (httpMethod == http.MethodHead && slices.Contains(m.opts.Methods, http.MethodGet))
}
