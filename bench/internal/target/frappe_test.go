package target

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// A frappe subscriber opens the site's namespace as a browser does through nginx: the sid cookie
// of its index, X-Frappe-Site-Name and the page's Origin on the handshake, a CONNECT without auth.
func TestFrappeDial(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := r.Header.Get("Cookie") + " " + r.Header.Get("X-Frappe-Site-Name") + " " + r.Header.Get("Origin")
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		ws.Write(ctx, websocket.MessageText, []byte(`0{"sid":"e1","pingInterval":25000,"pingTimeout":20000}`))
		_, connect, _ := ws.Read(ctx)
		got <- hdr + " " + string(connect)
		ws.Write(ctx, websocket.MessageText, []byte(`40/site.test,{"sid":"s1"}`))
		ws.Write(ctx, websocket.MessageText, []byte(`42/site.test,["livedoc_bench",{"seq":0}]`))
		ws.Read(ctx)
	}))
	defer srv.Close()
	tg, err := New("frappe", Options{URL: srv.URL, Namespace: "/site.test", Redis: "127.0.0.1:1",
		SIDs: []string{"sid-a", "sid-b"}, Origin: "http://127.0.0.1:8000"})
	if err != nil {
		t.Fatal(err)
	}
	var r recorder
	o := r.options()
	o.Rooms, o.Index = []string{"all"}, 1
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := tg.Dial(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if h, want := <-got, "sid=sid-b site.test http://127.0.0.1:8000 40/site.test,"; h != want {
		t.Errorf("handshake and CONNECT %q, want %q", h, want)
	}
	for !strings.Contains(r.String(), `{"seq":0}`) {
		if ctx.Err() != nil {
			t.Fatalf("no event: %s", r.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := tg.Dial(ctx, DialOptions{Rooms: []string{"doc:ToDo/T-1"}}); err == nil {
		t.Error("a room Frappe's server joins only on an unacknowledged subscribe: no error")
	}
	for _, bad := range []Options{
		{URL: srv.URL, Namespace: "/livedoc", Redis: "x:1", SIDs: []string{"s"}, Origin: "http://o"},
		{URL: srv.URL, Namespace: "/site.test", Redis: "x:1", Origin: "http://o"},
		{URL: srv.URL, Namespace: "/site.test", Redis: "x:1", SIDs: []string{"s"}},
		{URL: srv.URL, Namespace: "/site.test", SIDs: []string{"s"}, Origin: "http://o"},
	} {
		if _, err := New("frappe", bad); err == nil {
			t.Errorf("New(frappe, %+v): no error", bad)
		}
	}
}
