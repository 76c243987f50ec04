// Package jscan finds values in JSON text without decoding it: a small value skipper for the
// load generator's receive path, where encoding/json would cost more than the rest of a
// delivery. Values are returned as sub-slices of the input (no copy, no allocation).
//
// The scanner checks the structure (brackets, braces, commas, colons, string quotes and escapes,
// the shape of numbers and literals) but not everything encoding/json would: control characters
// inside strings and invalid UTF-8 are accepted, and a \u escape's four hex digits are checked
// but not decoded. It is meant for text a server produced, not for validating input.
package jscan

import (
	"bytes"
	"encoding/json"
)

// maxDepth bounds the nesting of arrays and objects (the skipper recurses).
const maxDepth = 512

// ws returns the index of the first non-whitespace byte of b at or after i.
func ws(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// Skip skips the JSON value starting at b[i] (after optional whitespace) and returns the index
// just past it; ok is false if b holds no complete, well-formed value there.
func Skip(b []byte, i int) (end int, ok bool) {
	return skip(b, ws(b, i), 0)
}

func skip(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; c {
	case '"':
		return skipString(b, i)
	case '{':
		if depth >= maxDepth {
			return i, false
		}
		i = ws(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1, true
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return i, false
			}
			var ok bool
			if i, ok = skipString(b, i); !ok {
				return i, false
			}
			i = ws(b, i)
			if i >= len(b) || b[i] != ':' {
				return i, false
			}
			if i, ok = skip(b, ws(b, i+1), depth+1); !ok {
				return i, false
			}
			var more bool
			if i, more, ok = after(b, i, '}'); !ok || !more {
				return i, ok
			}
		}
	case '[':
		if depth >= maxDepth {
			return i, false
		}
		i = ws(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			var ok, more bool
			if i, ok = skip(b, i, depth+1); !ok {
				return i, false
			}
			if i, more, ok = after(b, i, ']'); !ok || !more {
				return i, ok
			}
		}
	case 't':
		return literal(b, i, "true")
	case 'f':
		return literal(b, i, "false")
	case 'n':
		return literal(b, i, "null")
	default:
		if c == '-' || c >= '0' && c <= '9' {
			return skipNumber(b, i)
		}
		return i, false
	}
}

// after reads what follows a member or an element ending at b[i] (whitespace allowed): a comma,
// and more is true with j at the next one's start, or the closing byte, with j just past it. ok
// is false for anything else.
func after(b []byte, i int, closing byte) (j int, more, ok bool) {
	i = ws(b, i)
	if i >= len(b) {
		return i, false, false
	}
	switch b[i] {
	case ',':
		return ws(b, i+1), true, true
	case closing:
		return i + 1, false, true
	}
	return i, false, false
}

func literal(b []byte, i int, lit string) (int, bool) {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit), true
	}
	return i, false
}

// skipString skips the string whose opening quote is b[i].
func skipString(b []byte, i int) (int, bool) {
	j := i + 1
	k := bytes.IndexByte(b[j:], '"')
	if k < 0 {
		return len(b), false
	}
	if bytes.IndexByte(b[j:j+k], '\\') < 0 {
		return j + k + 1, true
	}
	// Escapes: byte by byte.
	for j < len(b) {
		switch b[j] {
		case '"':
			return j + 1, true
		case '\\':
			if j+1 >= len(b) {
				return len(b), false
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(b) {
					return len(b), false
				}
				for _, h := range b[j+2 : j+6] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return j, false
					}
				}
				j += 6
			default:
				return j, false
			}
		default:
			j++
		}
	}
	return j, false
}

// skipNumber skips a number: -?int(.digits)?([eE][+-]?digits)?
func skipNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	var ok bool
	if i < len(b) && b[i] == '0' {
		i++
	} else if i, ok = digits(b, i); !ok {
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		if i, ok = digits(b, i+1); !ok {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i, ok = digits(b, i); !ok {
			return i, false
		}
	}
	return i, true
}

// digits skips one or more decimal digits.
func digits(b []byte, i int) (int, bool) {
	s := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i, i > s
}

// Array walks the elements of a JSON array.
//
//	a, ok := jscan.NewArray(b)
//	for e, ok := a.Next(); ok; e, ok = a.Next() { ... }
//	if a.Err() { ... }
type Array struct {
	b    []byte
	i    int
	n    int // elements returned so far
	done bool
	bad  bool
}

// NewArray starts walking the array that b holds (surrounding whitespace allowed); ok is false
// if b does not start with '['. Whatever follows the closing bracket is not looked at.
func NewArray(b []byte) (a Array, ok bool) {
	i := ws(b, 0)
	if i >= len(b) || b[i] != '[' {
		return Array{done: true, bad: true}, false
	}
	return Array{b: b, i: i + 1}, true
}

// Next returns the next element (without surrounding whitespace); ok is false at the end of the
// array or on malformed input (then Err is true).
func (a *Array) Next() (elem []byte, ok bool) {
	if a.done {
		return nil, false
	}
	i := ws(a.b, a.i)
	if a.n > 0 {
		j, more, ok := after(a.b, i, ']')
		if !ok || !more {
			a.done, a.bad = true, !ok
			return nil, false
		}
		i = j
	} else if i < len(a.b) && a.b[i] == ']' {
		a.done = true
		return nil, false
	}
	end, ok := skip(a.b, i, 1)
	if !ok {
		a.done, a.bad = true, true
		return nil, false
	}
	a.i = end
	a.n++
	return a.b[i:end], true
}

// Err reports whether the array was malformed (or not an array).
func (a *Array) Err() bool { return a.bad }

// Field returns the value of the member key of the JSON object that obj holds (surrounding
// whitespace allowed), without surrounding whitespace; ok is false if obj is not an object, has
// no such member or is malformed before it. The members after it are not looked at; with
// duplicate keys the first one wins.
func Field(obj []byte, key string) (val []byte, ok bool) {
	i := ws(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil, false
	}
	i = ws(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return nil, false
	}
	for {
		if i >= len(obj) || obj[i] != '"' {
			return nil, false
		}
		end, ok := skipString(obj, i)
		if !ok {
			return nil, false
		}
		match := StringIs(obj[i:end], key)
		i = ws(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return nil, false
		}
		i = ws(obj, i+1)
		end, ok = skip(obj, i, 1)
		if !ok {
			return nil, false
		}
		if match {
			return obj[i:end], true
		}
		i = ws(obj, end)
		if i >= len(obj) || obj[i] != ',' {
			return nil, false
		}
		i = ws(obj, i+1)
	}
}

// StringIs reports whether raw, a JSON string with its quotes, is s.
func StringIs(raw []byte, s string) bool {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return false
	}
	in := raw[1 : len(raw)-1]
	if bytes.IndexByte(in, '\\') < 0 {
		return string(in) == s
	}
	var u string
	return json.Unmarshal(raw, &u) == nil && u == s
}

// String decodes raw if it is a JSON string.
func String(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	if bytes.IndexByte(in, '\\') < 0 {
		return string(in), true
	}
	var u string
	if json.Unmarshal(raw, &u) != nil {
		return "", false
	}
	return u, true
}
