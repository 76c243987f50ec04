package scenario

import (
	"testing"
	"time"

	"github.com/livedoc/livedoc/bench/internal/hist"
)

// A row that appears or changes on a screen is timed from its modified; a row that leaves is
// timed from its own latest change only when that change took it out of the client's range (a
// delete, or its counter moved out): a row pushed past the limit by another is that other's.
func TestTimeRow(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ms := int64(time.Millisecond)
	ld := &listData{last: map[string]lastChange{
		"deleted":   {stamp: at.UnixNano(), counter: 15, deleted: true},
		"moved-out": {stamp: at.UnixNano(), counter: 99},
		"pushed":    {stamp: at.UnixNano(), counter: 12},
	}}
	c := &listClient{lo: 10, hi: 20}
	now := at.UnixNano() + 30*ms
	for _, tc := range []struct {
		what  string
		name  string
		after row
		timed bool
	}{
		{"a row that appeared", "new", row{"name": "new", "modified": "2026-01-02 03:04:05.000000"}, true},
		{"a deleted row", "deleted", nil, true},
		{"a row whose counter left the range", "moved-out", nil, true},
		{"a row pushed out while in range", "pushed", nil, false},
		{"a row the writers never changed", "unknown", nil, false},
		{"a row without modified", "bare", row{"name": "bare"}, false},
	} {
		var lat hist.Histogram
		ld.timeRow(&lat, c, tc.name, now, tc.after)
		if got := lat.Count() == 1; got != tc.timed {
			t.Errorf("%s: timed %v, want %v", tc.what, got, tc.timed)
		}
		if tc.timed && (lat.Max() < 29*time.Millisecond || lat.Max() > 31*time.Millisecond) {
			t.Errorf("%s: %s, want 30 ms", tc.what, lat.Max())
		}
	}
}
