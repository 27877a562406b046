package storagetest

import (
	"fmt"
	"testing"

	"github.com/tenancykit/tenancy/storage"
)

// The Tx suite, the feed: positions the backend assigns.

func testEvents(t *testing.T, s storage.Storage) {
	update(t, s, func(tx storage.ReadWriter) error {
		users(tx, "u1")
		must(tx.CreateWorkspace(ws("ws_a", "a")))
		must(tx.CreateWorkspace(ws("ws_b", "b")))
		must(tx.AppendEvent(evt("evt_1", "ws_a")))
		must(tx.AppendEvent(evt("evt_2", "ws_b")))
		return tx.AppendEvent(evt("evt_3", ""))
	})
	// IDs only name events: the backend orders the feed by positions it assigns,
	// here in commit order, whatever the IDs say.
	update(t, s, func(tx storage.ReadWriter) error { return tx.AppendEvent(evt("evt_0", "ws_a")) })
	var all []storage.Event
	view(t, s, func(tx storage.Reader) error {
		return tx.ScanEvents("", func(e storage.Event) bool { all = append(all, e); return true })
	})
	var ids []string
	for i, e := range all {
		ids = append(ids, e.ID)
		if e.Position == "" || i > 0 && e.Position <= all[i-1].Position {
			t.Errorf("event %s has position %q after %q: positions must increase bytewise", e.ID, e.Position, all[max(i-1, 0)].Position)
		}
	}
	assertList(t, "ScanEvents", ids, "evt_1", "evt_2", "evt_3", "evt_0")
	if len(all) != 4 {
		t.FailNow()
	}
	view(t, s, func(tx storage.Reader) error {
		var got []string
		must(tx.ScanEvents(all[0].Position, func(e storage.Event) bool { got = append(got, e.ID); return true }))
		assertList(t, "ScanEvents(after the first)", got, "evt_2", "evt_3", "evt_0")
		got = nil
		must(tx.ScanWorkspaceEvents("ws_a", "", func(e storage.Event) bool { got = append(got, e.ID+"@"+e.Position); return true }))
		assertList(t, "ScanWorkspaceEvents(ws_a)", got, "evt_1@"+all[0].Position, "evt_0@"+all[3].Position)
		got = nil
		must(tx.ScanWorkspaceEvents("ws_a", all[0].Position, func(e storage.Event) bool { got = append(got, e.ID); return true }))
		assertList(t, "ScanWorkspaceEvents(ws_a, after the first)", got, "evt_0")
		return nil
	})
	// A rolled-back append leaves no event, and later events still sort after.
	_ = s.Update(ctx, func(tx storage.ReadWriter) error { must(tx.AppendEvent(evt("evt_x", "ws_b"))); return errBoom })
	update(t, s, func(tx storage.ReadWriter) error { return tx.AppendEvent(evt("evt_5", "ws_b")) })
	view(t, s, func(tx storage.Reader) error {
		var got []string
		must(tx.ScanEvents(all[3].Position, func(e storage.Event) bool { got = append(got, e.ID); return true }))
		assertList(t, "ScanEvents after a rollback", got, "evt_5")
		return nil
	})
}

// testManyEvents pages through more events than a backend is likely to read in one
// batch, written by many transactions: each once, in commit order, positions
// increasing, and resuming from any position continues right after it.
func testManyEvents(t *testing.T, s storage.Storage) {
	const n = 300
	for i := range n {
		update(t, s, func(tx storage.ReadWriter) error { return tx.AppendEvent(evt(fmt.Sprintf("evt_%03d", i), "")) })
	}
	var all []storage.Event
	view(t, s, func(tx storage.Reader) error {
		return tx.ScanEvents("", func(e storage.Event) bool { all = append(all, e); return true })
	})
	if len(all) != n {
		t.Fatalf("scanned %d events, want %d", len(all), n)
	}
	for i, e := range all {
		if want := fmt.Sprintf("evt_%03d", i); e.ID != want || i > 0 && e.Position <= all[i-1].Position {
			t.Fatalf("event %d: %s at %q (previous %q), want %s with a larger position", i, e.ID, e.Position, all[max(i-1, 0)].Position, want)
		}
	}
	for _, from := range []int{0, 126, 127, 128, 200, n - 1} {
		var next string
		view(t, s, func(tx storage.Reader) error {
			return tx.ScanEvents(all[from].Position, func(e storage.Event) bool { next = e.ID; return false })
		})
		want := ""
		if from+1 < n {
			want = all[from+1].ID
		}
		if next != want {
			t.Errorf("after event %d the scan resumed at %q, want %q", from, next, want)
		}
	}
}

// testFeedHead: FeedHead is the newest position ScanEvents shows, "" on an empty
// feed; scanning after it shows only what commits later.
func testFeedHead(t *testing.T, s storage.Storage) {
	head := func() string {
		var h string
		view(t, s, func(tx storage.Reader) error { var err error; h, err = tx.FeedHead(); return err })
		return h
	}
	if h := head(); h != "" {
		t.Errorf("FeedHead of an empty feed = %q, want \"\"", h)
	}
	update(t, s, func(tx storage.ReadWriter) error {
		users(tx, "u1")
		must(tx.CreateWorkspace(ws("ws_a", "a")))
		must(tx.AppendEvent(evt("evt_1", "ws_a")))
		return tx.AppendEvent(evt("evt_2", ""))
	})
	var last string
	view(t, s, func(tx storage.Reader) error {
		return tx.ScanEvents("", func(e storage.Event) bool { last = e.Position; return true })
	})
	h := head()
	if h == "" || h != last {
		t.Errorf("FeedHead = %q, want the last position ScanEvents shows, %q", h, last)
	}
	update(t, s, func(tx storage.ReadWriter) error { return tx.AppendEvent(evt("evt_3", "ws_a")) })
	var after []string
	view(t, s, func(tx storage.Reader) error {
		return tx.ScanEvents(h, func(e storage.Event) bool { after = append(after, e.ID); return true })
	})
	assertList(t, "ScanEvents after the head", after, "evt_3")
	if h2 := head(); h2 <= h {
		t.Errorf("FeedHead after another event = %q, not after %q", h2, h)
	}
}
