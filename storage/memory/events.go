package memory

import (
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"github.com/tenancykit/tenancy/storage"
)

// eventRec is how an event is kept: storage.Event with its details encoded in one
// string. The feed keeps every event the store has
// taken, one or more per write and never fewer, and each event's Data map (a map
// header and a group of slots, about 300 bytes and a dozen pointers) was most of
// its memory and most of what the collector followed in it. The feed position is
// the event tree's key, not repeated here. The time is kept as given (nanoseconds
// would save 16 bytes but not hold every time.Time).
type eventRec struct {
	id, typ, ws, actor, subject string
	data                        string // encodeData's encoding of the details
	hasData                     bool   // Data was not nil (an empty map stays an empty map)
	time                        time.Time
}

func toEventRec(e storage.Event) eventRec {
	return eventRec{id: e.ID, typ: e.Type, ws: e.WorkspaceID, actor: e.Actor, subject: e.Subject,
		data: encodeData(e.Data), hasData: e.Data != nil, time: e.Time}
}

// event returns the event at the given feed position; its Data is the caller's own.
func (r *eventRec) event(position string) storage.Event {
	e := storage.Event{ID: r.id, Position: position, Type: r.typ, WorkspaceID: r.ws, Actor: r.actor, Subject: r.subject,
		Time: r.time}
	if r.hasData {
		e.Data = decodeData(r.data)
	}
	return e
}

// encodeData writes a map's entries in key order, each key and value preceded by
// its length as a uvarint.
func encodeData(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	size := 0
	for k, v := range m {
		keys = append(keys, k)
		size += 2*binary.MaxVarintLen64 + len(k) + len(v)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.Grow(size)
	var n [binary.MaxVarintLen64]byte
	for _, k := range keys {
		b.Write(binary.AppendUvarint(n[:0], uint64(len(k))))
		b.WriteString(k)
		v := m[k]
		b.Write(binary.AppendUvarint(n[:0], uint64(len(v))))
		b.WriteString(v)
	}
	return b.String()
}

// decodeData reads what encodeData wrote into a new map. The strings are slices
// of s, which is never changed.
func decodeData(s string) map[string]string {
	m := make(map[string]string)
	for len(s) > 0 {
		k, rest := cutLen(s)
		v, rest := cutLen(rest)
		m[k] = v
		s = rest
	}
	return m
}

// cutLen splits off one length-prefixed string. Only encodeData's output reaches it.
func cutLen(s string) (string, string) {
	n, w := binary.Uvarint([]byte(s[:min(len(s), binary.MaxVarintLen64)]))
	return s[w : w+int(n)], s[w+int(n):]
}
