package jscan

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSkip(t *testing.T) {
	for _, tc := range []struct {
		in  string
		end int // -1: not ok
	}{
		{`""`, 2},
		{`"abc"`, 5},
		{`"a\"b"`, 6},
		{`"a\\"`, 5},
		{`"a\\" , 1`, 5},
		{`"\u00e9\n\t\/"`, 14},
		{`"\u00g9"`, -1},
		{`"\x"`, -1},
		{`"abc`, -1},
		{`"ab\`, -1},
		{`"ab\"`, -1},
		{`0`, 1},
		{`-0`, 2},
		{`12345,`, 5},
		{`-1.5e+10]`, 8},
		{`1E5`, 3},
		{`01`, 1}, // a value ends after the 0: the caller sees the 1 as garbage
		{`-`, -1},
		{`1.`, -1},
		{`1e`, -1},
		{`.5`, -1},
		{`true`, 4},
		{`false}`, 5},
		{`null`, 4},
		{`nul`, -1},
		{`tru`, -1},
		{`x`, -1},
		{``, -1},
		{`   `, -1},
		{`  {}`, 4},
		{`[]`, 2},
		{`[ ]`, 3},
		{`{ }`, 3},
		{`[1,2,[3,{"a":[]}]]`, 18},
		{`{"a":1,"b":{"c":"]}"}}`, 22},
		{`{"a" : 1 , "b" : [ true , null ] }`, 34},
		{`[1,]`, -1},
		{`[,1]`, -1},
		{`[1 2]`, -1},
		{`{"a":1,}`, -1},
		{`{"a"}`, -1},
		{`{a:1}`, -1},
		{`{"a":1`, -1},
		{`[1,2`, -1},
		{`[`, -1},
		{`{"a":"}"`, -1},
		{strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1), -1},
		{strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth), 2 * maxDepth},
	} {
		end, ok := Skip([]byte(tc.in), 0)
		if tc.end < 0 {
			if ok {
				t.Errorf("Skip(%q) = %d, true; want not ok", tc.in, end)
			}
			continue
		}
		if !ok || end != tc.end {
			t.Errorf("Skip(%q) = %d, %v; want %d, true", tc.in, end, ok, tc.end)
		}
	}
}

func TestArray(t *testing.T) {
	for _, tc := range []struct {
		in    string
		elems []string
		bad   bool
	}{
		{`[]`, nil, false},
		{` [ ] `, nil, false},
		{`["livedoc_bench",{"seq":1,"t":2},"17-0"]`, []string{`"livedoc_bench"`, `{"seq":1,"t":2}`, `"17-0"`}, false},
		{`[ "a" , [1,[2]] ,null ]`, []string{`"a"`, `[1,[2]]`, `null`}, false},
		{`["a\"]",1]`, []string{`"a\"]"`, `1`}, false},
		{`["a",]`, []string{`"a"`}, true},
		{`["a" 1]`, []string{`"a"`}, true},
		{`["a",{]`, []string{`"a"`}, true},
		{`["a"`, []string{`"a"`}, true},
		{`[`, nil, true},
		{`{}`, nil, true},
		{``, nil, true},
	} {
		a, _ := NewArray([]byte(tc.in))
		var got []string
		for e, ok := a.Next(); ok; e, ok = a.Next() {
			got = append(got, string(e))
		}
		if strings.Join(got, "|") != strings.Join(tc.elems, "|") || a.Err() != tc.bad {
			t.Errorf("%q: elements %q, bad %v; want %q, %v", tc.in, got, a.Err(), tc.elems, tc.bad)
		}
		if _, ok := a.Next(); ok {
			t.Errorf("%q: Next after the end", tc.in)
		}
	}
}

func TestField(t *testing.T) {
	push := `{"push":{"channel":"all","pub":{"data":{"seq":1,"pad":"x}"},"offset":42}}}`
	for _, tc := range []struct {
		obj, key, val string
		ok            bool
	}{
		{push, "push", `{"channel":"all","pub":{"data":{"seq":1,"pad":"x}"},"offset":42}}`, true},
		{push, "pub", "", false}, // not at the top level
		{`{"channel":"all","pub":{"data":{"seq":1,"pad":"x}"},"offset":42}}`, "pub", `{"data":{"seq":1,"pad":"x}"},"offset":42}`, true},
		{`{"data":{"seq":1,"pad":"x}"},"offset":42}`, "offset", `42`, true},
		{`{"data":{"seq":1,"pad":"x}"},"offset":42}`, "data", `{"seq":1,"pad":"x}"}`, true},
		{` { "a" : [1, 2] , "b" : "c" } `, "b", `"c"`, true},
		{`{"a":1,"a":2}`, "a", `1`, true},
		{`{"\u0061":1}`, "a", `1`, true},
		{`{"a\"":1}`, "a", ``, false},
		{`{}`, "a", ``, false},
		{`{"a":}`, "a", ``, false},
		{`{"b":1 "a":2}`, "a", ``, false},
		{`{"a":1,"b":{`, "a", `1`, true}, // what follows is not looked at
		{`[1]`, "a", ``, false},
		{``, "a", ``, false},
	} {
		v, ok := Field([]byte(tc.obj), tc.key)
		if ok != tc.ok || string(v) != tc.val {
			t.Errorf("Field(%q, %q) = %q, %v; want %q, %v", tc.obj, tc.key, v, ok, tc.val, tc.ok)
		}
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct {
		raw, s string
		ok     bool
	}{
		{`"livedoc_bench"`, "livedoc_bench", true},
		{`""`, "", true},
		{`"a\u00e9\n"`, "a\u00e9\n", true},
		{`"a`, "", false},
		{`a"`, "", false},
		{`1`, "", false},
		{`"`, "", false},
	} {
		s, ok := String([]byte(tc.raw))
		if s != tc.s || ok != tc.ok {
			t.Errorf("String(%q) = %q, %v; want %q, %v", tc.raw, s, ok, tc.s, tc.ok)
		}
		if tc.ok && !StringIs([]byte(tc.raw), tc.s) {
			t.Errorf("StringIs(%q, %q) = false", tc.raw, tc.s)
		}
		if StringIs([]byte(tc.raw), tc.s+"x") {
			t.Errorf("StringIs(%q, %q) = true", tc.raw, tc.s+"x")
		}
	}
}

func TestNoAlloc(t *testing.T) {
	b := []byte(`["livedoc_bench",{"seq":123,"t":1764400000123456789,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},"1764400000123-0"]`)
	n := testing.AllocsPerRun(100, func() {
		a, _ := NewArray(b)
		for _, ok := a.Next(); ok; _, ok = a.Next() {
		}
		Field(b[17:], "pad")
	})
	if n != 0 {
		t.Errorf("%v allocations per scan", n)
	}
}

// FuzzSkip checks Skip against encoding/json on text without control characters (which Skip
// accepts inside strings) and with valid UTF-8.
func FuzzSkip(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}],"c":"d\"e"}`, `[1,-2.5e3,true,false]`, `"\u12ab"`, `[1,]`, `{"a":1,}`, `01`, `-`, `[[[`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != ' ' && r != '\t' && r != '\n' && r != '\r' }) {
			return
		}
		b := []byte(s)
		end, ok := Skip(b, 0)
		whole := ok && ws(b, end) == len(b)
		if whole != json.Valid(b) {
			t.Errorf("%q: Skip = %d, %v; json.Valid = %v", s, end, ok, json.Valid(b))
		}
	})
}
