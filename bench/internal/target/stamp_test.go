package target

import (
	"testing"
	"time"
)

func TestParseStamp(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"2026-11-29 18:33:29.123456", time.Date(2026, 11, 29, 18, 33, 29, 123456000, time.UTC)},
		{"2026-11-29 18:33:29.123Z", time.Date(2026, 11, 29, 18, 33, 29, 123000000, time.UTC)},
		{"2026-01-02 03:04:05", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"2026-01-02 03:04:05Z", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"2026-01-02 03:04:05.5", time.Date(2026, 1, 2, 3, 4, 5, 500000000, time.UTC)},
		{"2026-01-02 03:04:05.123456789", time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)},
		{"2026-01-02 03:04:05.", time.Time{}},
		{"2026-01-02 03:04:05.1234567891", time.Time{}},
		{"2026-01-02T03:04:05", time.Time{}},
		{"2026-13-02 03:04:05", time.Time{}},
		{"2026-01-02 03:04:05+01", time.Time{}},
		{"2026-0a-02 03:04:05", time.Time{}},
		{"", time.Time{}},
	} {
		if got := ParseStamp(tc.in); !got.Equal(tc.want) {
			t.Errorf("ParseStamp(%q) = %v, want %v", tc.in, got, tc.want)
		}
		if got := ParseStamp([]byte(tc.in)); !got.Equal(tc.want) {
			t.Errorf("ParseStamp([]byte(%q)) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseUpdate(t *testing.T) {
	l := &livedoc{}
	name, stamp, ok := l.ParseUpdate("doc_update", []byte(`{"doctype":"Bench Doc","name":"BD-1","modified":"2026-11-29 18:33:29.000001","data":{"x":[1,{"y":"}"}]}}`))
	if !ok || name != "BD-1" || !stamp.Equal(time.Date(2026, 11, 29, 18, 33, 29, 1000, time.UTC)) {
		t.Errorf("livedoc doc_update: %q %v %v", name, stamp, ok)
	}
	name, stamp, ok = l.ParseUpdate("list_update", []byte(`{"doctype":"Bench Doc","name":"BD-\u0031","user":"a"}`))
	if !ok || name != "BD-1" || !stamp.IsZero() {
		t.Errorf("livedoc list_update: %q %v %v", name, stamp, ok)
	}
	if _, _, ok := l.ParseUpdate("doc_update", []byte(`{"doctype":"Bench Doc"}`)); ok {
		t.Error("livedoc: an update without a name was accepted")
	}
	p := &pocketbase{}
	name, stamp, ok = p.ParseUpdate("x", []byte(`{"action":"update","record":{"updated":"2026-11-29 18:33:29.250Z","id":"abc"}}`))
	if !ok || name != "abc" || !stamp.Equal(time.Date(2026, 11, 29, 18, 33, 29, 250000000, time.UTC)) {
		t.Errorf("pocketbase: %q %v %v", name, stamp, ok)
	}
	if _, _, ok := p.ParseUpdate("x", []byte(`{"action":"update","record":"abc"}`)); ok {
		t.Error("pocketbase: a record that is not an object was accepted")
	}
}
