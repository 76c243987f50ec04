package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/livedoc/livedoc/realtime/internal/wire"
)

// Binary packets (BINARY_EVENT, BINARY_ACK) carry their byte strings out of the JSON: each
// becomes a placeholder {"_placeholder":true,"num":N} in the arguments and travels as the N-th
// binary Engine.IO message after the packet (a binary WebSocket frame, or a base64 "b" packet
// when polling). What a browser emits as a Buffer, ArrayBuffer or Blob arrives in Go as []byte,
// and a []byte emitted from Go arrives in the browser as an ArrayBuffer (a Buffer in Node.js).

// maxAttachments bounds the attachments one binary packet announces; their bytes together are
// bounded by Options.MaxPayload.
const maxAttachments = 256

// placeholder stands for attachment num in the JSON of a binary packet.
type placeholder int

// MarshalJSON writes the placeholder with its keys in the reference encoder's order.
func (p placeholder) MarshalJSON() ([]byte, error) {
	return append(strconv.AppendInt([]byte(`{"_placeholder":true,"num":`), int64(p), 10), '}'), nil
}

// extractBinary replaces every []byte in args (at the top, or inside []any and map[string]any
// values, to any depth) by a placeholder, and returns the bytes in placeholder order. Other
// values are left for encoding/json; nothing is copied when args hold no []byte.
func extractBinary(args []any) ([]any, [][]byte) {
	var attachments [][]byte
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case []byte:
			attachments = append(attachments, x)
			return placeholder(len(attachments) - 1)
		case []any:
			out := make([]any, len(x))
			for i, e := range x {
				out[i] = walk(e)
			}
			return out
		case map[string]any:
			out := make(map[string]any, len(x))
			for _, k := range slices.Sorted(maps.Keys(x)) { // placeholders numbered in JSON order
				out[k] = walk(x[k])
			}
			return out
		}
		return v
	}
	if !slices.ContainsFunc(args, hasBinary) {
		return args, nil
	}
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = walk(a)
	}
	return out, attachments
}

func hasBinary(v any) bool {
	switch x := v.(type) {
	case []byte:
		return true
	case []any:
		return slices.ContainsFunc(x, hasBinary)
	case map[string]any:
		for _, e := range x {
			if hasBinary(e) {
				return true
			}
		}
	}
	return false
}

// encodeMessage encodes an EVENT (event not nil) or ACK for namespace nsp, or their binary
// forms when args hold []byte; attachments are then the binary messages to send after it.
func encodeMessage(nsp string, id int64, event *string, args []any) (packet []byte, attachments [][]byte, err error) {
	args, attachments = extractBinary(args)
	if attachments == nil {
		if event != nil {
			packet, err = wire.Event(nsp, id, *event, args)
		} else {
			packet, err = wire.Ack(nsp, id, args)
		}
		return packet, nil, err
	}
	typ := byte(sioBinaryAck)
	if event != nil {
		typ = sioBinaryEvent
	}
	buf := append(make([]byte, 0, 64), eioMessage, typ)
	buf = strconv.AppendInt(buf, int64(len(attachments)), 10)
	buf = append(buf, '-')
	if nsp != "/" {
		buf = append(append(buf, nsp...), ',')
	}
	if id >= 0 {
		buf = strconv.AppendInt(buf, id, 10)
	}
	if packet, err = wire.AppendArgs(buf, event, args); err != nil {
		return nil, nil, err
	}
	return packet, attachments, nil
}

var errPlaceholder = errors.New("binary packet: bad attachment placeholder")

// resolveArgs decodes a binary packet's arguments with each placeholder replaced by its
// attachment ([]byte); numbers stay json.Number, so that they are sent back unchanged.
func resolveArgs(args []json.RawMessage, attachments [][]byte) ([]any, error) {
	out := make([]any, len(args))
	for i, a := range args {
		d := json.NewDecoder(bytes.NewReader(a))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			return nil, err
		}
		v, err := fillPlaceholders(v, attachments)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func fillPlaceholders(v any, attachments [][]byte) (any, error) {
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			f, err := fillPlaceholders(e, attachments)
			if err != nil {
				return nil, err
			}
			x[i] = f
		}
	case map[string]any:
		if x["_placeholder"] == true {
			num, ok := x["num"].(json.Number)
			n, err := strconv.Atoi(string(num))
			if !ok || err != nil || n < 0 || n >= len(attachments) || len(x) != 2 {
				return nil, errPlaceholder
			}
			return attachments[n], nil
		}
		for k, e := range x {
			f, err := fillPlaceholders(e, attachments)
			if err != nil {
				return nil, err
			}
			x[k] = f
		}
	}
	return v, nil
}

// base64Args is a binary packet's arguments for code that takes JSON: each placeholder replaced
// by its attachment as a base64 string, which encoding/json decodes into a []byte.
func base64Args(args []json.RawMessage, attachments [][]byte) ([]json.RawMessage, error) {
	values, err := resolveArgs(args, attachments)
	if err != nil {
		return nil, err
	}
	out := make([]json.RawMessage, len(values))
	for i, v := range values {
		if !bytes.Contains(args[i], []byte(`"_placeholder"`)) {
			out[i] = args[i]
			continue
		}
		if out[i], err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("binary packet: %w", err)
		}
	}
	return out, nil
}
