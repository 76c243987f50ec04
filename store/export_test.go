package store

// WritersWaiting reports whether a write transaction is queued for the writer.
func (db *DB) WritersWaiting() bool { return db.waiting.Load() > 0 }
