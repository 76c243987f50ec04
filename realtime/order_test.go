package realtime_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/realtime"
	"github.com/livedoc/livedoc/realtime/client"
	"github.com/livedoc/livedoc/store/storetest"
)

// orderLog is what one client received of the test's events, in arrival order.
type orderLog struct {
	mu      sync.Mutex
	ids     []int
	offsets []int64
}

func (l *orderLog) record(c *client.Client) {
	c.On("order_probe", func(args []json.RawMessage) {
		var m struct{ ID int }
		_ = json.Unmarshal(args[0], &m)
		var off string
		_ = json.Unmarshal(args[len(args)-1], &off)
		n, _ := strconv.ParseInt(off, 10, 64)
		l.mu.Lock()
		l.ids = append(l.ids, m.ID)
		l.offsets = append(l.offsets, n)
		l.mu.Unlock()
	})
}

func (l *orderLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ids)
}

// Many writers on three nodes of one PostgreSQL database commit concurrently, each held for a
// random time at its COMMIT, after its INSERT took its offsets (some longer than the fan-out waits
// for a gap, some failing there, leaving a hole), while Redis goes away for a while and comes
// back: every client on every node gets every committed event exactly once, none of the
// rolled-back ones, in strictly increasing offsets. Without the log's settling a late commit is
// passed over (and with it removed, this test fails).
func TestConcurrentCommitsOnManyNodesArriveInOrder(t *testing.T) {
	if !storetest.Postgres() {
		t.Skip("concurrent commits need PostgreSQL (LIVEDOC_TEST_STORE=postgres); SQLite commits one at a time")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	dsn := storetest.DSN(t)
	rs := startRedis(t, 0)
	redisURL := "redis://" + rs.addr()
	site := "o" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	nodes := []*node{startClusterNode(t, dsn, redisURL, site), startClusterNode(t, dsn, redisURL, site),
		startClusterNode(t, dsn, redisURL, site)}
	realtime.HoldAtCommit(t, nodes[0].app.Engine, "order_probe")
	// What each probe's COMMIT does, drawn from the seed (per node, in the writers' order).
	type probe struct {
		HoldMs int  `json:"hold_ms"`
		Fail   bool `json:"fail"`
	}
	draws := make([]func() probe, len(nodes))
	for i := range nodes {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		var mu sync.Mutex
		draws[i] = func() probe {
			mu.Lock()
			defer mu.Unlock()
			p := rng.IntN(100)
			switch {
			case p < 10:
				return probe{HoldMs: int((gapWaitForTest + time.Duration(rng.IntN(400))*time.Millisecond).Milliseconds())}
			case p < 15:
				return probe{Fail: true}
			}
			return probe{HoldMs: rng.IntN(5)}
		}
	}
	tok := nodes[0].token(t, doc.Administrator)
	var logs []*orderLog
	for _, n := range nodes {
		for range 2 {
			c := dialNS(t, n.url, "/"+site, tok)
			l := &orderLog{}
			l.record(c)
			connect(t, c) // System Users are in "all" from the start
			logs = append(logs, l)
		}
	}

	const writersPerNode, perWriter = 4, 30
	var committed sync.Map
	var nCommitted atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	done := make(chan struct{})
	for i, n := range nodes {
		for range writersPerNode {
			wg.Go(func() {
				for range perWriter {
					id := int(next.Add(1))
					p := draws[i]()
					err := n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(c *doc.Context) error {
						return n.app.PublishRealtime(c, "order_probe", map[string]any{"id": id, "hold_ms": p.HoldMs, "fail": p.Fail},
							realtime.Target{}, true)
					})
					switch {
					case err == nil:
						committed.Store(id, true)
						nCommitted.Add(1)
					case !p.Fail || !strings.Contains(err.Error(), "on purpose"):
						t.Errorf("publish %d: %v", id, err)
						return
					}
				}
			})
		}
	}
	go func() { wg.Wait(); close(done) }()
	// Redis goes away once a third has been published and comes back at two thirds: meanwhile
	// the nodes learn of each other's commits from the log's tail only.
	total := int64(len(nodes) * writersPerNode * perWriter)
	waitUntil(t, 60*time.Second, func() bool { return next.Load() >= total/3 })
	rs.stop()
	waitUntil(t, 60*time.Second, func() bool { return next.Load() >= 2*total/3 })
	startRedis(t, rs.port)
	select {
	case <-done:
	case <-time.After(120 * time.Second):
		t.Fatal("the writers did not finish")
	}
	want := int(nCommitted.Load())
	if want == 0 || want == int(total) {
		t.Fatalf("%d of %d committed: the test needs both commits and rollbacks", want, total)
	}
	// Not fatal on its own: the checks below say what is missing.
	eventually(30*time.Second, func() bool {
		for _, l := range logs {
			if l.len() < want {
				return false
			}
		}
		return true
	})
	for i, l := range logs {
		l.mu.Lock()
		seen := map[int]bool{}
		for j, id := range l.ids {
			if _, ok := committed.Load(id); !ok {
				t.Errorf("client %d got event %d, which was rolled back (or never published)", i, id)
			}
			if seen[id] {
				t.Errorf("client %d got event %d twice", i, id)
			}
			seen[id] = true
			if j > 0 && l.offsets[j] <= l.offsets[j-1] {
				t.Errorf("client %d got offset %d after %d", i, l.offsets[j], l.offsets[j-1])
			}
		}
		if len(seen) != want {
			t.Errorf("client %d got %d distinct events, want the %d committed", i, len(seen), want)
		}
		l.mu.Unlock()
	}
}

// gapWaitForTest is longer than the fan-out waits for a missing offset (250 ms), so that some
// commits arrive only after the gap was looked up in the log.
const gapWaitForTest = 300 * time.Millisecond

func waitUntil(t *testing.T, within time.Duration, cond func() bool) {
	t.Helper()
	if !eventually(within, cond) {
		t.Fatalf("condition not met within %v", within)
	}
}

// eventually reports whether cond became true within the time given.
func eventually(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}
