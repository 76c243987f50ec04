package doc_test

import (
	"testing"

	"github.com/livedoc/livedoc/doc"
)

// FuzzParseFilters: any input either parses into filters with known operators or is refused with
// a DataError; it never panics.
func FuzzParseFilters(f *testing.F) {
	for _, s := range []string{
		`[["status","=","Paid"]]`, `{"status":"Paid","total":[">",10]}`, `[["Invoice","name","like","INV-%"]]`,
		`[["name","in",["a","b"]]]`, `[["name","between",["a","z"]]]`, `[["x","is","set"]]`, `[[1,2,3]]`, `{"a":[1]}`,
		`[["name","not in","a,b"]]`, `"text"`, `[[`, `null`, `[]`, `{}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		filters, err := doc.ParseFilters(s)
		if err != nil {
			if e, ok := doc.AsError(err); !ok || e.Type != doc.DataError {
				t.Fatalf("error of the wrong kind: %v", err)
			}
			return
		}
		for _, fl := range filters {
			switch fl.Op {
			case "=", "!=", "<", ">", "<=", ">=", "like", "not like", "in", "not in", "is", "between":
			default:
				t.Fatalf("unknown operator accepted: %q", fl.Op)
			}
		}
	})
}

// FuzzParseDocType: any input either yields a DocType whose names are all safe identifiers, or an
// error; it never panics.
func FuzzParseDocType(f *testing.F) {
	f.Add([]byte(itemJSON))
	f.Add([]byte(invoiceJSON))
	f.Add([]byte(`{"name":"X","fields":[{"fieldname":"a\"b","fieldtype":"Data"}]}`))
	f.Add([]byte(`{"name":"X","autoname":"field:nope","fields":[]}`))
	f.Add([]byte(`{"name":"X","fields":[{"fieldname":"t","fieldtype":"Table","options":""}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		dt, err := doc.ParseDocType(b)
		if err != nil {
			return
		}
		if err := dt.Validate(); err != nil {
			t.Fatalf("parsed DocType fails validation: %v", err)
		}
		for _, fl := range dt.Fields {
			for _, r := range fl.Fieldname {
				if !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
					t.Fatalf("unsafe fieldname accepted: %q", fl.Fieldname)
				}
			}
		}
		for _, r := range dt.Name {
			if r == '"' || r == '`' || r == '\'' || r == ';' || r < ' ' {
				t.Fatalf("unsafe DocType name accepted: %q", dt.Name)
			}
		}
	})
}
