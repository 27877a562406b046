package memory

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tenancykit/tenancy/storage"
)

// Events are kept as eventRec (details encoded in one string): each comes back as
// it went in, with its feed position, whatever its details and its time hold, and
// a nil Data stays nil while an empty one stays empty.
func TestEventsComeBackAsTheyWentIn(t *testing.T) {
	ctx := context.Background()
	s := New()
	t0 := time.Date(2026, 12, 6, 14, 0, 0, 123456789, time.UTC)
	in := []storage.Event{
		{ID: "evt_1", Type: "workspace.created", WorkspaceID: "ws_1", Actor: "user:u1", Time: t0,
			Data: map[string]string{"name": "Acme", "slug": "acme"}},
		{ID: "evt_2", Type: "user.registered", Actor: "system", Subject: "u2", Time: t0.Add(time.Second)}, // nil Data
		{ID: "evt_3", Type: "member.added", WorkspaceID: "ws_1", Actor: "user:u1", Subject: "u3",
			Data: map[string]string{}}, // empty Data, zero time
		{ID: "evt_4", Type: "x", WorkspaceID: "ws_2", Actor: "token:t", Time: time.Date(3000, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600)),
			Data: map[string]string{"": "", "ünïcode": "välue", "long": strings.Repeat("v", 300), "k\x00": "\x00\xff"}},
	}
	if err := s.Update(ctx, func(tx storage.ReadWriter) error {
		for _, e := range in {
			if err := tx.AppendEvent(e); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var got []storage.Event
	if err := s.View(ctx, func(tx storage.Reader) error {
		return tx.ScanEvents("", func(e storage.Event) bool { got = append(got, e); return true })
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) {
		t.Fatalf("got %d events, want %d", len(got), len(in))
	}
	for i, e := range got {
		if e.Position == "" || i > 0 && e.Position <= got[i-1].Position {
			t.Errorf("event %d: position %q after %q", i, e.Position, got[max(i-1, 0)].Position)
		}
		want := in[i]
		want.Position = e.Position
		if !reflect.DeepEqual(e, want) {
			t.Errorf("event %d:\n got %#v\nwant %#v", i, e, want)
		}
	}
	// A caller's changes to the map it was given do not reach the store.
	got[0].Data["name"] = "changed"
	if err := s.View(ctx, func(tx storage.Reader) error {
		return tx.ScanWorkspaceEvents("ws_1", "", func(e storage.Event) bool {
			if e.ID == "evt_1" && e.Data["name"] != "Acme" {
				t.Errorf("the stored event changed with the caller's copy: %q", e.Data["name"])
			}
			return true
		})
	}); err != nil {
		t.Fatal(err)
	}
}
