package frappert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/livedoc/livedoc/internal/origin"
)

// Sites: which site a socket belongs to, and the two questions put to it. Each question is an HTTP
// call to the site (through --site-url, the bench's gunicorn, with X-Frappe-Site-Name so it picks
// the site) made on the asking socket's own goroutine with a deadline, never under a shared lock:
// a site that is slow or down delays and refuses its own sockets only.

// siteName is what a bench allows as a site's folder name; anything else is refused before it
// reaches a path or a header.
var siteName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$`)

// siteOf resolves the site of a handshake as Frappe's Node server does: X-Frappe-Site-Name, else
// the default site for a request to localhost, else the Origin's hostname, else the Host's.
func (s *Server) siteOf(r *http.Request) string {
	if h := r.Header.Get("X-Frappe-Site-Name"); h != "" {
		return origin.Hostname(h)
	}
	host := origin.Hostname(r.Host)
	if s.cfg.DefaultSite != "" && (host == "localhost" || host == "127.0.0.1" || host == "::1") {
		return s.cfg.DefaultSite
	}
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err == nil && u.Hostname() != "" {
			return u.Hostname()
		}
	}
	return host
}

// served reports whether this server serves site: one of Config.Sites, or a folder of
// Config.SitesDir with a site_config.json (so sites added to the bench are served at once).
func (s *Server) served(site string) bool {
	if !siteName.MatchString(site) {
		return false
	}
	for _, n := range s.cfg.Sites {
		if n == site {
			return true
		}
	}
	if s.cfg.SitesDir == "" {
		return false
	}
	fi, err := os.Stat(filepath.Join(s.cfg.SitesDir, site, "site_config.json"))
	return err == nil && fi.Mode().IsRegular()
}

// identity is who a socket is, as the site said.
type identity struct {
	User     string `json:"user"`
	UserType string `json:"user_type"`
}

// credential is what the socket authenticates with, forwarded to the site as Frappe's Node server
// does: the sid cookie alone, or else the Authorization header.
type credential struct {
	sid, authorization string
}

func credentialOf(r *http.Request) (credential, error) {
	var c credential
	if ck, err := r.Cookie("sid"); err == nil && ck.Value != "" {
		c.sid = ck.Value
	} else {
		c.authorization = r.Header.Get("Authorization")
	}
	if c.sid == "" && c.authorization == "" {
		return c, errors.New("No authentication method used. Use cookie or authorization header.") //lint:ignore ST1005 Frappe's Node server's text, which clients show
	}
	return c, nil
}

// key names the credential in caches and recovery without keeping it readable there.
func (c credential) key() string {
	if c.sid != "" {
		return "sid\x00" + c.sid
	}
	return "authorization\x00" + c.authorization
}

// errSite is a site that did not answer usefully (down, slow, 5xx): unlike a refusal, it is not
// remembered.
type errSite struct{ err error }

func (e errSite) Error() string { return "site unavailable: " + e.err.Error() }

// call GETs a method of site with the credential and decodes its "message" into out. A 401/403 is
// a refusal (errRefused); anything else that is not a 200 with JSON is errSite. Identical calls
// in flight at once (same site, credential, method and query) share one request.
func (s *Server) call(ctx context.Context, site string, cred credential, method string, q url.Values, out any) error {
	key := permKey(site, cred) + "\x00" + method + "?" + q.Encode()
	// The request outlives the asker that started it (its socket may go) as long as others wait;
	// SiteTimeout still bounds it.
	ctx = context.WithoutCancel(ctx)
	msg, err := s.flights.do(key, func() ([]byte, error) { return s.request(ctx, site, cred, method, q) },
		func() { s.metrics.siteShared.WithLabelValues(method).Inc() })
	if err != nil {
		return err
	}
	if err := json.Unmarshal(msg, out); err != nil {
		s.metrics.siteErrors.WithLabelValues(site).Inc()
		return errSite{fmt.Errorf("%s: unexpected answer: %w", method, err)}
	}
	return nil
}

// request makes one call and returns the answer's "message".
func (s *Server) request(ctx context.Context, site string, cred credential, method string, q url.Values) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SiteTimeout)
	defer cancel()
	u := strings.TrimSuffix(s.cfg.SiteURL, "/") + "/api/method/" + method
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, errSite{err}
	}
	req.Header.Set("X-Frappe-Site-Name", site)
	req.Header.Set("Accept", "application/json")
	if cred.sid != "" {
		req.AddCookie(&http.Cookie{Name: "sid", Value: cred.sid})
	} else {
		req.Header.Set("Authorization", cred.authorization)
	}
	start := time.Now()
	resp, err := s.client.Do(req)
	s.metrics.siteSeconds.WithLabelValues(method).Observe(time.Since(start).Seconds())
	if err != nil {
		s.metrics.siteErrors.WithLabelValues(site).Inc()
		return nil, errSite{err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case err != nil:
		s.metrics.siteErrors.WithLabelValues(site).Inc()
		return nil, errSite{err}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, errRefused
	case resp.StatusCode != http.StatusOK:
		s.metrics.siteErrors.WithLabelValues(site).Inc()
		return nil, errSite{fmt.Errorf("%s answered HTTP %d", method, resp.StatusCode)}
	}
	var env struct {
		Message json.RawMessage `json:"message"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		s.metrics.siteErrors.WithLabelValues(site).Inc()
		return nil, errSite{fmt.Errorf("%s: not JSON: %w", method, err)}
	}
	return env.Message, nil
}

// errRefused carries Frappe's Node server's text ("Unauthorized"), which clients show.
var errRefused = errors.New("Unauthorized")

// userInfo asks the site who the credential is (frappe.realtime.get_user_info).
func (s *Server) userInfo(ctx context.Context, site string, cred credential) (identity, error) {
	var id identity
	if err := s.call(ctx, site, cred, "frappe.realtime.get_user_info", nil, &id); err != nil {
		return id, err
	}
	if id.User == "" {
		return id, errRefused
	}
	return id, nil
}

// hasPermission asks the site whether the credential may read doctype (and the document name,
// when not empty) through frappe.realtime.has_permission. The name goes as both name and docname:
// Frappe versions differ in the parameter's name, and Frappe drops arguments a method does not
// take.
func (s *Server) hasPermission(ctx context.Context, site string, cred credential, doctype, name string) (bool, error) {
	q := url.Values{"doctype": {doctype}}
	if name != "" {
		q.Set("name", name)
		q.Set("docname", name)
	}
	var ok bool
	err := s.call(ctx, site, cred, "frappe.realtime.has_permission", q, &ok)
	if errors.Is(err, errRefused) {
		return false, nil
	}
	return ok, err
}

// benchDefaultSite is the default_site of a bench's common_site_config.json ("" when none).
func benchDefaultSite(sitesDir string) string {
	b, err := os.ReadFile(filepath.Join(sitesDir, "common_site_config.json"))
	if err != nil {
		return ""
	}
	var c struct {
		DefaultSite string `json:"default_site"`
	}
	_ = json.Unmarshal(b, &c)
	return c.DefaultSite
}
