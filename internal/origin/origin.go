// Package origin decides which browser Origins may open realtime connections, and answers their
// cross-origin (CORS) requests, so that a page on one origin can hold a socket on another: Frappe's
// developer mode and frappe-react-sdk's socketPort put the socket on another port than the page.
package origin

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Policy says which Origins may connect. A request's own host (same origin) always may; requests
// without an Origin are not from a browser page and pass (they still need credentials for
// anything private).
type Policy struct {
	// Allowed lists more Origins, exactly ("https://erp.example.com:8443"). "*" allows any Origin,
	// but then without credentials: a browser sends no cookie to a socket of another origin.
	Allowed []string
	// SameHostname allows the request's own hostname on any port and scheme (Frappe's rule).
	SameHostname bool
}

// Check returns nil when r's Origin may connect.
func (p Policy) Check(r *http.Request) error {
	_, err := p.decide(r.Header.Get("Origin"), r.Host)
	return err
}

// decide returns whether origin may connect with credentials (nil error, true) or only without
// them (nil error, false: allowed through "*").
func (p Policy) decide(origin, host string) (credentials bool, err error) {
	if origin == "" {
		return true, nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false, errors.New("origin not allowed: " + origin)
	}
	if strings.EqualFold(u.Host, host) || (p.SameHostname && strings.EqualFold(u.Hostname(), Hostname(host))) {
		return true, nil
	}
	wildcard := false
	for _, a := range p.Allowed {
		if a == "*" {
			wildcard = true
		} else if strings.EqualFold(strings.TrimSuffix(a, "/"), origin) {
			return true, nil
		}
	}
	if wildcard {
		return false, nil
	}
	return false, errors.New("origin not allowed: " + origin)
}

// Hostname is host without its port.
func Hostname(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.Trim(host, "[]")
}

// Handler answers CORS around next: an allowed Origin is echoed with credentials on every answer
// (the Engine.IO handshake, polls and posts alike), and a preflight (OPTIONS) is answered here,
// 204 for an allowed Origin and 403 otherwise. "*" is never sent with credentials.
func (p Policy) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		h := w.Header()
		h.Add("Vary", "Origin")
		credentials, err := p.decide(origin, r.Host)
		if err == nil && origin != "" {
			if credentials {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Credentials", "true")
			} else {
				h.Set("Access-Control-Allow-Origin", "*")
			}
		}
		if r.Method != http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		if err != nil || origin == "" {
			if err == nil {
				err = errors.New("a preflight needs an Origin")
			}
			body, _ := json.Marshal(map[string]any{"code": 4, "message": err.Error()})
			h.Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			w.Write(body)
			return
		}
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		if asked := r.Header.Get("Access-Control-Request-Headers"); asked != "" {
			h.Set("Access-Control-Allow-Headers", asked)
		}
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
	})
}
