package frappert

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// channel is where Frappe's publish_realtime publishes, on the site's redis_socketio (or
// redis_queue) server.
const channel = "events"

// subscriber listens to the events channel. go-redis subscribes again by itself after Redis comes
// back; what Frappe published meanwhile is lost, as it is for Frappe's own server (Redis pub/sub
// keeps nothing).
type subscriber struct {
	rdb  *redis.Client
	stop chan struct{}
	done chan struct{}
}

func subscribe(url string, deliver func([]byte), log *slog.Logger) (*subscriber, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("frappe-realtime: --redis: %w", err)
	}
	opt.DialTimeout = 2 * time.Second
	s := &subscriber{rdb: redis.NewClient(opt), stop: make(chan struct{}), done: make(chan struct{})}
	ps := s.rdb.Subscribe(context.Background(), channel)
	go func() {
		defer close(s.done)
		defer ps.Close()
		// The channel's buffer bounds what waits while the fan-out works; go-redis drops beyond it
		// (after a short wait) rather than letting Redis's output buffer for us grow without end.
		ch := ps.Channel(redis.WithChannelHealthCheckInterval(time.Second), redis.WithChannelSize(10_000))
		for {
			select {
			case <-s.stop:
				return
			case m, ok := <-ch:
				if !ok {
					log.Warn("frappe-realtime: the Redis subscription ended")
					return
				}
				deliver([]byte(m.Payload))
			}
		}
	}()
	return s, nil
}

// health is nil while Redis answers.
func (s *subscriber) health(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return s.rdb.Ping(ctx).Err()
}

func (s *subscriber) close() {
	close(s.stop)
	<-s.done
	_ = s.rdb.Close()
}
