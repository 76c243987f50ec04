//go:build !linux

package wsclient

import "time"

// Elsewhere than Linux, Go gives each connection a reading goroutine (Run).
type pollState struct{}

func (*pollState) setDeadline(time.Time) {}
func (*pollState) shutdown(*Conn) bool   { return false }

type poller struct{}

func pollerFor() *poller { return nil }

func (*poller) add(*Conn, func(byte, []byte) bool, func(error)) bool { return false }
