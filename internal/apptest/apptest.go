// Package apptest runs a livedoc App with the sample invoice app behind a test HTTP server, and
// HTTP clients that talk to it as a browser (cookie session, CSRF token) or an API client (token)
// would. The api and desk tests share it.
package apptest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/livedoc/livedoc"
	"github.com/livedoc/livedoc/examples/invoice"
	"github.com/livedoc/livedoc/store/storetest"
)

// AdminPassword is the Administrator's password in every Env.
const AdminPassword = "admin-test-pw"

// Env is one App serving the sample app, on a database of the test's own (storetest).
type Env struct {
	T   testing.TB
	App *livedoc.App
	Srv *httptest.Server
}

// New starts an Env, stopped when the test ends.
func New(t testing.TB) *Env {
	t.Helper()
	ctx := context.Background()
	app, err := livedoc.New(ctx, livedoc.Config{DataDir: t.TempDir(), Database: storetest.DSN(t), AdminPassword: AdminPassword})
	if err != nil {
		t.Fatal(err)
	}
	if err := invoice.Register(ctx, app, nil); err != nil {
		t.Fatal(err)
	}
	return Serve(t, app)
}

// Serve puts app behind a test HTTP server, both stopped when the test ends.
func Serve(t testing.TB, app *livedoc.App) *Env {
	srv := httptest.NewServer(app.Handler())
	t.Cleanup(func() { srv.Close(); app.Close() })
	return &Env{T: t, App: app, Srv: srv}
}

// Client is one HTTP peer: a cookie jar, and a CSRF token or an API token when set. It does not
// follow redirects, so tests see them.
type Client struct {
	e     *Env
	HTTP  *http.Client
	CSRF  string
	Token string // key:secret, sent as Authorization: token ...
}

// Anon is a client with no session.
func (e *Env) Anon() *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{e: e, HTTP: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// WithToken is a client that authenticates with an API token (key:secret) and keeps no cookies.
func (e *Env) WithToken(token string) *Client {
	c := e.Anon()
	c.HTTP.Jar, c.Token = nil, token
	return c
}

// With is a client sharing c's cookies, with the given CSRF token.
func (c *Client) With(csrf string) *Client { return &Client{e: c.e, HTTP: c.HTTP, CSRF: csrf} }

// Login is a client logged in with a cookie session and its CSRF token.
func (e *Env) Login(usr, pwd string) *Client {
	e.T.Helper()
	c := e.Anon()
	status, body := c.JSON("POST", "/api/method/login", map[string]any{"usr": usr, "pwd": pwd})
	if status != 200 {
		e.T.Fatalf("login %s: %d %v", usr, status, body)
	}
	c.CSRF = body["csrf_token"].(string)
	return c
}

// NewUser creates a System User with roles (password "pw-" + email) and logs it in.
func (e *Env) NewUser(email string, roles ...string) *Client {
	e.T.Helper()
	admin := e.Login("Administrator", AdminPassword)
	rows := []any{}
	for _, r := range roles {
		rows = append(rows, map[string]any{"role": r})
	}
	status, body := admin.JSON("POST", "/api/resource/User", map[string]any{"email": email, "first_name": "U", "new_password": "pw-" + email, "roles": rows})
	if status != 200 {
		e.T.Fatalf("create user %s: %d %v", email, status, body)
	}
	return e.Login(email, "pw-"+email)
}

// Request sends body (nil, a string, []byte, or anything else as JSON) with Content-Type ctype.
func (c *Client) Request(method, path, ctype string, body any) *http.Response {
	c.e.T.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = strings.NewReader(string(b))
	default:
		j, _ := json.Marshal(b)
		r = strings.NewReader(string(j))
	}
	req, _ := http.NewRequest(method, c.e.Srv.URL+path, r)
	if r != nil {
		req.Header.Set("Content-Type", ctype)
	}
	if c.CSRF != "" {
		req.Header.Set("X-Frappe-CSRF-Token", c.CSRF)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "token "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.e.T.Fatal(err)
	}
	return resp
}

// Raw is Request, returning the status and the whole body.
func (c *Client) Raw(method, path, ctype string, body any) (int, []byte) {
	c.e.T.Helper()
	resp := c.Request(method, path, ctype, body)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// JSON sends body as JSON and decodes the JSON answer; a non-JSON answer fails the test.
func (c *Client) JSON(method, path string, body any) (int, map[string]any) {
	c.e.T.Helper()
	status, raw := c.Raw(method, path, "application/json", body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		c.e.T.Fatalf("%s %s: non-JSON answer %d %q", method, path, status, raw)
	}
	return status, out
}

// Text GETs path and returns the response and its body.
func (c *Client) Text(path string) (*http.Response, string) {
	c.e.T.Helper()
	resp := c.Request("GET", path, "", nil)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}
