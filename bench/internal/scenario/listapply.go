package scenario

import (
	"fmt"
	"slices"
)

// row is one row of a live list, as JSON decodes it.
type row = map[string]any

// listChange is livedoc's list_change message (docs/js-client.md): applied in order, the changes
// of one offset turn the rows sent before into the query's answer as of that offset.
type listChange struct {
	ID     string `json:"id"`
	Offset int64  `json:"offset"`
	Op     string `json:"op"` // insert | update | remove | move
	Name   string `json:"name"`
	Row    row    `json:"row"`
	Index  *int   `json:"index"`
}

func rowName(r row) string {
	s, _ := r["name"].(string)
	return s
}

// applyChange applies ch to rows as livedoc's JS client does (remove by name; insert at index;
// update in place; move to index, with the new row when it came along), but strictly: a change
// that does not fit the rows (an unknown or duplicate name, an index out of range, an update
// whose index holds another row) is an error, which the scenario counts, so that a server that
// sends inconsistent changes fails the run instead of drifting silently.
func applyChange(rows []row, ch listChange) ([]row, error) {
	at := slices.IndexFunc(rows, func(r row) bool { return rowName(r) == ch.Name })
	index := func(n int) (int, error) {
		if ch.Index == nil || *ch.Index < 0 || *ch.Index > n {
			return 0, fmt.Errorf("%s %s: index %v out of 0..%d", ch.Op, ch.Name, ch.Index, n)
		}
		return *ch.Index, nil
	}
	switch ch.Op {
	case "remove":
		if at < 0 {
			return rows, fmt.Errorf("remove %s: not in the rows", ch.Name)
		}
		return slices.Delete(rows, at, at+1), nil
	case "insert":
		if at >= 0 {
			return rows, fmt.Errorf("insert %s: already in the rows", ch.Name)
		}
		if ch.Row == nil || rowName(ch.Row) != ch.Name {
			return rows, fmt.Errorf("insert %s: no row of that name", ch.Name)
		}
		i, err := index(len(rows))
		if err != nil {
			return rows, err
		}
		return slices.Insert(rows, i, ch.Row), nil
	case "update":
		if ch.Row == nil || rowName(ch.Row) != ch.Name {
			return rows, fmt.Errorf("update %s: no row of that name", ch.Name)
		}
		i, err := index(len(rows) - 1)
		if err != nil {
			return rows, err
		}
		if i != at {
			return rows, fmt.Errorf("update %s at %d: the row is at %d", ch.Name, i, at)
		}
		rows[i] = ch.Row
		return rows, nil
	case "move":
		if at < 0 {
			return rows, fmt.Errorf("move %s: not in the rows", ch.Name)
		}
		r := rows[at]
		if ch.Row != nil {
			if rowName(ch.Row) != ch.Name {
				return rows, fmt.Errorf("move %s: the row is %s", ch.Name, rowName(ch.Row))
			}
			r = ch.Row
		}
		rows = slices.Delete(rows, at, at+1)
		i, err := index(len(rows))
		if err != nil {
			return rows, err
		}
		return slices.Insert(rows, i, r), nil
	}
	return rows, fmt.Errorf("unknown op %q", ch.Op)
}
