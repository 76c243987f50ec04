package realtime_test

import (
	"context"
	"testing"
	"time"

	"github.com/livedoc/livedoc/doc"
	"github.com/livedoc/livedoc/realtime"
	"github.com/livedoc/livedoc/store/storetest"
)

// Frappe's desk makes a task id, subscribes to it, then asks the server to start the work. Any
// signed-in user may subscribe to any id; what each receives is only the progress of their own
// requests, so two users on one id (guessed, or colliding) never see each other's.
func TestClientMadeTaskIDs(t *testing.T) {
	n := startNode(t, storetest.DSN(t), "")
	defer n.app.Close()
	defer n.kill()
	n.addUser(t, "a@example.com", doc.SystemUser, "Accounts User")
	n.addUser(t, "b@example.com", doc.SystemUser, "Accounts User")
	const task = "client-made-1"
	type peer struct {
		user             string
		progress, marker *collector
	}
	var peers []peer
	for _, u := range []string{"a@example.com", "b@example.com"} {
		c := dial(t, n.url, n.token(t, u), false)
		p := peer{u, collect(c, "progress"), collect(c, "marker")}
		connect(t, c)
		if ack := subscribe(t, c, "task_subscribe", task); ack["ok"] != true {
			t.Fatalf("%s: task_subscribe of an id the client made: %v", u, ack)
		}
		peers = append(peers, p)
	}
	guest := dial(t, n.url, "", false)
	connect(t, guest)
	if ack := subscribe(t, guest, "task_subscribe", task); ack["error"] == nil {
		t.Fatalf("a Guest subscribed to task progress: %v", ack)
	}

	for i, from := range peers {
		n.as(t, from.user, func(c *doc.Context) error {
			return n.app.Realtime.PublishProgress(c, float64(10*(i+1)), from.user, "", realtime.Target{TaskID: task})
		})
		for j, to := range peers {
			n.mark(t, to.user) // logged after the progress was sent: once here, the progress would be too
			to.marker.waitFor(t, i+1, 3*time.Second)
			got := to.progress.waitFor(t, 0, 0)
			want := 0
			if j <= i {
				want = 1 // each peer gets exactly its own report, in its turn
			}
			if len(got) != want {
				t.Fatalf("after %s's report, %s got %v", from.user, to.user, got)
			}
			if want == 1 && (got[0]["title"] != to.user || got[0]["task_id"] != task) {
				t.Fatalf("%s got another's progress: %v", to.user, got)
			}
		}
	}

	// A task registered with NewTask is its user's even when someone else reports on it (a job
	// running as the Administrator).
	var owned string
	n.as(t, "a@example.com", func(c *doc.Context) error {
		owned = n.app.Realtime.NewTask(c)
		return nil
	})
	c := dial(t, n.url, n.token(t, "a@example.com"), false)
	progress := collect(c, "progress")
	connect(t, c)
	subscribe(t, c, "task_subscribe", owned)
	err := n.app.Engine.Run(context.Background(), doc.AdminUser, true, func(ctx *doc.Context) error {
		return n.app.Realtime.PublishProgress(ctx, 99, "job", "", realtime.Target{TaskID: owned})
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := progress.waitFor(t, 1, 3*time.Second); got[0]["task_id"] != owned {
		t.Fatalf("progress of a registered task: %v", got)
	}
}
