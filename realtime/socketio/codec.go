package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/livedoc/livedoc/realtime/internal/wire"
)

// Engine.IO v4 packet types, as their first byte on the wire.
const (
	eioOpen    = '0'
	eioClose   = '1'
	eioPing    = '2'
	eioPong    = '3'
	eioMessage = '4'
	eioUpgrade = '5'
	eioNoop    = '6'
	// eioBinary starts a base64 binary message in a polling payload.
	eioBinary = 'b'
)

// payloadSeparator joins the packets of one HTTP long-polling payload.
const payloadSeparator = '\x1e'

// Socket.IO v5 packet types, as the first byte of an Engine.IO message.
const (
	sioConnect      = '0'
	sioDisconnect   = '1'
	sioEvent        = '2'
	sioAck          = '3'
	sioConnectError = '4'
	sioBinaryEvent  = '5'
	sioBinaryAck    = '6'
)

// maxAckIDDigits keeps ack ids within JavaScript's safe integers.
const maxAckIDDigits = 15

// eioPacket is one decoded Engine.IO packet. data aliases the decoded input.
type eioPacket struct {
	typ  byte
	data []byte
}

// decodeEIOPacket decodes one Engine.IO packet in its text encoding.
func decodeEIOPacket(b []byte) (eioPacket, error) {
	if len(b) == 0 {
		return eioPacket{}, errors.New("empty engine.io packet")
	}
	switch b[0] {
	case eioOpen, eioClose, eioPing, eioPong, eioMessage, eioUpgrade, eioNoop, eioBinary:
		return eioPacket{typ: b[0], data: b[1:]}, nil
	}
	return eioPacket{}, fmt.Errorf("unknown engine.io packet type %q", b[0])
}

// decodeEIOPayload splits a long-polling payload into its packets.
func decodeEIOPayload(b []byte) ([]eioPacket, error) {
	n := bytes.Count(b, []byte{payloadSeparator}) + 1
	packets := make([]eioPacket, 0, n)
	for {
		i := bytes.IndexByte(b, payloadSeparator)
		chunk := b
		if i >= 0 {
			chunk = b[:i]
		}
		p, err := decodeEIOPacket(chunk)
		if err != nil {
			return nil, err
		}
		packets = append(packets, p)
		if i < 0 {
			return packets, nil
		}
		b = b[i+1:]
	}
}

// sioPacket is one decoded Socket.IO packet sent by a client.
type sioPacket struct {
	typ byte
	nsp string
	id  int64 // -1 when the packet carries no ack id
	// auth is the CONNECT payload (nil when absent); it aliases the input.
	auth json.RawMessage
	// event and args are set for EVENT; args alone for ACK.
	event string
	args  []json.RawMessage
	// attachments is how many binary messages follow a BINARY_EVENT or BINARY_ACK.
	attachments int
}

// reservedEvents cannot be emitted by a client (as in the reference server).
var reservedEvents = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true,
	"disconnecting": true, "newListener": true, "removeListener": true,
}

