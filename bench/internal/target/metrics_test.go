package target

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// A labelled sample is read too, named with its label values (the live-list counters are
// labelled by how a change was decided).
func TestLivedocMetrics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "token k:s" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		_, _ = w.Write([]byte("# HELP x y\n# TYPE x counter\nlivedoc_realtime_published_total 12\n" +
			"livedoc_realtime_live_list_updates_total{how=\"memory\"} 40\n" +
			"livedoc_realtime_live_list_updates_total{how=\"read\"} 2\n" +
			"x_bucket{a=\"1\",le=\"+Inf\"} 3\n"))
	}))
	defer srv.Close()
	l, err := newLivedoc(Options{URL: srv.URL, Token: "k:s"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := l.Metrics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"livedoc_realtime_published_total": 12, "livedoc_realtime_live_list_updates_total_memory": 40,
		"livedoc_realtime_live_list_updates_total_read": 2, "x_bucket_1_+Inf": 3}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, m[k], v, m)
		}
	}
}
