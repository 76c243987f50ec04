//go:build !linux && !darwin

package store

// freeSpace is unknown here: a full disk shows as SQLite's I/O error.
func freeSpace(string) (uint64, bool) { return 0, false }
