package expr

import (
	"strings"
	"testing"
)

func TestHolds(t *testing.T) {
	doc := map[string]any{"status": "Open", "qty": int64(0), "amount": 12.5, "items": []any{map[string]any{"x": 1}},
		"none": []any{}, "note": ""}
	ctx := Context{User: "a@example.com", Roles: []string{"Sales User"}}
	cases := []struct {
		expr string
		want bool
	}{
		{"", true},
		{"status", true},
		{"qty", false},
		{"amount", true},
		{"items", true},
		{"none", false},
		{"note", false},
		{"missing", false},
		{"eval:doc.status == 'Open'", true},
		{"eval:doc.status === 'Closed'", false},
		{"eval:doc.amount > 10 && doc.items.length == 1", true},
		{"eval:in_list(['Open', 'Draft'], doc.status)", true},
		{"eval:frappe.session.user == 'a@example.com'", true},
		{"eval:frappe.user.has_role('System Manager')", false},
		{"eval:frappe.user_roles.includes('Sales User')", true},
		{"eval:parent.kind == 'x'", true},
		{"fn:toggle_fields", true},
	}
	for _, c := range cases {
		got, err := Holds(c.expr, doc, map[string]any{"kind": "x"}, ctx)
		if err != nil || got != c.want {
			t.Errorf("%q: %v %v, want %v", c.expr, got, err, c.want)
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
