package tenancy

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/memory"
	"github.com/tenancykit/tenancy/token"
)

// Notes from many goroutines, swept in the background, by the notes that fill a
// buffer and by concurrent flushes, still reach storage as each token's latest use.
func TestUsageNotesCoalesceUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	m, err := New(store, Options{SecretKey: bytes.Repeat([]byte{3}, 32), TokenUsageFlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const tokens, writers, notes = 5, 8, 1000 // 8,000 notes: many times a buffer's size
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	err = store.Update(ctx, func(tx storage.ReadWriter) error {
		for k := 0; k < tokens; k++ {
			if err := tx.CreateToken(token.Token{ID: fmt.Sprintf("tok%d", k), Kind: token.Personal, Name: "t",
				UserID: "u", Hash: []byte{byte(k)}, Hint: "h", CreatedAt: t0}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want [tokens]time.Time
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		for i := 0; i < notes; i++ {
			at := t0.Add(time.Duration(g*notes+(i*7919)%notes) * time.Second)
			if k := (g + i) % tokens; at.After(want[k]) {
				want[k] = at
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < notes; i++ {
				k := (g + i) % tokens
				hash := []byte{byte(i % 256)} // spreads the notes over every shard
				m.usage.note(m, hash, fmt.Sprintf("tok%d", k), t0.Add(time.Duration(g*notes+(i*7919)%notes)*time.Second))
			}
		}()
	}
	stop := make(chan struct{})
	flushed := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				flushed <- nil
				return
			default:
			}
			if err := m.FlushTokenUsage(ctx); err != nil {
				flushed <- err
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if err := m.FlushTokenUsage(ctx); err != nil {
		t.Fatal(err)
	}
	err = store.View(ctx, func(tx storage.Reader) error {
		for k := 0; k < tokens; k++ {
			tok, err := tx.GetToken(fmt.Sprintf("tok%d", k))
			if err != nil {
				return err
			}
			if !tok.LastUsedAt.Equal(want[k]) {
				t.Errorf("tok%d last used %v, want its latest note %v", k, tok.LastUsedAt, want[k])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
