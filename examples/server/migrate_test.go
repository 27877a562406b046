package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/bolt"
)

// A migration stopped midway (here: its context canceled after the first batch)
// is finished by running the command again on the same target: the counts match,
// Verify passes and the admin token works. A bbolt target holding anything else
// is refused and left as it was.
func TestMigrateResumesAnInterruptedCopy(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "t.db")
	admin := setupBolt(t, data)
	key, err := os.ReadFile(data + ".key")
	if err != nil {
		t.Fatal(err)
	}
	// More records than one batch of the interrupted copy.
	{
		m, done := openBoltManager(t, data, key)
		p, err := m.Authenticate(ctx, admin)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 12 {
			if _, err := m.CreateWorkspace(ctx, p, tenancy.NewWorkspace{Name: "Team " + string(rune('a'+i))}); err != nil {
				t.Fatal(err)
			}
		}
		done()
	}

	target := filepath.Join(dir, "moved.db")
	{
		src, err := bolt.Open(data, bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		dst, err := bolt.Open(target, bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		stop, cancel := context.WithCancel(ctx)
		_, err = storage.Copy(stop, dst, src, storage.CopyOptions{Batch: 5, Progress: func(int) { cancel() }})
		cancel()
		if err == nil || !errors.Is(err, context.Canceled) {
			t.Fatalf("the interrupted copy: %v", err)
		}
		_ = dst.Close()
		_ = src.Close()
	}

	var o, e bytes.Buffer
	if code := run(ctx, []string{"migrate", "-from", "bolt:" + data, "-to", "bolt:" + target}, nil, &o, &e, os.Getenv); code != 0 ||
		!strings.Contains(o.String(), "holds as many of each") {
		t.Fatalf("resumed migration: %d %s %s", code, o.String(), e.String())
	}
	m, done := openBoltManager(t, target, key)
	if _, err := m.Authenticate(ctx, admin); err != nil {
		t.Errorf("the admin token after the resumed move: %v", err)
	}
	done()

	// The finished target is not empty and not an interrupted copy: refused,
	// unchanged.
	before, _ := os.ReadFile(target)
	e.Reset()
	if code := run(ctx, []string{"migrate", "-from", "bolt:" + data, "-to", "bolt:" + target}, nil, io.Discard, &e, os.Getenv); code == 0 ||
		!strings.Contains(e.String(), "not empty") {
		t.Errorf("a migration into a full bbolt file: %d %s", code, e.String())
	}
	if after, _ := os.ReadFile(target); !bytes.Equal(before, after) {
		t.Error("a refused migration changed its target")
	}
}

func TestProgressLine(t *testing.T) {
	for _, c := range []struct {
		copied, total int
		want          string
	}{
		{0, 200, "[                              ]   0% 0/200 records"},
		{100, 200, "[###############               ]  50% 100/200 records"},
		{250, 200, "[##############################] 100% 200/200 records"},
	} {
		if got := progressLine(c.copied, c.total); got != c.want {
			t.Errorf("progressLine(%d, %d) = %q, want %q", c.copied, c.total, got, c.want)
		}
	}
}

// setupBolt runs `server setup` on a new bbolt file and returns the admin token it
// printed.
func setupBolt(t *testing.T, data string) (admin string) {
	t.Helper()
	var out bytes.Buffer
	if code := run(ctx, []string{"setup", "-email", "a@example.com", "-data", data}, nil, &out, io.Discard, os.Getenv); code != 0 {
		t.Fatal("setup failed")
	}
	return regexp.MustCompile(`TENANCY_TOKEN=(\S+)`).FindStringSubmatch(out.String())[1]
}

// openBoltManager opens a Manager over the bbolt file with the key; done closes both.
func openBoltManager(t *testing.T, path string, key []byte) (m *tenancy.Manager, done func()) {
	t.Helper()
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err = tenancy.New(s, tenancy.Options{SecretKey: key})
	if err != nil {
		_ = s.Close()
		t.Fatal(err)
	}
	return m, func() { _ = m.Close(); _ = s.Close() }
}
