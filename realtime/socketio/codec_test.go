package socketio

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/livedoc/livedoc/realtime/internal/wire"
)

func TestDecodeEIOPayload(t *testing.T) {
	packets, err := decodeEIOPayload([]byte("3\x1e440{\"a\":1}\x1e6\x1ebAQI="))
	if err != nil {
		t.Fatal(err)
	}
	want := []eioPacket{
		{eioPong, []byte{}},
		{eioMessage, []byte(`40{"a":1}`)},
		{eioNoop, []byte{}},
		{eioBinary, []byte("AQI=")},
	}
	if !reflect.DeepEqual(packets, want) {
		t.Fatalf("got %q, want %q", packets, want)
	}

	for _, bad := range []string{"", "4a\x1e", "\x1e3", "x", "3\x1e9"} {
		if _, err := decodeEIOPayload([]byte(bad)); err == nil {
			t.Errorf("decodeEIOPayload(%q): no error", bad)
		}
	}
}

func TestDecodeSIOPacket(t *testing.T) {
	raws := func(s ...string) []json.RawMessage {
		out := make([]json.RawMessage, len(s))
		for i, x := range s {
			out[i] = json.RawMessage(x)
		}
		return out
	}
	tests := []struct {
		in   string
		want sioPacket
	}{
		{"0", sioPacket{typ: sioConnect, nsp: "/", id: -1}},
		{`0{"token":"x"}`, sioPacket{typ: sioConnect, nsp: "/", id: -1, auth: json.RawMessage(`{"token":"x"}`)}},
		{"0/site,", sioPacket{typ: sioConnect, nsp: "/site", id: -1}},
		{"0/site", sioPacket{typ: sioConnect, nsp: "/site", id: -1}},
		{`0/site,{"pid":"p","offset":"7"}`, sioPacket{typ: sioConnect, nsp: "/site", id: -1, auth: json.RawMessage(`{"pid":"p","offset":"7"}`)}},
		{"1", sioPacket{typ: sioDisconnect, nsp: "/", id: -1}},
		{"1/site,", sioPacket{typ: sioDisconnect, nsp: "/site", id: -1}},
		{`2["hello"]`, sioPacket{typ: sioEvent, nsp: "/", id: -1, event: "hello", args: raws()}},
		{`2["hello",1,{"a":[2]},"x"]`, sioPacket{typ: sioEvent, nsp: "/", id: -1, event: "hello", args: raws("1", `{"a":[2]}`, `"x"`)}},
		{`2/site,12["e",null]`, sioPacket{typ: sioEvent, nsp: "/site", id: 12, event: "e", args: raws("null")}},
		{`20["e"]`, sioPacket{typ: sioEvent, nsp: "/", id: 0, event: "e", args: raws()}},
		{`3/site,7[]`, sioPacket{typ: sioAck, nsp: "/site", id: 7, args: raws()}},
		{`31["ok",2]`, sioPacket{typ: sioAck, nsp: "/", id: 1, args: raws(`"ok"`, "2")}},
	}
	for _, tt := range tests {
		got, err := decodeSIOPacket([]byte(tt.in))
		if err != nil {
			t.Errorf("decodeSIOPacket(%q): %v", tt.in, err)
			continue
		}
		if got.args == nil {
			got.args = raws()
		}
		if tt.want.args == nil {
			tt.want.args = raws()
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("decodeSIOPacket(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestDecodeSIOPacketMalformed(t *testing.T) {
	for _, in := range []string{
		"",
		"9",
		"x",
		`4{"message":"no"}`,       // CONNECT_ERROR is server-only
		`0[1]`,                    // auth must be an object
		`0"x"`,                    // idem
		`0{"a":`,                  // bad JSON
		`01{}`,                    // CONNECT with an id
		`1x`,                      // DISCONNECT with payload
		`2`,                       // EVENT without payload
		`2[]`,                     // EVENT without name
		`2[1]`,                    // EVENT name not a string
		`2{"a":1}`,                // EVENT not an array
		`2null`,                   // idem
		`2["connect"]`,            // reserved name
		`2["a"`,                   // bad JSON
		`2["a"]x`,                 // trailing garbage
		`21234567890123456["a"]`,  // ack id beyond 15 digits
		`3["a"]`,                  // ACK without id
		`31`,                      // ACK without payload
		`31{}`,                    // ACK not an array
		"2[\"a\",\"\xff\"]",       // invalid UTF-8 is tolerated by json.Valid? must not panic either way
		`2/site,["a",1e400]`,      // number out of range: still valid JSON text
		`2/site,` + "\x00" + `[]`, // control byte
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("decodeSIOPacket(%q) panicked: %v", in, r)
				}
			}()
			_, err := decodeSIOPacket([]byte(in))
			switch in {
			case "2[\"a\",\"\xff\"]", `2/site,["a",1e400]`:
				// JSON-wise acceptable; only the absence of panics matters.
			default:
				if err == nil {
					t.Errorf("decodeSIOPacket(%q): no error", in)
				}
			}
		}()
	}
}

