package origin

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		p      Policy
		origin string
		host   string
		ok     bool
	}{
		{Policy{}, "", "a.example:8000", true},
		{Policy{}, "http://a.example:8000", "a.example:8000", true},
		{Policy{}, "http://A.example:8000", "a.example:8000", true},
		{Policy{}, "http://a.example:3000", "a.example:8000", false},
		{Policy{SameHostname: true}, "http://a.example:3000", "a.example:8000", true},
		{Policy{SameHostname: true}, "https://a.example", "a.example:9000", true},
		{Policy{SameHostname: true}, "http://b.example:8000", "a.example:8000", false},
		{Policy{SameHostname: true}, "http://[::1]:3000", "[::1]:9000", true},
		{Policy{Allowed: []string{"https://app.example/"}}, "https://app.example", "a.example", true},
		{Policy{Allowed: []string{"https://app.example"}}, "https://app.example:444", "a.example", false},
		{Policy{Allowed: []string{"*"}}, "https://evil.example", "a.example", true},
		{Policy{SameHostname: true}, "null", "a.example", false},
		{Policy{SameHostname: true}, "file:///etc", "", false},
		{Policy{SameHostname: true}, "http://%zz", "a.example", false},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "http://"+c.host+"/socket.io/", nil)
		r.Host = c.host
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if err := c.p.Check(r); (err == nil) != c.ok {
			t.Errorf("%+v: Origin %q, Host %q: err %v, want ok=%v", c.p, c.origin, c.host, err, c.ok)
		}
	}
}

func TestHandlerCORS(t *testing.T) {
	reached := 0
	h := Policy{SameHostname: true, Allowed: []string{"*"}}.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
		w.WriteHeader(299)
	}))
	do := func(method, origin string, hdr ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "http://a.example:9000/socket.io/?EIO=4&transport=polling", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	// Same hostname, another port: the origin echoed, with credentials; the request goes through.
	w := do("GET", "http://a.example:8000")
	if w.Code != 299 || w.Header().Get("Access-Control-Allow-Origin") != "http://a.example:8000" ||
		w.Header().Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("allowed GET: %d %v", w.Code, w.Header())
	}
	// Allowed only through "*": never "*" with credentials.
	w = do("GET", "http://other.example")
	if w.Header().Get("Access-Control-Allow-Origin") != "*" || w.Header().Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("wildcard GET: %v", w.Header())
	}
	// A preflight is answered here, never by the Engine.IO server (which would say 400).
	before := reached
	w = do("OPTIONS", "http://a.example:8000", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	if w.Code != http.StatusNoContent || reached != before || w.Header().Get("Access-Control-Allow-Headers") != "content-type" ||
		w.Header().Get("Access-Control-Allow-Methods") != "GET, POST" {
		t.Fatalf("preflight: %d %v", w.Code, w.Header())
	}

	strict := Policy{}.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached++ }))
	r := httptest.NewRequest("OPTIONS", "http://a.example:9000/socket.io/", nil)
	r.Header.Set("Origin", "http://evil.example")
	w = httptest.NewRecorder()
	strict.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("refused preflight: %d %v", w.Code, w.Header())
	}
	r = httptest.NewRequest("GET", "http://a.example:9000/socket.io/", nil)
	r.Header.Set("Origin", "http://evil.example")
	w = httptest.NewRecorder()
	strict.ServeHTTP(w, r)
	if w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("CORS headers for a refused origin: %v", w.Header())
	}
}
