package scenario

import (
	"reflect"
	"strings"
	"testing"
)

func rowsOf(spec string) []row {
	var rows []row
	for f := range strings.FieldsSeq(spec) {
		name, v, _ := strings.Cut(f, "=")
		rows = append(rows, row{"name": name, "v": v})
	}
	return rows
}

func at(i int) *int { return &i }

// The change sequences livedoc's diff sends (realtime/livelist.go: removes first, then for each
// position of the new rows an insert, a move, with the row when it changed too, or an update)
// turn the old rows into the new ones.
func TestApplyChange(t *testing.T) {
	for _, tc := range []struct {
		what     string
		old, new string
		changes  []listChange
	}{
		{"insert at the top", "a=1 b=1", "c=1 a=1 b=1",
			[]listChange{{Op: "insert", Name: "c", Row: row{"name": "c", "v": "1"}, Index: at(0)}}},
		{"insert at the end", "a=1", "a=1 c=1",
			[]listChange{{Op: "insert", Name: "c", Row: row{"name": "c", "v": "1"}, Index: at(1)}}},
		{"update in place", "a=1 b=1", "a=1 b=2",
			[]listChange{{Op: "update", Name: "b", Row: row{"name": "b", "v": "2"}, Index: at(1)}}},
		{"remove (a delete, or out of the filter)", "a=1 b=1 c=1", "a=1 c=1",
			[]listChange{{Op: "remove", Name: "b"}}},
		{"a move without change", "a=1 b=1 c=1", "c=1 a=1 b=1",
			[]listChange{{Op: "move", Name: "c", Index: at(0)}}},
		{"a move with its new row", "a=1 b=1 c=1", "b=1 c=1 a=9",
			[]listChange{{Op: "move", Name: "b", Index: at(0)}, {Op: "move", Name: "c", Index: at(1)},
				{Op: "update", Name: "a", Row: row{"name": "a", "v": "9"}, Index: at(2)}}},
		{"pushed past the limit by an insert", "a=1 b=1", "c=1 a=1",
			[]listChange{{Op: "remove", Name: "b"}, {Op: "insert", Name: "c", Row: row{"name": "c", "v": "1"}, Index: at(0)}}},
		{"everything at once", "a=1 b=1 c=1 d=1", "d=2 x=1 a=1",
			[]listChange{{Op: "remove", Name: "b"}, {Op: "remove", Name: "c"},
				{Op: "move", Name: "d", Row: row{"name": "d", "v": "2"}, Index: at(0)},
				{Op: "insert", Name: "x", Row: row{"name": "x", "v": "1"}, Index: at(1)}}},
		{"to empty", "a=1", "", []listChange{{Op: "remove", Name: "a"}}},
	} {
		rows := rowsOf(tc.old)
		var err error
		for _, ch := range tc.changes {
			if rows, err = applyChange(rows, ch); err != nil {
				t.Fatalf("%s: %v", tc.what, err)
			}
		}
		if want := rowsOf(tc.new); !reflect.DeepEqual(rows, want) && (len(rows) != 0 || len(want) != 0) {
			t.Errorf("%s: got %v, want %v", tc.what, rows, want)
		}
	}
}

// A change that does not fit the rows is an error, not silently ignored as the JS client does.
func TestApplyChangeRefuses(t *testing.T) {
	for _, tc := range []struct {
		what string
		ch   listChange
	}{
		{"remove of an unknown row", listChange{Op: "remove", Name: "x"}},
		{"insert of a row already there", listChange{Op: "insert", Name: "a", Row: row{"name": "a"}, Index: at(0)}},
		{"insert past the end", listChange{Op: "insert", Name: "x", Row: row{"name": "x"}, Index: at(3)}},
		{"insert without an index", listChange{Op: "insert", Name: "x", Row: row{"name": "x"}}},
		{"insert of another row", listChange{Op: "insert", Name: "x", Row: row{"name": "y"}, Index: at(0)}},
		{"update at another row's index", listChange{Op: "update", Name: "a", Row: row{"name": "a"}, Index: at(1)}},
		{"update of an unknown row", listChange{Op: "update", Name: "x", Row: row{"name": "x"}, Index: at(0)}},
		{"move of an unknown row", listChange{Op: "move", Name: "x", Index: at(0)}},
		{"move past the end", listChange{Op: "move", Name: "a", Index: at(2)}},
		{"an unknown op", listChange{Op: "replace", Name: "a"}},
	} {
		if _, err := applyChange(rowsOf("a=1 b=1"), tc.ch); err == nil {
			t.Errorf("%s: applied", tc.what)
		}
	}
}
