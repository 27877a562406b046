package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/storage/bolt"
)

// server backup copies a running server's store through it; the copy opens with
// the same key file and passes Verify. --data on a file a server holds says to go
// through the server; on a stopped server's file it copies directly.
func TestBackupCommand(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "t.db")
	admin := setupBolt(t, data)
	addr, _, stop := serveInBackground(t, "-data", data)
	base := "http://" + addr
	copyPath := filepath.Join(dir, "copy.db")
	var o, e bytes.Buffer
	if code := run(ctx, []string{"backup", "--out", copyPath, "--url", base, "--token", admin}, nil, &o, &e, os.Getenv); code != 0 ||
		!strings.Contains(o.String(), "wrote "+copyPath) {
		t.Fatalf("backup through the server: %d %s %s", code, o.String(), e.String())
	}
	e.Reset()
	if code := run(ctx, []string{"backup", "--out", filepath.Join(dir, "x.db"), "--data", data, "--url", base}, nil, io.Discard, &e, os.Getenv); code == 0 ||
		!strings.Contains(e.String(), "through that server") {
		t.Errorf("--data on a served file: %d %s", code, e.String())
	}
	stop()
	if code := run(ctx, []string{"backup", "--out", filepath.Join(dir, "offline.db"), "--data", data, "--url", base}, nil, io.Discard, &e, os.Getenv); code != 0 {
		t.Errorf("--data on a stopped server's file: %d %s", code, e.String())
	}
	key, err := os.ReadFile(data + ".key")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{copyPath, filepath.Join(dir, "offline.db")} {
		store, err := bolt.Open(p, bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := tenancy.New(store, tenancy.Options{SecretKey: key})
		if err != nil {
			t.Fatal(err)
		}
		if findings, err := m.Verify(ctx); err != nil || len(findings) != 0 {
			t.Errorf("%s: Verify %v %v", p, findings, err)
		}
		if _, err := m.Authenticate(ctx, admin); err != nil {
			t.Errorf("%s: the admin token: %v", p, err)
		}
		m.Close()
		store.Close()
	}
	if code := run(ctx, []string{"backup", "--out", copyPath, "--url", base, "--token", admin}, nil, io.Discard, &e, os.Getenv); code == 0 {
		t.Error("backup overwrote an existing file")
	}
}