// decodeSIOPacket decodes a Socket.IO packet as a client sends it. The
// placeholders of a binary packet are checked when its attachments are in.
func decodeSIOPacket(b []byte) (sioPacket, error) {
	p := sioPacket{nsp: "/", id: -1}
	if len(b) == 0 {
		return p, errors.New("empty socket.io packet")
	}
	p.typ = b[0]
	i := 1
	switch p.typ {
	case sioConnect, sioDisconnect, sioEvent, sioAck:
	case sioBinaryEvent, sioBinaryAck:
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start || i-start > 4 || i == len(b) || b[i] != '-' {
			return p, errors.New("binary packet without its count of attachments")
		}
		p.attachments, _ = strconv.Atoi(string(b[start:i]))
		if p.attachments > maxAttachments {
			return p, fmt.Errorf("more than %d binary attachments", maxAttachments)
		}
		i++
	case sioConnectError:
		return p, errors.New("CONNECT_ERROR is sent by servers only")
	default:
		return p, fmt.Errorf("unknown socket.io packet type %q", p.typ)
	}

	var n int
	p.nsp, n = cutNamespace(b[i:])
	i += n

	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i > start {
		if i-start > maxAckIDDigits {
			return p, errors.New("ack id too large")
		}
		p.id, _ = strconv.ParseInt(string(b[start:i]), 10, 64)
	}
	rest := b[i:]

	switch p.typ {
	case sioConnect:
		if p.id >= 0 {
			return p, errors.New("CONNECT with an ack id")
		}
		if len(rest) > 0 {
			if !isJSONKind(rest, '{') {
				return p, errors.New("CONNECT payload is not a JSON object")
			}
			p.auth = rest
		}
	case sioDisconnect:
		if p.id >= 0 || len(rest) > 0 {
			return p, errors.New("DISCONNECT with a payload")
		}
	case sioEvent, sioBinaryEvent:
		args, err := decodeArray(rest)
		if err != nil {
			return p, fmt.Errorf("EVENT: %w", err)
		}
		if len(args) == 0 || !isJSONKind(args[0], '"') {
			return p, errors.New("EVENT without an event name")
		}
		if err := json.Unmarshal(args[0], &p.event); err != nil {
			return p, fmt.Errorf("EVENT name: %w", err)
		}
		if reservedEvents[p.event] {
			return p, fmt.Errorf("EVENT uses the reserved name %q", p.event)
		}
		p.args = args[1:]
	case sioAck, sioBinaryAck:
		if p.id < 0 {
			return p, errors.New("ACK without an id")
		}
		args, err := decodeArray(rest)
		if err != nil {
			return p, fmt.Errorf("ACK: %w", err)
		}
		p.args = args
	}
	return p, nil
}

// cutNamespace reads the optional "/name," prefix of a Socket.IO packet and
// returns the namespace and the number of bytes consumed.
func cutNamespace(b []byte) (string, int) {
	if len(b) == 0 || b[0] != '/' {
		return "/", 0
	}
	i := bytes.IndexByte(b, ',')
	if i < 0 {
		return string(b), len(b)
	}
	return string(b[:i]), i + 1
}

// decodeArray splits a JSON array into its raw elements.
func decodeArray(b []byte) ([]json.RawMessage, error) {
	if !isJSONKind(b, '[') {
		return nil, errors.New("payload is not a JSON array")
	}
	var args []json.RawMessage
	if err := json.Unmarshal(b, &args); err != nil {
		return nil, err
	}
	return args, nil
}

// isJSONKind reports whether b is valid JSON whose value starts with first
// ('{' object, '[' array, '"' string).
func isJSONKind(b []byte, first byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] == first && json.Valid(b)
}

// encodeConnect encodes the CONNECT answer {"sid":...,"pid":...}.
func encodeConnect(nsp, sid, pid string) []byte {
	body, _ := json.Marshal(struct {
		SID string `json:"sid"`
		PID string `json:"pid,omitempty"`
	}{sid, pid})
	return append(wire.AppendHeader(nil, sioConnect, nsp, -1), body...)
}

// encodeConnectError encodes CONNECT_ERROR {"message":...}.
func encodeConnectError(nsp, message string) []byte {
	body, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{message})
	return append(wire.AppendHeader(nil, sioConnectError, nsp, -1), body...)
}

// encodeDisconnect encodes a server-side DISCONNECT of a namespace.
func encodeDisconnect(nsp string) []byte {
	return wire.AppendHeader(nil, sioDisconnect, nsp, -1)
}

// encodeOpen encodes the Engine.IO handshake packet.
func encodeOpen(sid string, upgrades []string, o *Options) []byte {
	body, _ := json.Marshal(struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int64    `json:"pingInterval"`
		PingTimeout  int64    `json:"pingTimeout"`
		MaxPayload   int      `json:"maxPayload"`
	}{sid, upgrades, o.PingInterval.Milliseconds(), o.PingTimeout.Milliseconds(), o.MaxPayload})
	return append([]byte{eioOpen}, body...)
}
