package realtime_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/realtime"
	"github.com/livedoc/livedoc/realtime/client"
	"github.com/livedoc/livedoc/store/storetest"
)

// The randomized correctness test of live lists: random saves, deletes and renames while clients
// of three users (one reading only their own documents, one without the permlevel-1 field)
// subscribe random queries, unsubscribe and reconnect at random: afresh, or after a cut with
// their pid, to any node, resuming their list (a fresh snapshot where the resume cannot be
// honoured: another node, a change sent to the cut socket). Every change a client gets must
// apply to its copy (no change to a row it does not have, no row twice, offsets never going
// back), carry nothing its user may not read, and in the end every copy must equal a fresh List
// as its user. LIVEDOC_TEST_SEED replays a run; the seed is logged.

const randItemJSON = `{"name": "Rand Item", "autoname": "field:title", "allow_rename": 1, "fields": [
	{"fieldname": "title", "fieldtype": "Data"},
	{"fieldname": "qty", "fieldtype": "Int"},
	{"fieldname": "status", "fieldtype": "Data"},
	{"fieldname": "score", "fieldtype": "Float"},
	{"fieldname": "secret", "fieldtype": "Data", "permlevel": 1}],
	"permissions": [
	{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1},
	{"role": "System Manager", "permlevel": 1, "read": 1, "write": 1},
	{"role": "Rand Owner", "read": 1, "write": 1, "create": 1, "delete": 1, "if_owner": 1},
	{"role": "Rand Owner", "permlevel": 1, "read": 1, "write": 1},
	{"role": "Rand Reader", "read": 1}]}`

const (
	randOwner  = "own@example.com"
	randReader = "lvl@example.com"
)

func TestLiveListRandomized(t *testing.T) {
	n := startNode(t, storetest.DSN(t), "")
	defer n.app.Close()
	defer n.kill()
	runRandomLists(t, n, []*node{n})
}

// The same on two nodes of a cluster: the writes on one, clients on both, each node deciding its
// own clients' lists from the ordered event stream.
func TestLiveListRandomizedCluster(t *testing.T) {
	if !storetest.Postgres() {
		t.Skip("nodes share a database through PostgreSQL (LIVEDOC_TEST_STORE=postgres)")
	}
	a, b, _, _, _ := twoNodes(t, "ll")
	runRandomLists(t, a, []*node{a, b})
}

type randClient struct {
	user  string
	on    *node
	c     *client.Client
	l     *liveList
	query map[string]any
	q     doc.Query
}

