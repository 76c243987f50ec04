// Package target is what a scenario drives: a realtime server (livedoc now; the peers later)
// behind one small interface, plus the loopback source-address spreading all targets share.
package target

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Target is one realtime server under test.
type Target interface {
	// Name is the --target value.
	Name() string
	// Setup gets credentials (e.g. an API token from the admin password) and checks the server.
	Setup(ctx context.Context) error
	// DefaultRoom is the room a fan-out uses when none is given.
	DefaultRoom() string
	// Dial opens one subscriber connection, joined to o.Rooms, and returns once it is subscribed.
	Dial(ctx context.Context, o DialOptions) (Conn, error)
	// Publish sends one event with payload (JSON) to room through the server's publish path,
	// returning once the server accepted it.
	Publish(ctx context.Context, event, room string, payload []byte) error
}

// DialOptions configures one subscriber.
type DialOptions struct {
	Index     int // the subscriber's number, 0-based
	Rooms     []string
	Event     string // the event name the bench publishes and listens for
	Transport *Sources
	// Header is sent with the subscriber's WebSocket handshake (lean subscribers): e.g. Frappe's
	// sid cookie, site name and page Origin.
	Header http.Header
	// OnMessage gets each Event's payload, and the server's ordering offset for it when the target
	// sends one (nil otherwise), on the goroutine reading the connection (Dial's own until it
	// returns, for what arrives while it subscribes); it must not block. The
	// slices may alias the connection's read buffer: they are valid only until OnMessage returns
	// (parse them there, copy what must be kept). The same holds for OnEvent's payload.
	OnMessage func(payload, offset []byte)
	// OnDisconnect is told when the connection is lost (not after Close).
	OnDisconnect func(reason string)
	// Events and OnEvent listen to other events than Event (save-to-screen: the document and
	// list updates), with the event's name; on the reader goroutine, must not block, and payload
	// is valid only until it returns (see OnMessage).
	Events  []string
	OnEvent func(event string, payload []byte)
	// Reconnect keeps the connection alive across transport losses (recovery), resuming the
	// session where the target can; OnReconnect is told of each re-established connection and
	// whether the server restored the session (no event missed).
	Reconnect   bool
	OnReconnect func(recovered bool)
	// Calls are emitted once the rooms are joined, each acknowledged before the next (live
	// documents and lists: doc_subscribe with {snapshot: true}, list_subscribe); OnAck gets the
	// i-th's answer, the ack's arguments as a JSON array valid only during the call, on the
	// dialling goroutine, and may refuse it (the dial fails). Not with Reconnect.
	Calls []Call
	OnAck func(i int, ack []byte) error
}

// Call is one acknowledged event a subscriber emits after joining its rooms.
type Call struct {
	Event string
	Args  []any
}

// Cutter is implemented by connections that can be cut as a network failure would (no close
// handshake): recovery uses it.
type Cutter interface {
	CloseTransport()
}

// Saver is implemented by targets that store documents through a REST API and announce their
// changes to subscribers (save-to-screen).
type Saver interface {
	// PrepareDocs creates n documents to be saved and returns them, and the room a subscriber
	// joins to hear about every document of their type (the list).
	PrepareDocs(ctx context.Context, n int) (docs []SavedDoc, listRoom string, err error)
	// Save stores doc with a new counter value and returns once the server committed it, with the
	// server's modification stamp of that version.
	Save(ctx context.Context, doc SavedDoc, counter int64) (stamp time.Time, err error)
	// UpdateEvents are the events that carry a document's change to its room and to the list
	// room (livedoc: doc_update and list_update).
	UpdateEvents() (docEvent, listEvent string)
	// ParseUpdate reads one update event: the document's name and, when the event carries it,
	// the version's modification stamp (zero otherwise).
	ParseUpdate(event string, payload []byte) (name string, stamp time.Time, ok bool)
}

// SavedDoc is one document a save-to-screen writer saves.
type SavedDoc struct {
	Name string
	Room string // the room of that one document
}

// Conn is one subscriber connection.
type Conn interface {
	Close() error
	Done() <-chan struct{}
}

// MetricsReader is implemented by targets that expose Prometheus metrics (livedoc's /metrics):
// the value of each unlabelled sample.
type MetricsReader interface {
	Metrics(ctx context.Context) (map[string]float64, error)
}

// Options are the command-line settings every target understands.
type Options struct {
	URL string
	// WriteURL, when set, is where a target sends its publishes, saves and setup instead of URL
	// (subscribers still connect to URL): another node of a cluster. livedoc only.
	WriteURL      string
	AdminPassword string
	Token         string // KEY:SECRET
	Namespace     string // Socket.IO namespace (livedoc: /livedoc)
	Redis         string // socketio, frappe: the Redis address (host:port) whose `events` channel it reads
	// frappe: the sid cookies the subscribers present (subscriber i the i-th modulo their
	// number), and the page Origin they send (the site's URL: Frappe's server calls it).
	SIDs   []string
	Origin string
}

// New returns the target called name.
func New(name string, o Options) (Target, error) {
	if o.WriteURL != "" && name != "livedoc" {
		return nil, fmt.Errorf("--write-url: target %s has one node only (livedoc only)", name)
	}
	switch name {
	case "livedoc":
		return newLivedoc(o)
	case "socketio":
		return newSocketIO(o)
	case "centrifugo":
		return newCentrifugo(o)
	case "pocketbase":
		return newPocketBase(o)
	case "floor":
		return newFloor(o)
	case "frappe":
		return newFrappe(o)
	}
	return nil, fmt.Errorf("unknown target %q (livedoc, socketio, centrifugo, pocketbase, floor, frappe)", name)
}

// Sources spreads connections over loopback source addresses 127.0.0.2, 127.0.0.3, ... with at
// most PerIP connections each, so that one server port can take more connections than the
// ephemeral port range of one address allows. It keeps one http.Client per address.
type Sources struct {
	PerIP int
	First net.IP // first source address, 127.0.0.2 by default

	mu      sync.Mutex
	clients map[int]*http.Client
	dialers map[int]*net.Dialer
}

// NewSources returns sources of perIP connections per address starting at 127.0.0.2.
func NewSources(perIP int) *Sources {
	if perIP <= 0 {
		perIP = 20000
	}
	return &Sources{PerIP: perIP, First: net.IPv4(127, 0, 0, 2)}
}

// IP is the source address of connection i.
func (s *Sources) IP(i int) net.IP {
	n := i / s.PerIP
	ip := s.First.To4()
	v := uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
	v += uint32(n)
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// Dialer dials from connection i's source address.
func (s *Sources) Dialer(i int) *net.Dialer {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := i / s.PerIP
	if d := s.dialers[k]; d != nil {
		return d
	}
	if s.dialers == nil {
		s.dialers = map[int]*net.Dialer{}
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: s.IP(i)}, Timeout: 20 * time.Second, KeepAlive: -1}
	s.dialers[k] = d
	return d
}

// HTTPClient is the http.Client shared by the connections of i's source address.
func (s *Sources) HTTPClient(i int) *http.Client {
	d := s.Dialer(i)
	s.mu.Lock()
	defer s.mu.Unlock()
	k := i / s.PerIP
	if c := s.clients[k]; c != nil {
		return c
	}
	if s.clients == nil {
		s.clients = map[int]*http.Client{}
	}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: -1, ForceAttemptHTTP2: false}
	c := &http.Client{Transport: tr}
	s.clients[k] = c
	return c
}
