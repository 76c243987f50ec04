package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/livedoc/livedoc/store/storetest"
)

// Many transactions at once, each running statements the cache has not seen: a transaction holds
// its connection, so preparing for the cache must never wait for another one while holding up the
// others (the pool would run dry: a deadlock).
func TestConcurrentCacheMissesDoNotDeadlock(t *testing.T) {
	db := storetest.Open(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tx, err := db.Begin(ctx, g%4 == 0)
			if err != nil {
				errs <- err
				return
			}
			defer tx.Rollback()
			for i := range 20 {
				var n int
				q := fmt.Sprintf("SELECT %d + ?", g*100+i) // a text no one ran before
				if err := tx.QueryRow(ctx, q, 1).Scan(&n); err != nil {
					errs <- err
					return
				}
				if n != g*100+i+1 {
					errs <- fmt.Errorf("%s gave %d", q, n)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("transactions stuck: the statement cache deadlocked")
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