func runRandomLists(t *testing.T, writer *node, nodes []*node) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("LIVEDOC_TEST_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (LIVEDOC_TEST_SEED=%d replays it)", seed, seed)
	rnd := rand.New(rand.NewPCG(seed, 0))

	writer.define(t, randItemJSON)
	writer.addUser(t, randOwner, doc.SystemUser, "Rand Owner")
	writer.addUser(t, randReader, doc.SystemUser, "Rand Reader")
	tokens := map[string]string{}
	for _, u := range []string{doc.Administrator, randOwner, randReader} {
		tokens[u] = writer.token(t, u)
	}

	var names []string
	serial := 0
	values := func() map[string]any {
		v := map[string]any{
			"qty":    rnd.IntN(12),
			"status": []string{"open", "closed", "hold", ""}[rnd.IntN(4)],
			"score":  float64(rnd.IntN(400)) / 8,
			"secret": []string{"", "s1", "s2"}[rnd.IntN(3)],
		}
		if rnd.IntN(6) == 0 {
			v["qty"] = nil
		}
		return v
	}
	insert := func() {
		serial++
		d := doc.Doc{"doctype": "Rand Item", "title": fmt.Sprintf("r%03d", serial)}
		for k, v := range values() {
			d[k] = v
		}
		as := doc.Administrator
		if rnd.IntN(3) == 0 {
			as = randOwner
		}
		writer.as(t, as, func(c *doc.Context) error {
			_, err := c.Insert(d)
			return err
		})
		names = append(names, d.String("title")) // named by its title
	}
	for range 12 {
		insert()
	}
	write := func() string {
		if len(names) == 0 {
			insert()
			return "insert"
		}
		i := rnd.IntN(len(names))
		// Renames are rare: each makes every list read again, which would repair what a wrong
		// decision in memory left.
		switch k := rnd.IntN(60); {
		case k < 15:
			insert()
			return "insert"
		case k < 21:
			writer.as(t, doc.Administrator, func(c *doc.Context) error { return c.Delete("Rand Item", names[i]) })
			names = append(names[:i], names[i+1:]...)
			return "delete"
		case k < 22:
			serial++
			to := fmt.Sprintf("n%03d", serial)
			writer.as(t, doc.Administrator, func(c *doc.Context) error {
				_, err := c.Rename("Rand Item", names[i], to)
				return err
			})
			names[i] = to
			return "rename"
		default:
			change := values()
			for k := range change {
				if rnd.IntN(2) == 0 {
					delete(change, k)
				}
			}
			writer.as(t, doc.Administrator, func(c *doc.Context) error {
				_, err := c.Update("Rand Item", names[i], change)
				return err
			})
			return "update"
		}
	}

	users := []string{doc.Administrator, randOwner, randReader}
	var clients []*randClient
	for i := range 6 {
		clients = append(clients, &randClient{user: users[i%3], on: nodes[i%len(nodes)]})
	}
	dialClient := func(rc *randClient) {
		rc.c = dialNS(t, rc.on.url, "/", tokens[rc.user])
		rc.l = watchList(rc.c)
		rc.l.allowed = readableBy(rc.user)
		connect(t, rc.c)
	}
	subscribeRandom := func(rc *randClient) {
		rc.query, rc.q = randomListQuery(rnd)
		rc.l.subscribe(t, rc.c, rc.query)
	}
	for _, rc := range clients {
		dialClient(rc)
		subscribeRandom(rc)
	}

	// At random checkpoints every list must be right: a wrong state that a later read would
	// repair is caught there, not only at the end.
	checkpoints := 0
	settle := func() {
		checkpoints++
		for _, rc := range clients {
			if rc.l.id != "" {
				rc.l.waitEqual(t, func() []map[string]any { return writer.list(t, rc.user, "Rand Item", rc.q) })
				rc.l.check(t)
			}
		}
	}
	counts := map[string]int{}
	deadline := time.Now().Add(4 * time.Second)
	for step := 0; step < 1000 && time.Now().Before(deadline); step++ {
		if rnd.IntN(15) == 0 {
			settle()
		}
		if rnd.IntN(4) != 0 {
			counts[write()]++
			continue
		}
		rc := clients[rnd.IntN(len(clients))]
		switch k := rnd.IntN(10); {
		case rc.l.id == "":
			subscribeRandom(rc)
			counts["subscribe"]++
		case k < 3:
			if ack := subscribe(t, rc.c, "list_unsubscribe", rc.l.id); ack["ok"] != true {
				t.Fatalf("list_unsubscribe: %v", ack)
			}
			rc.l.mu.Lock()
			rc.l.id = ""
			rc.l.mu.Unlock()
			counts["unsubscribe"]++
		case k < 4:
			rc.l.check(t)
			rc.c.Close()
			dialClient(rc)
			subscribeRandom(rc)
			counts["reconnect"]++
		case k < 6:
			// The connection drops; the client comes back with its pid, to any node, and resumes
			// its list (or, where that cannot be, gets a fresh snapshot).
			rc.l.check(t)
			pid, offset := rc.c.PID(), rc.c.LastOffset()
			rc.c.CloseTransport()
			rc.on = nodes[rnd.IntN(len(nodes))]
			c, err := client.New(client.Options{URL: rc.on.url, Namespace: "/", Auth: map[string]any{"token": tokens[rc.user], "pid": pid, "offset": offset}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			rc.c = c
			var ack map[string]any
			rc.l, ack = rc.l.resumeOn(t, c, rc.query)
			if ack["resumed"] == true {
				counts["cut, resumed"]++
			} else {
				counts["cut, fresh snapshot"]++
			}
		default:
			subscribeRandom(rc) // another query on the same socket
			counts["resubscribe"]++
		}
	}
	t.Logf("operations: %v, %d checkpoints", counts, checkpoints)
	for i, n := range nodes {
		memory, read := realtime.LiveListUpdates(n.app.Realtime)
		t.Logf("node %d: %v changes matched in memory, %v reads", i, memory, read)
	}
	settle()
}

// readableBy says what of a row user may not have: another owner's row for the if_owner user,
// the permlevel-1 field for the user without that level.
func readableBy(user string) func(row map[string]any) string {
	return func(row map[string]any) string {
		if _, ok := row["secret"]; ok && user == randReader {
			return "the permlevel-1 field secret"
		}
		if o, ok := row["owner"]; ok && user == randOwner && o != randOwner {
			return fmt.Sprintf("a row owned by %v", o)
		}
		return ""
	}
}

// randomListQuery is a list_subscribe argument and the Query a fresh List compares it with (in
// the live list's order: name breaks ties).
func randomListQuery(rnd *rand.Rand) (map[string]any, doc.Query) {
	var fields []string
	if rnd.IntN(8) == 0 {
		fields = []string{"*"}
	} else {
		for _, f := range []string{"title", "qty", "status", "score", "secret", "owner"} {
			if rnd.IntN(2) == 0 {
				fields = append(fields, f)
			}
		}
		if len(fields) == 0 {
			fields = []string{"qty"}
		}
	}
	templates := []func() []any{
		func() []any { return []any{"status", "=", "open"} },
		func() []any { return []any{"status", "!=", "closed"} },
		func() []any { return []any{"status", "in", []any{"open", "hold"}} },
		func() []any { return []any{"status", "not in", []any{"hold"}} },
		func() []any { return []any{"status", "is", "not set"} },
		func() []any { return []any{"qty", ">", rnd.IntN(10)} },
		func() []any { return []any{"qty", "<=", rnd.IntN(10)} },
		func() []any { lo := rnd.IntN(8); return []any{"qty", "between", []any{lo, lo + rnd.IntN(5)}} },
		func() []any { return []any{"score", ">=", float64(rnd.IntN(50))} },
		func() []any { return []any{"title", "like", fmt.Sprintf("%%%d%%", rnd.IntN(10))} },
		func() []any { return []any{"secret", "is", "set"} },
	}
	pick := func(k int) [][]any {
		var out [][]any
		for range k {
			out = append(out, templates[rnd.IntN(len(templates))]())
		}
		return out
	}
	query := map[string]any{"doctype": "Rand Item", "fields": fields, "limit": []int{1, 2, 3, 4, 8}[rnd.IntN(5)]}
	filters := pick(rnd.IntN(3))
	if len(filters) > 0 {
		query["filters"] = filters
	}
	var ors [][]any
	if rnd.IntN(5) == 0 {
		ors = pick(2)
		query["or_filters"] = ors
	}
	order := []string{"", "qty asc", "qty desc", "score desc, qty asc", "title asc", "modified asc", "secret desc",
		"status asc, qty desc", "name desc"}[rnd.IntN(9)]
	if order != "" {
		query["order_by"] = order
	}
	if rnd.IntN(5) == 0 {
		query["start"] = 1 + rnd.IntN(3)
	}

	q := doc.Query{Limit: query["limit"].(int), OrderBy: order}
	q.Fields = append(q.Fields, fields...)
	if fields[0] != "*" {
		q.Fields = append(q.Fields, "name")
	}
	if s, ok := query["start"].(int); ok {
		q.Start = s
	}
	toFilters := func(fs [][]any) []doc.Filter {
		var out []doc.Filter
		for _, f := range fs {
			v := f[2]
			if n, ok := v.(int); ok {
				v = float64(n)
			}
			if l, ok := v.([]any); ok {
				cp := make([]any, len(l))
				for i, x := range l {
					if n, ok := x.(int); ok {
						x = float64(n)
					}
					cp[i] = x
				}
				v = cp
			}
			out = append(out, doc.Filter{Field: f[0].(string), Op: f[1].(string), Value: v})
		}
		return out
	}
	q.Filters, q.OrFilters = toFilters(filters), toFilters(ors)
	if q.OrderBy == "" {
		q.OrderBy = "modified desc"
	}
	if !strings.Contains(q.OrderBy, "name") {
		q.OrderBy += ", name asc"
	}
	return query, q
}
