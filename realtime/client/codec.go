package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/livedoc/livedoc/realtime/internal/wire"
)

// Engine.IO v4 packet types (first byte of a WebSocket text message).
const (
	eioOpen    = '0'
	eioClose   = '1'
	eioPing    = '2'
	eioPong    = '3'
	eioMessage = '4'
	eioUpgrade = '5'
	eioNoop    = '6'
)

// Socket.IO v5 packet types (first byte after the Engine.IO '4').
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

var errMalformed = errors.New("malformed socket.io packet")

// packet is one Socket.IO packet as a server sends it. nsp and data alias
// the message they were decoded from.
type packet struct {
	typ  byte
	nsp  []byte // nil for the main namespace "/"
	id   int64  // -1 when the packet carries no ack id
	data []byte // what follows the header: JSON, or nothing
}

// decodePacket decodes a Socket.IO packet (the Engine.IO message without its
// leading '4'). Binary packets are decoded only as far as their type.
func decodePacket(b []byte) (packet, error) {
	p := packet{id: -1}
	if len(b) == 0 {
		return p, errMalformed
	}
	p.typ = b[0]
	b = b[1:]
	switch p.typ {
	case sioConnect, sioDisconnect, sioEvent, sioAck, sioConnectError:
	case sioBinaryEvent, sioBinaryAck:
		return p, nil
	default:
		return p, errMalformed
	}
	if len(b) > 0 && b[0] == '/' {
		i := bytes.IndexByte(b, ',')
		if i < 0 {
			p.nsp, b = b, nil
		} else {
			p.nsp, b = b[:i], b[i+1:]
		}
	}
	n := 0
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	if n > 0 {
		if n > maxAckIDDigits {
			return p, errMalformed
		}
		p.id, _ = strconv.ParseInt(string(b[:n]), 10, 64)
		b = b[n:]
	}
	p.data = b
	return p, nil
}

// isNamespace reports whether a decoded namespace (nil for "/") is nsp.
func isNamespace(got []byte, nsp string) bool {
	if got == nil {
		return nsp == "/"
	}
	return string(got) == nsp
}

// encodeConnect encodes a CONNECT with an optional auth object.
func encodeConnect(nsp string, auth []byte) []byte {
	buf := wire.AppendHeader(make([]byte, 0, 8+len(nsp)+len(auth)), sioConnect, nsp, -1)
	return append(buf, auth...)
}

// encodeDisconnect encodes a client-side DISCONNECT.
func encodeDisconnect(nsp string) []byte {
	return wire.AppendHeader(nil, sioDisconnect, nsp, -1)
}

// splitArray splits a JSON array into its elements without copying them:
// each element aliases b.
func splitArray(b []byte) ([]json.RawMessage, error) {
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '[' || !json.Valid(b) {
		return nil, errMalformed
	}
	// b is valid JSON: only brackets, braces, strings and commas matter.
	var elems []json.RawMessage
	depth, start := 0, 1
	inString := false
	for i := 1; i < len(b)-1; i++ {
		ch := b[i]
		if inString {
			switch ch {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch ch {
		case '"':
			inString = true
		case '[', '{':
			depth++
		case ']', '}':
			depth--
		case ',':
			if depth == 0 {
				elems = append(elems, bytes.TrimSpace(b[start:i]))
				start = i + 1
			}
		}
	}
	if last := bytes.TrimSpace(b[start : len(b)-1]); len(last) > 0 {
		elems = append(elems, last)
	}
	return elems, nil
}

// jsonString decodes raw if it is a JSON string.
func jsonString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}
