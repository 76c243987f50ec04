// Package wire encodes what the Socket.IO server (realtime/socketio) and the Go client
// (realtime/client) send alike: the header of a Socket.IO packet inside an Engine.IO message, and
// the JSON array of an EVENT or ACK. Decoding differs by direction and stays with each side.
package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Packet types used here: an Engine.IO message ('4') carrying a Socket.IO EVENT ('2') or ACK ('3').
const (
	eioMessage = '4'
	sioEvent   = '2'
	sioAck     = '3'
)

// AppendHeader starts an Engine.IO message carrying a Socket.IO packet of type typ: "4", the
// type, "/nsp," unless nsp is "/", then the ack id if id >= 0.
func AppendHeader(buf []byte, typ byte, nsp string, id int64) []byte {
	buf = append(buf, eioMessage, typ)
	if nsp != "/" {
		buf = append(buf, nsp...)
		buf = append(buf, ',')
	}
	if id >= 0 {
		buf = strconv.AppendInt(buf, id, 10)
	}
	return buf
}

// AppendArgs appends a JSON array of the event name (when not nil) and args. json.RawMessage
// arguments are written verbatim, after a validity check.
func AppendArgs(buf []byte, event *string, args []any) ([]byte, error) {
	buf = append(buf, '[')
	if event != nil {
		var err error
		if buf, err = appendJSON(buf, *event); err != nil {
			return nil, err
		}
	}
	for i, a := range args {
		if i > 0 || event != nil {
			buf = append(buf, ',')
		}
		var err error
		if buf, err = appendJSON(buf, a); err != nil {
			return nil, fmt.Errorf("argument %d: %w", i, err)
		}
	}
	return append(buf, ']'), nil
}

func appendJSON(buf []byte, v any) ([]byte, error) {
	if raw, ok := v.(json.RawMessage); ok {
		if !json.Valid(raw) {
			return nil, errors.New("invalid json.RawMessage")
		}
		return append(buf, raw...), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(buf, b...), nil
}

// Event encodes a whole EVENT message ["event",args...] for namespace nsp, asking for an ack when
// id >= 0.
func Event(nsp string, id int64, event string, args []any) ([]byte, error) {
	buf := AppendHeader(make([]byte, 0, 64), sioEvent, nsp, id)
	return AppendArgs(buf, &event, args)
}

// Ack encodes an ACK message [args...] answering ack id.
func Ack(nsp string, id int64, args []any) ([]byte, error) {
	buf := AppendHeader(make([]byte, 0, 32), sioAck, nsp, id)
	return AppendArgs(buf, nil, args)
}
