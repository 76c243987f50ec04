package realtime

import (
	"testing"

	"github.com/livedoc/livedoc/doc"
)

// HoldAtCommit makes PostgreSQL hold every transaction that logs an event of the given name at
// its COMMIT, after the event's INSERT has taken its offset (the log's INSERT is a transaction's
// last statement and goes to the server with the COMMIT, so no hook in Go runs in between): a
// deferred trigger reads the event's message and sleeps hold_ms, waits for the advisory lock
// wait_lock, then fails the commit when fail is true. These are the late commits and holes the
// log's readers must settle.
func HoldAtCommit(t testing.TB, e *doc.Engine, event string) {
	t.Helper()
	err := e.Run(t.Context(), doc.AdminUser, true, func(c *doc.Context) error {
		for _, q := range []string{
			`CREATE FUNCTION hold_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
			DECLARE m json;
			BEGIN
				IF NEW.event <> '` + event + `' THEN RETURN NULL; END IF;
				m := NEW.message::json;
				PERFORM pg_sleep(coalesce((m->>'hold_ms')::int, 0) / 1000.0);
				IF m->>'wait_lock' IS NOT NULL THEN PERFORM pg_advisory_xact_lock((m->>'wait_lock')::bigint); END IF;
				IF coalesce((m->>'fail')::boolean, false) THEN
					RAISE EXCEPTION 'rolled back at its commit, on purpose';
				END IF;
				RETURN NULL;
			END $$`,
			`CREATE CONSTRAINT TRIGGER hold_at_commit AFTER INSERT ON __events DEFERRABLE INITIALLY DEFERRED
				FOR EACH ROW EXECUTE FUNCTION hold_at_commit()`,
		} {
			if _, err := c.Tx.Exec(c, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
