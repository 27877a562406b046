package pgtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// A folder whose owner process is gone is reaped; one whose owner lives is kept.
func TestReapOrphans(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Skip("cannot run true:", err)
	}
	dead, err := os.MkdirTemp("", "tenancy-pg-")
	if err != nil {
		t.Fatal(err)
	}
	alive, err := os.MkdirTemp("", "tenancy-pg-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dead)
	defer os.RemoveAll(alive)
	_ = os.WriteFile(filepath.Join(dead, "owner.pid"), []byte(strconv.Itoa(gone.Process.Pid)), 0o644)
	_ = os.WriteFile(filepath.Join(alive, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644)
	reapOrphans("")
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("the dead owner's folder is still there: %v", err)
	}
	if _, err := os.Stat(alive); err != nil {
		t.Errorf("a live owner's folder was removed: %v", err)
	}
}
