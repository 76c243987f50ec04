package scenario

import "testing"

func TestPayload(t *testing.T) {
	b := payload(nil, 42, 1764400000123456789, 110)
	if len(b) != 110 {
		t.Errorf("payload is %d bytes: %s", len(b), b)
	}
	if seq, ok := intAfter(b, `"seq":`); !ok || seq != 42 {
		t.Errorf("seq = %d, %v", seq, ok)
	}
	if ts, ok := intAfter(b, `"t":`); !ok || ts != 1764400000123456789 {
		t.Errorf("t = %d, %v", ts, ok)
	}
	if o := offsetValue([]byte(`"1234"`)); o != 1234 {
		t.Errorf("offset = %d", o)
	}
	if o := offsetValue([]byte(`null`)); o != -1 {
		t.Errorf("offset = %d", o)
	}
}
