package realtime

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/livedoc/livedoc/doc"
)

// canJoin checks, in this process, that user may be in room: read permission on the DocType or
// the document, the user's own user: room; other rooms only for System Managers. Any signed-in
// user may join a task_progress: room, even of an id nobody registered, because Frappe's desk
// makes the id itself and subscribes before asking the server to start the task: what keeps
// progress private is the fan-out, which gives a task's events only to the task's user
// (taskReader).
func (h *Hub) canJoin(user *doc.User, room string) error {
	if reservedRoom(room) {
		return errors.New("invalid room " + strconv.Quote(room))
	}
	kind, rest, _ := strings.Cut(room, ":")
	switch kind {
	case "website":
		return nil
	case "all":
		if user.UserType == doc.SystemUser && user.Name != doc.Guest {
			return nil
		}
	case "user":
		if rest == user.Name && user.Name != doc.Guest {
			return nil
		}
	case "task_progress":
		if rest != "" && user.Name != doc.Guest {
			return nil
		}
		return errors.New("task progress is for signed-in users")
	case "doctype":
		dt, err := h.e.Lookup(context.Background(), rest)
		if err != nil {
			return err
		}
		if dt.IsTable || !dt.Can(user, doc.PermRead, "") {
			return errors.New("Not permitted: " + user.Name + " cannot read " + rest)
		}
		return nil
	case "doc", "open_doc":
		doctype, name, ok := strings.Cut(rest, "/")
		if !ok || doctype == "" || name == "" {
			return errors.New("invalid room " + room)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return h.e.Run(ctx, user, false, func(c *doc.Context) error {
			_, err := c.Get(doctype, name)
			return err
		})
	}
	if kind != "doc" && kind != "open_doc" && kind != "doctype" && (user.IsAdmin() || user.HasRole(doc.SystemManager)) {
		return nil // System Managers may listen to any other room, for tooling and monitoring
	}
	return errors.New("Not permitted to join " + room)
}

// taskRegistry remembers who started each background task (NewTask), so that progress published
// for it by someone else (a job running as Administrator) still reaches only that user.
type taskRegistry struct {
	mu    sync.Mutex
	tasks map[string]taskEntry
}

type taskEntry struct {
	user    string
	started time.Time
}

const taskTTL = 24 * time.Hour

func newTaskRegistry() *taskRegistry { return &taskRegistry{tasks: map[string]taskEntry{}} }

func (t *taskRegistry) add(user string) string {
	id := newPID()
	t.mu.Lock()
	t.tasks[id] = taskEntry{user: user, started: time.Now()}
	t.mu.Unlock()
	return id
}

func (t *taskRegistry) owner(id string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tasks[id].user
}

func (t *taskRegistry) expire() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, e := range t.tasks {
		if time.Since(e.started) > taskTTL {
			delete(t.tasks, id)
		}
	}
}

// maintain saves changed recovery sessions every second; every 30 seconds it also prunes the event
// log and forgets sessions past the recovery window.
func (h *Hub) maintain() {
	defer h.done.Done()
	tick := time.NewTicker(sessionFlushEvery)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-h.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = h.saveSessions(ctx) // a failure is logged, and retried next round
		if n%h.aliveTicks() == 0 {
			if err := h.markAlive(ctx); err != nil {
				h.log.Warn("realtime: marking this node alive", "err", err)
			}
		}
		if n%int(presenceHeartbeat/sessionFlushEvery) == 0 {
			h.renewPresence(ctx)
		}
		if n%30 != 0 {
			cancel()
			continue
		}
		h.expireSessions(ctx)
		h.tasks.expire()
		if n, err := h.elog.prune(ctx, h.opts.LogMaxAge, h.opts.LogMaxRows); err != nil {
			h.log.Warn("realtime: pruning the event log", "err", err)
		} else if n > 0 {
			h.metrics.pruned.Add(float64(n))
		}
		cancel()
	}
}
