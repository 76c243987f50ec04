package scenario

import (
	"testing"
	"time"

	"github.com/livedoc/livedoc/bench/internal/hist"
)

const (
	v1 = "2026-01-02 03:04:05.000001"
	v2 = "2026-01-02 03:04:05.000002"
	v3 = "2026-01-02 03:04:05.000003"
	v4 = "2026-01-02 03:04:05.000004"
)

// A delta viewer patches its copy from a doc_update made against the version it shows, drops
// one already in its copy, and asks for a GET for anything else.
func TestViewerDelta(t *testing.T) {
	v := &viewer{fields: map[string]string{}}
	now := time.Now()
	if err := v.showDocLocked([]byte(`{"name":"n","modified":"`+v1+`","counter":0,"title":"t"}`), now); err != nil {
		t.Fatal(err)
	}
	upd := func(mod, prev, changed string) []byte {
		b := `{"doctype":"D","name":"n","modified":"` + mod + `"`
		if prev != "" {
			b += `,"prev_modified":"` + prev + `"`
		}
		if changed != "" {
			b += `,"changed":` + changed
		}
		return []byte(b + "}")
	}
	if !v.deltaLocked(upd(v2, v1, `{"counter":7}`), now) || v.modified != v2 || v.fields["counter"] != "7" || v.fields["title"] != `"t"` {
		t.Fatalf("a change against the version shown: %s %v", v.modified, v.fields)
	}
	if !v.deltaLocked(upd(v2, v1, `{"counter":7}`), now) || !v.deltaLocked(upd(v1, "", ""), now) || len(v.shown) != 2 {
		t.Fatalf("an update already in the copy was shown again: %v", v.shown)
	}
	for what, msg := range map[string][]byte{
		"a change against another version": upd(v4, v3, `{"counter":9}`),
		"Frappe's doc_update, no changed":  upd(v3, "", ""),
		"changed not an object":            upd(v3, v2, `[1]`),
		"no modified":                      []byte(`{"name":"n"}`),
	} {
		if v.deltaLocked(msg, now) {
			t.Errorf("%s: applied", what)
		}
	}
	if v.modified != v2 || v.fields["counter"] != "7" {
		t.Errorf("the copy changed: %s %v", v.modified, v.fields)
	}
	// A GET's answer older than the copy is not shown.
	if err := v.showDocLocked([]byte(`{"modified":"`+v1+`","counter":0}`), now); err != nil || v.modified != v2 {
		t.Errorf("an older document replaced the copy: %v %s", err, v.modified)
	}
}

// Each save is on screen when it, or a newer version, is: skipped versions count from their own
// commit; saves after the last version shown are not shown.
func TestTimeSaves(t *testing.T) {
	var lat hist.Histogram
	ms := int64(time.Millisecond)
	stamps := []int64{10 * ms, 20 * ms, 30 * ms, 40 * ms}
	shown := []shownAt{{stamp: 10 * ms, at: 12 * ms}, {stamp: 30 * ms, at: 35 * ms}}
	if n := timeSaves(&lat, stamps, shown); n != 1 {
		t.Errorf("not shown %d, want 1 (the save at 40 ms)", n)
	}
	// 2 ms (10 -> 12), 15 ms (20 shown with 30 at 35), 5 ms (30 -> 35).
	if lat.Count() != 3 || lat.Max() < 14*time.Millisecond || lat.Max() > 16*time.Millisecond {
		t.Errorf("latencies: count %d, max %s", lat.Count(), lat.Max())
	}
}