func TestDecodeSIOPacketBinary(t *testing.T) {
	for in, want := range map[string]sioPacket{
		`51-["a",{"_placeholder":true,"num":0}]`:        {typ: sioBinaryEvent, nsp: "/", id: -1, event: "a", attachments: 1},
		`52-/site,7["a",{"_placeholder":true,"num":0}]`: {typ: sioBinaryEvent, nsp: "/site", id: 7, event: "a", attachments: 2},
		`61-/site,3[{"_placeholder":true,"num":0}]`:     {typ: sioBinaryAck, nsp: "/site", id: 3, attachments: 1},
	} {
		p, err := decodeSIOPacket([]byte(in))
		if err != nil || p.typ != want.typ || p.nsp != want.nsp || p.id != want.id || p.event != want.event || p.attachments != want.attachments {
			t.Errorf("decodeSIOPacket(%q) = %+v, %v; want %+v", in, p, err, want)
		}
	}
	for _, in := range []string{`5`, `5-["a"]`, `51["a"]`, `599999-["a"]`, `5257-["a"]`, `61-[]`, `51-{}`} {
		if _, err := decodeSIOPacket([]byte(in)); err == nil {
			t.Errorf("decodeSIOPacket(%q): no error", in)
		}
	}
}

func TestEncode(t *testing.T) {
	check := func(got []byte, err error, want string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
	b, err := wire.Event("/", -1, "news", []any{"a<b", 1, json.RawMessage(`{"k": [1, 2]}`)})
	check(b, err, `42["news","a\u003cb",1,{"k": [1, 2]}]`)
	b, err = wire.Event("/site", 4, "e", nil)
	check(b, err, `42/site,4["e"]`)
	b, err = wire.Ack("/", 3, []any{"ok"})
	check(b, err, `433["ok"]`)
	b, err = wire.Ack("/site", 0, nil)
	check(b, err, `43/site,0[]`)
	check(encodeConnect("/", "S", ""), nil, `40{"sid":"S"}`)
	check(encodeConnect("/site", "S", "P"), nil, `40/site,{"sid":"S","pid":"P"}`)
	check(encodeConnectError("/site", `no "way"`), nil, `44/site,{"message":"no \"way\""}`)
	check(encodeDisconnect("/"), nil, `41`)
	check(encodeDisconnect("/site"), nil, `41/site,`)
	check(encodeOpen("SID", []string{}, &Options{PingInterval: 25 * time.Second, PingTimeout: 20 * time.Second, MaxPayload: 1e6}), nil,
		`0{"sid":"SID","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`)

	if _, err := wire.Event("/", -1, "e", []any{json.RawMessage(`{bad`)}); err == nil {
		t.Error("invalid json.RawMessage accepted")
	}
	if _, err := wire.Event("/", -1, "e", []any{func() {}}); err == nil {
		t.Error("unencodable argument accepted")
	}
}

// Every encoded event decodes back to what was encoded (as a client would
// send it, minus the Engine.IO "4").
func TestEventRoundTrip(t *testing.T) {
	for _, nsp := range []string{"/", "/site"} {
		b, err := wire.Event(nsp, 42, "doc:update", []any{map[string]int{"v": 1}, "offset-9"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := decodeSIOPacket(b[1:])
		if err != nil {
			t.Fatal(err)
		}
		if p.nsp != nsp || p.id != 42 || p.event != "doc:update" || len(p.args) != 2 ||
			string(p.args[0]) != `{"v":1}` || string(p.args[1]) != `"offset-9"` {
			t.Errorf("round trip in %s: %+v", nsp, p)
		}
	}
}

func TestPacketWirePerNamespace(t *testing.T) {
	p, err := NewEvent("news", "hi", json.RawMessage(`7`))
	if err != nil {
		t.Fatal(err)
	}
	root, site := p.wire("/").packet, p.wire("/site").packet
	if string(root) != `42["news","hi",7]` || string(site) != `42/site,["news","hi",7]` {
		t.Fatalf("wire: %s / %s", root, site)
	}
	if &p.wire("/").packet[0] != &root[0] || &p.wire("/site").packet[0] != &site[0] {
		t.Error("wire bytes are not cached")
	}
	if f := p.wire("/site").frame; string(f) != "\x81\x17"+string(site) {
		t.Errorf("frame %q: want a final text frame of the packet", f)
	}
	if n := testing.AllocsPerRun(100, func() { p.wire("/site") }); n != 0 {
		t.Errorf("cached wire allocates %v times", n)
	}
}

func TestPacketWireConcurrent(t *testing.T) {
	p, _ := NewEvent("e", 1)
	done := make(chan string)
	for i := range 8 {
		go func() {
			nsp := "/n" + strings.Repeat("x", i%4)
			done <- nsp + "=" + string(p.wire(nsp).packet)
		}()
	}
	for range 8 {
		got := <-done
		nsp, wire, _ := strings.Cut(got, "=")
		if wire != "42"+nsp+`,["e",1]` {
			t.Errorf("wire for %s: %s", nsp, wire)
		}
	}
}

func FuzzDecodeEngineIO(f *testing.F) {
	for _, s := range []string{
		"0", "1", "2", "3", "3probe", "4hello", "5", "6", "bAQID",
		"3\x1e440\x1e42[\"a\"]", "\x1e", "", "4\x1e\x1e4", "x", "41/site,",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		packets, err := decodeEIOPayload(b)
		if err != nil {
			return
		}
		var joined []byte
		for i, p := range packets {
			if i > 0 {
				joined = append(joined, payloadSeparator)
			}
			joined = append(append(joined, p.typ), p.data...)
			if p.typ == eioMessage {
				decodeSIOPacket(p.data) // must not panic
			}
		}
		if string(joined) != string(b) {
			t.Fatalf("payload %q re-joins as %q", b, joined)
		}
	})
}

func FuzzDecodeSocketIO(f *testing.F) {
	for _, s := range []string{
		"0", `0{"token":"x"}`, "0/site,", `0/site,{"pid":"p","offset":"1"}`,
		"1", "1/site,", `2["e"]`, `2/site,5["e",1,{"a":null}]`, `31["ok"]`,
		`3/site,0[]`, `51-["e",{"_placeholder":true,"num":0}]`, `4{"message":"x"}`,
		`2["connect"]`, `2[`, "2/", "2/,", `29999999999999999["e"]`, `0/a,b,{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeSIOPacket(b)
		if err != nil {
			return
		}
		switch p.typ {
		case sioEvent:
			args := make([]any, len(p.args))
			for i, a := range p.args {
				args[i] = a
			}
			enc, err := wire.Event(p.nsp, p.id, p.event, args)
			if err != nil {
				t.Fatalf("%q decodes but does not re-encode: %v", b, err)
			}
			q, err := decodeSIOPacket(enc[1:])
			if err != nil || q.nsp != p.nsp || q.id != p.id || q.event != p.event || len(q.args) != len(p.args) {
				t.Fatalf("%q re-encodes as %q which decodes as %+v, %v", b, enc, q, err)
			}
		case sioConnect:
			if p.auth != nil && !json.Valid(p.auth) {
				t.Fatalf("%q: invalid auth accepted", b)
			}
		}
	})
}
