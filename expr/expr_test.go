package expr

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// testdata/cases.json is shared with tests/js/depends.test.mjs, which runs the same cases through
// depends.js in Node: the server and the browser agree case by case.
func TestHolds(t *testing.T) {
	b, err := os.ReadFile("testdata/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var tc struct {
		Doc, Parent map[string]any
		Ctx         struct {
			User  string
			Roles []string
		}
		Cases [][2]any
	}
	if err := json.Unmarshal(b, &tc); err != nil {
		t.Fatal(err)
	}
	ctx := Context{User: tc.Ctx.User, Roles: tc.Ctx.Roles}
	for _, c := range tc.Cases {
		e, want := c[0].(string), c[1].(bool)
		got, err := Holds(e, tc.Doc, tc.Parent, ctx)
		if err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", e, got, err, want)
		}
	}
}

func TestBadExpressionsAreErrors(t *testing.T) {
	for _, e := range []string{"eval:doc.", "eval:nope.x", "eval:(function(){ while (true) {} })()"} {
		if _, err := Holds(e, map[string]any{}, nil, Context{}); err == nil {
			t.Errorf("%q: no error", e)
		}
	}
	// The runtime still works after an interrupted one.
	if ok, err := Holds("eval:1 + 1 == 2", nil, nil, Context{}); !ok || err != nil {
		t.Fatalf("after a timeout: %v %v", ok, err)
	}
	if _, err := Holds("eval:"+strings.Repeat("(", 5), nil, nil, Context{}); err == nil {
		t.Error("unbalanced: no error")
	}
}
