package target

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// frappeTarget drives a Frappe bench's realtime server — Frappe's own `node socketio.js` or
// `livedoc frappe-realtime` — the way Frappe's desk and publish_realtime use it: a subscriber
// opens the site's namespace /<site> with what a browser sends through nginx (the sid cookie,
// X-Frappe-Site-Name, the page's Origin) and no auth payload, and publishes are PUBLISH events
// {"event", "message", "room", "namespace": <site>} on the server's Redis, as for socketio.
// Rooms are those joined on connect (all, user:<user>, website): Frappe's server acknowledges
// no subscription, so a lean subscriber could not tell when a doc_subscribe had taken effect.
type frappeTarget struct {
	*socketIO
	site string
}

func newFrappe(o Options) (*frappeTarget, error) {
	site := strings.TrimPrefix(o.Namespace, "/")
	if site == "" || site == "livedoc" || strings.Contains(site, "/") {
		return nil, errors.New("frappe: --namespace /<site> is required (the site's name)")
	}
	if len(o.SIDs) == 0 {
		return nil, errors.New("frappe: --sid is required (the sessions' sid cookies, comma-separated)")
	}
	if o.Origin == "" {
		return nil, errors.New("frappe: --origin is required (the site's URL: Frappe's server asks it who a cookie is)")
	}
	s, err := newSocketIO(o)
	if err != nil {
		return nil, errors.New("frappe: " + strings.TrimPrefix(err.Error(), "socketio: "))
	}
	return &frappeTarget{socketIO: s, site: site}, nil
}

func (f *frappeTarget) Name() string { return "frappe" }

func (f *frappeTarget) Dial(ctx context.Context, o DialOptions) (Conn, error) {
	if o.Reconnect {
		return nil, errors.New("frappe: the recovery scenario is not supported (Frappe's server does not recover)")
	}
	for _, room := range o.Rooms {
		if room != "all" && room != "website" && !strings.HasPrefix(room, "user:") {
			return nil, errors.New("frappe: subscribers join the rooms of a connect only (all, website, user:<user>), not " + room)
		}
	}
	o.Header = http.Header{
		"Cookie":             {"sid=" + f.o.SIDs[o.Index%len(f.o.SIDs)]},
		"X-Frappe-Site-Name": {f.site},
		"Origin":             {f.o.Origin},
	}
	return leanDial(ctx, f.o.URL, "/"+f.site, nil, o)
}
