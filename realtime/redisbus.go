package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisBus carries committed events between the nodes of a cluster over Redis pub/sub. The node
// that commits delivers to its own sockets at once, then publishes for the others; so a node whose
// Redis is gone keeps serving its own sockets. Redis is only the fast path: every node also tails
// the shared event log, so events a Redis outage swallowed reach every node from the log.
type RedisBus struct {
	rdb     *redis.Client
	channel string
	node    string
	log     *slog.Logger

	mu      sync.RWMutex
	deliver []func([]Event)
	lastErr error

	// out holds the messages for Redis, sent by the writer goroutine. A publish waits for its
	// message to reach Redis (the other nodes then have it when the request answers) for at most
	// publishWait, and not at all while Redis is failing or slow: a hung Redis used to hold every
	// write for its timeouts.
	out     chan outMessage
	slow    atomic.Bool // the last send failed, or took longer than publishWait
	failing rateLimit   // the writer's errors, while Redis fails

	stop  chan struct{}
	done  chan struct{}
	wdone chan struct{}
}

type outMessage struct {
	msg  []byte
	sent chan struct{} // closed once Redis took it (or failed to)
}

// publishWait bounds how long a publish waits for Redis while Redis keeps up.
const publishWait = 50 * time.Millisecond

// outQueue bounds the messages waiting for Redis. Beyond it Publish drops them: the other nodes
// read those events from the shared log (within a second), so only the fast path is lost.
const outQueue = 4096

// errBusBacklog is Publish's answer when Redis is too far behind to take more.
var errBusBacklog = errors.New("redis bus: too many events waiting for redis; the other nodes read them from the log")

type redisMessage struct {
	Node   string  `json:"node"`
	Events []Event `json:"events"`
}

// NewRedisBus connects to the Redis at url (redis://host:port/db). Pub/sub channels are global to
// a Redis server, so the channel is named for the site: clusters of different sites can share one.
func NewRedisBus(url, site string, log *slog.Logger) (*RedisBus, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	opt.MaxRetries = 1
	opt.DialTimeout = 2 * time.Second
	opt.ReadTimeout = 2 * time.Second
	opt.WriteTimeout = 2 * time.Second
	if log == nil {
		log = slog.Default()
	}
	b := &RedisBus{rdb: redis.NewClient(opt), channel: "livedoc:" + site + ":events", node: newPID(), log: log,
		out: make(chan outMessage, outQueue), failing: rateLimit{every: 10 * time.Second},
		stop: make(chan struct{}), done: make(chan struct{}), wdone: make(chan struct{})}
	go b.listen()
	go b.write()
	return b, nil
}

// Publish delivers events on this node and queues them for the others; it never waits for
// Redis. An error means the other nodes will get them from the log instead, a little later.
func (b *RedisBus) Publish(ctx context.Context, events []Event) error {
	b.mu.RLock()
	for _, d := range b.deliver {
		d(events)
	}
	b.mu.RUnlock()
	msg, err := json.Marshal(redisMessage{Node: b.node, Events: events})
	if err != nil {
		return err
	}
	m := outMessage{msg: msg, sent: make(chan struct{})}
	select {
	case b.out <- m:
	default:
		return errBusBacklog
	}
	if b.slow.Load() {
		return nil
	}
	wait := time.NewTimer(publishWait)
	defer wait.Stop()
	select {
	case <-m.sent:
	case <-wait.C:
		b.slow.Store(true) // until a send succeeds again
	case <-ctx.Done():
	}
	return nil
}

// write sends the queued messages to Redis, those waiting together in one pipeline.
func (b *RedisBus) write() {
	defer close(b.wdone)
	var batch []outMessage
	for {
		select {
		case <-b.stop:
			return
		case msg := <-b.out:
			batch = append(batch[:0], msg)
		}
		for more := true; more && len(batch) < 256; {
			select {
			case msg := <-b.out:
				batch = append(batch, msg)
			default:
				more = false
			}
		}
		pipe := b.rdb.Pipeline()
		for _, m := range batch {
			pipe.Publish(context.Background(), b.channel, m.msg)
		}
		_, err := pipe.Exec(context.Background())
		b.setErr(err)
		b.slow.Store(err != nil)
		for _, m := range batch {
			close(m.sent)
		}
		if err != nil {
			if n, ok := b.failing.allow(); ok {
				b.log.Error("redis bus: publishing failed; the other nodes read these events from the log",
					"err", err, "events", len(batch), "failures_not_logged", n)
			}
		}
		clear(batch)
	}
}

// Subscribe registers this node's delivery function.
func (b *RedisBus) Subscribe(deliver func([]Event)) {
	b.mu.Lock()
	b.deliver = append(b.deliver, deliver)
	b.mu.Unlock()
}

// Health is nil while Redis answers.
func (b *RedisBus) Health(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err := b.rdb.Ping(ctx).Err()
	b.setErr(err)
	return err
}

// Presence in Redis: a sorted set per room of "pid\x00user" scored by the time its node last
// renewed it, so the entries of a node that died stop counting after presenceTTL.
func (b *RedisBus) presenceKey(room string) string {
	return strings.TrimSuffix(b.channel, ":events") + ":viewers:" + room
}

// Open records a session viewing room.
func (b *RedisBus) Open(ctx context.Context, room, pid, user string) error {
	key := b.presenceKey(room)
	pipe := b.rdb.TxPipeline()
	pipe.ZAdd(ctx, key, redis.Z{Score: float64(time.Now().Unix()), Member: pid + "\x00" + user})
	pipe.Expire(ctx, key, 2*presenceTTL)
	_, err := pipe.Exec(ctx)
	return err
}

// Close records a session no longer viewing room.
func (b *RedisBus) Close(ctx context.Context, room, pid, user string) error {
	return b.rdb.ZRem(ctx, b.presenceKey(room), pid+"\x00"+user).Err()
}

// Viewers returns the distinct users with a live entry for room.
func (b *RedisBus) Viewers(ctx context.Context, room string) ([]string, error) {
	min := strconv.FormatInt(time.Now().Add(-presenceTTL).Unix(), 10)
	members, err := b.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: b.presenceKey(room), ByScore: true, Start: min, Stop: "+inf"}).Result()
	if err != nil {
		return nil, err
	}
	var users []string
	for _, m := range members {
		_, user, _ := strings.Cut(m, "\x00")
		if !slices.Contains(users, user) {
			users = append(users, user)
		}
	}
	return users, nil
}

// Shutdown stops listening and closes the connections.
func (b *RedisBus) Shutdown() error {
	close(b.stop)
	<-b.done
	err := b.rdb.Close() // also ends a publish the writer waits on
	<-b.wdone
	return err
}

func (b *RedisBus) setErr(err error) {
	b.mu.Lock()
	b.lastErr = err
	b.mu.Unlock()
}

// listen receives the other nodes' events. go-redis resubscribes by itself after Redis comes back;
// what was published meanwhile reaches this node from the log.
func (b *RedisBus) listen() {
	defer close(b.done)
	sub := b.rdb.Subscribe(context.Background(), b.channel)
	defer sub.Close()
	ch := sub.Channel(redis.WithChannelHealthCheckInterval(time.Second))
	for {
		select {
		case <-b.stop:
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			var msg redisMessage
			if json.Unmarshal([]byte(m.Payload), &msg) != nil || msg.Node == b.node {
				continue
			}
			b.mu.RLock()
			for _, d := range b.deliver {
				d(msg.Events)
			}
			b.mu.RUnlock()
		}
	}
}
