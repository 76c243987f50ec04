package doc

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/livedoc/livedoc/store"
)

// setName gives a new document its name, unless an autoname hook already did: by the DocType's
// rule autoincrement, hash (the default), field:<fieldname>, prompt (the client's name), a series
// such as INV-.#### (or naming_series: with the pattern in the naming_series field).
func (c *Context) setName(dt *DocType, d Doc) error {
	given := d.Name()
	rule := dt.Autoname
	var name string
	switch {
	case given != "" && (rule == "prompt" || rule == "" || rule == "hash" || c.sudo):
		name = given // an explicit name wins where the rule allows the client to choose
	case rule == "prompt":
		return Errorf(MandatoryError, "%s: a name is required", dt.Name)
	case rule == "" || rule == "hash":
		name = randomName()
	case rule == "autoincrement":
		n, err := c.nextInSeries("autoincrement:" + dt.Name)
		if err != nil {
			return err
		}
		name = fmt.Sprint(n)
	case strings.HasPrefix(rule, "field:"):
		f := strings.TrimPrefix(rule, "field:")
		name = strings.TrimSpace(d.String(f))
		if name == "" {
			return Errorf(MandatoryError, "%s: %s is required to name the document", dt.Name, dt.Field(f).Title())
		}
	default:
		pattern := rule
		if rule == "naming_series:" {
			pattern = d.String("naming_series")
			if pattern == "" {
				return Errorf(MandatoryError, "%s: Naming Series is required", dt.Name)
			}
		}
		var err error
		if name, err = c.seriesName(pattern, d); err != nil {
			return err
		}
	}
	if err := validName(name); err != nil {
		return err
	}
	d["name"] = name
	return nil
}

func validName(name string) error {
	if name == "" || len(name) > 140 {
		return Errorf(ValidationError, "A name must have 1 to 140 characters")
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return Errorf(ValidationError, "A name cannot contain control characters")
		}
	}
	return nil
}

// seriesName expands a series pattern: parts separated by '.', where a run of '#' is the counter
// (zero-padded to its length), YYYY/YY/MM/DD are today's date, a fieldname is the field's value,
// and anything else is literal. The counter runs per prefix, as in Frappe's tabSeries.
func (c *Context) seriesName(pattern string, d Doc) (string, error) {
	parts := strings.Split(pattern, ".")
	var prefix strings.Builder
	digits := 0
	now := time.Now().UTC()
	for _, p := range parts {
		switch {
		case p != "" && strings.Trim(p, "#") == "":
			digits = len(p)
		case p == "YYYY":
			prefix.WriteString(now.Format("2006"))
		case p == "YY":
			prefix.WriteString(now.Format("06"))
		case p == "MM":
			prefix.WriteString(now.Format("01"))
		case p == "DD":
			prefix.WriteString(now.Format("02"))
		case d[p] != nil && fieldnameRe.MatchString(p):
			prefix.WriteString(d.String(p))
		default:
			prefix.WriteString(p)
		}
	}
	if digits == 0 {
		return "", Errorf(ValidationError, "Naming series %q has no ### counter", pattern)
	}
	n, err := c.nextInSeries(prefix.String())
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%0*d", prefix.String(), digits, n), nil
}

func (c *Context) nextInSeries(key string) (int64, error) {
	var n int64
	err := c.Tx.QueryRow(c, `INSERT INTO __series (name, current) VALUES (?, 1)
		ON CONFLICT (name) DO UPDATE SET current = __series.current + 1 RETURNING current`, key).Scan(&n)
	return n, err
}

// randomName is Frappe's hash naming: ten hex characters.
func randomName() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

func quoteTable(dt *DocType) string { return store.Quote(dt.TableName()) }
func quoteIdent(s string) string    { return store.Quote(s) }
func isNoRows(err error) bool       { return errors.Is(err, sql.ErrNoRows) }
