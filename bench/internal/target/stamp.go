package target

import (
	"time"

	"github.com/livedoc/livedoc/bench/internal/jscan"
)

// nameAndStamp reads an update's document name (a non-empty string member nameKey of obj) and
// its modification stamp (member stampKey; zero when absent or not a stamp), with jscan rather
// than encoding/json: the generator reads 100,000s of these a second on one core.
func nameAndStamp(obj []byte, nameKey, stampKey string) (string, time.Time, bool) {
	raw, ok := jscan.Field(obj, nameKey)
	if !ok {
		return "", time.Time{}, false
	}
	name, ok := jscan.String(raw)
	if !ok || name == "" {
		return "", time.Time{}, false
	}
	var stamp time.Time
	if raw, ok := jscan.Field(obj, stampKey); ok && len(raw) >= 2 && raw[0] == '"' {
		stamp = ParseStamp(raw[1 : len(raw)-1])
	}
	return name, stamp, true
}

// ParseStamp reads the UTC modification stamps livedoc ("2006-01-02 15:04:05.000000") and
// PocketBase ("2006-01-02 15:04:05.000Z") put in their payloads: a date, a time, an optional
// fraction of up to 9 digits and an optional Z. Anything else is the zero time. Written out
// rather than time.Parse because save-to-screen reads one per delivery on the generator's core.
func ParseStamp[T string | []byte](s T) time.Time {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' {
		return time.Time{}
	}
	num := func(i, n int) (int, bool) {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	var f [6]int
	for k, at := range [6][2]int{{0, 4}, {5, 2}, {8, 2}, {11, 2}, {14, 2}, {17, 2}} {
		v, ok := num(at[0], at[1])
		if !ok {
			return time.Time{}
		}
		f[k] = v
	}
	rest := s[19:]
	nsec := 0
	if len(rest) > 0 && rest[0] == '.' {
		n := 1
		for n < len(rest) && n <= 9 && rest[n] >= '0' && rest[n] <= '9' {
			nsec = nsec*10 + int(rest[n]-'0')
			n++
		}
		if n == 1 {
			return time.Time{}
		}
		for range 10 - n {
			nsec *= 10
		}
		rest = rest[n:]
	}
	if len(rest) == 1 && rest[0] == 'Z' {
		rest = rest[1:]
	}
	if len(rest) != 0 || f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 || f[4] > 59 || f[5] > 59 {
		return time.Time{}
	}
	return time.Date(f[0], time.Month(f[1]), f[2], f[3], f[4], f[5], nsec, time.UTC)
}
