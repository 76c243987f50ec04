package doc

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/livedoc/livedoc/store"
)

// setName gives a new document its name, unless an autoname hook already did: an amendment is
// named after the document it amends (INV-0001-1, -2, ...); otherwise by the DocType's rule —
// autoincrement, hash (the default), field:<fieldname>, prompt (the client's name, or
// __newname), format:PRE-{field}-{YYYY}-{####}, a series such as INV-.YYYY.-.#### (or
// naming_series: with the pattern in the naming_series field) — then name_case applies.
func (c *Context) setName(dt *DocType, d Doc) error {
	given := d.Name()
	rule := dt.namingRule()
	var name string
	switch {
	case d.String("amended_from") != "":
		n, err := c.amendedName(dt, d.String("amended_from"))
		if err != nil {
			return err
		}
		name = n
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
	case strings.HasPrefix(rule, "format:"):
		var err error
		if name, err = c.formatName(dt, strings.TrimPrefix(rule, "format:"), d); err != nil {
			return err
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
	switch dt.NameCase {
	case "Title Case":
		name = titleCase(name)
	case "UPPER CASE":
		name = strings.ToUpper(name)
	}
	if err := validName(name); err != nil {
		return err
	}
	d["name"] = name
	return nil
}

// amendedName is Frappe's name for an amendment of from: from-1, or the next number when from is
// an amendment itself. The amended document must exist and be cancelled.
func (c *Context) amendedName(dt *DocType, from string) (string, error) {
	old, err := c.load(dt, from, false)
	if err != nil {
		return "", err
	}
	if old.Docstatus() != 2 {
		return "", Errorf(ValidationError, "%s %s is not cancelled: only a cancelled document can be amended", dt.Name, from)
	}
	prefix, n := from, 1
	if old.String("amended_from") != "" {
		if i := strings.LastIndex(from, "-"); i > 0 {
			if k, err := strconv.Atoi(from[i+1:]); err == nil {
				prefix, n = from[:i], k+1
			}
		}
	}
	for ; ; n++ {
		name := fmt.Sprintf("%s-%d", prefix, n)
		if ok, err := c.exists(dt, name); err != nil || !ok {
			return name, err
		}
	}
}

// formatName expands format:'s {...} parts: {####} a counter (run per expanded prefix), {YYYY},
// {YY}, {MM}, {DD} today, {field} the field's value; the rest is literal.
func (c *Context) formatName(dt *DocType, pattern string, d Doc) (string, error) {
	var out strings.Builder
	rest := pattern
	for {
		i := strings.Index(rest, "{")
		if i < 0 {
			out.WriteString(rest)
			break
		}
		j := strings.Index(rest[i:], "}")
		if j < 0 {
			return "", Errorf(ValidationError, "%s: autoname format %q has an unclosed {", dt.Name, pattern)
		}
		out.WriteString(rest[:i])
		param := strings.TrimSpace(rest[i+1 : i+j])
		rest = rest[i+j+1:]
		switch {
		case param != "" && strings.Trim(param, "#") == "":
			n, err := c.nextInSeries("format:" + dt.Name + ":" + out.String())
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&out, "%0*d", len(param), n)
		case datePart(param) != "":
			out.WriteString(datePart(param))
		case dt.Field(param) != nil || isStandard(param):
			v := strings.TrimSpace(d.String(param))
			if v == "" {
				return "", Errorf(MandatoryError, "%s: %s is required to name the document", dt.Name, param)
			}
			out.WriteString(v)
		default:
			return "", Errorf(ValidationError, "%s: autoname format: unknown part {%s}", dt.Name, param)
		}
	}
	return out.String(), nil
}

// datePart is today's YYYY, YY, MM or DD ("" for anything else).
func datePart(p string) string {
	layout := map[string]string{"YYYY": "2006", "YY": "06", "MM": "01", "DD": "02"}[p]
	if layout == "" {
		return ""
	}
	return time.Now().UTC().Format(layout)
}

func titleCase(s string) string {
	words := strings.Fields(s)
	for i, w := range words {
		r := []rune(strings.ToLower(w))
		r[0] = unicode.ToUpper(r[0])
		words[i] = string(r)
	}
	return strings.Join(words, " ")
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
	for _, p := range parts {
		switch {
		case p != "" && strings.Trim(p, "#") == "":
			digits = len(p)
		case datePart(p) != "":
			prefix.WriteString(datePart(p))
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
