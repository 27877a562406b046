package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tenancykit/tenancy"
)

// verifyMode is the -verify flag: when the full check of the store runs. It is a
// boolean flag too, so -verify and -verify=false keep their old meanings.
type verifyMode string

const (
	verifyBackground verifyMode = "background" // serve at once; check beside serving
	verifyBlocking   verifyMode = "true"       // check, and refuse to serve a damaged store
	verifyOff        verifyMode = "false"      // no check
)

func (v *verifyMode) String() string { return string(*v) }

// IsBoolFlag lets -verify stand alone, meaning true.
func (v *verifyMode) IsBoolFlag() bool { return true }

func (v *verifyMode) Set(s string) error {
	switch s {
	case "background":
		*v = verifyBackground
	case "true", "1", "block", "blocking":
		*v = verifyBlocking
	case "false", "0", "off":
		*v = verifyOff
	default:
		return fmt.Errorf("want background, true or false, not %q", s)
	}
	return nil
}

// readiness is what /readyz reports: the state of the store's full check. The
// findings themselves go to the log only: /readyz answers without credentials, and a
// finding names records.
type readiness struct {
	mu    sync.Mutex
	state readyState
	// ping asks whether the store answers (PostgreSQL: the primary); nil: nothing
	// to ask.
	ping func(ctx context.Context) error
}

type readyState struct {
	Status   string `json:"status"`            // "verifying", "ready", "damaged", "unchecked" or "error"
	Findings int    `json:"findings"`          // invariants that do not hold; details in the log
	Took     string `json:"took,omitempty"`    // how long the check took, once done
	Started  string `json:"started,omitempty"` // when the check started (RFC 3339)
	Detail   string `json:"detail,omitempty"`  // what to do next
}

// run verifies the whole store, logs each finding, and records the outcome.
func (r *readiness) run(ctx context.Context, m *tenancy.Manager, log *slog.Logger) error {
	started := time.Now()
	r.set(readyState{Status: "verifying", Started: started.UTC().Format(time.RFC3339)})
	findings, err := m.Verify(ctx)
	took := time.Since(started).Round(time.Millisecond)
	switch {
	case err != nil:
		// The error may name the database: it goes to the log, not to /readyz.
		r.set(readyState{Status: "error", Took: took.String(), Detail: "the check could not finish: see the server log"})
		return err
	case len(findings) > 0:
		for _, f := range findings {
			log.Error("verify", "finding", f.String())
		}
		r.set(readyState{Status: "damaged", Findings: len(findings), Took: took.String(),
			Detail: "the store failed verification: see the server log, and restore a backup"})
		log.Error("verify failed", "findings", len(findings), "took", took)
	default:
		r.set(readyState{Status: "ready", Took: took.String()})
		log.Info("verified", "took", took)
	}
	return nil
}

// skip records that no check runs (-verify=false).
func (r *readiness) skip() { r.set(readyState{Status: "unchecked"}) }

func (r *readiness) set(s readyState) {
	r.mu.Lock()
	r.state = s
	r.mu.Unlock()
}

func (r *readiness) snapshot() readyState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// serveHTTP answers /readyz: 200 while the check runs or once it passed (the server
// serves meanwhile: a check of a large store takes minutes), 503 once it found damage
// or could not finish, or while the database does not answer, so a load balancer or
// orchestrator takes the instance out.
func (r *readiness) serveHTTP(w http.ResponseWriter, req *http.Request) {
	s := r.snapshot()
	if s.Status == "" {
		s.Status = "verifying"
	}
	code := http.StatusOK
	if s.Status == "damaged" || s.Status == "error" {
		code = http.StatusServiceUnavailable
	}
	// A database that does not answer (a primary down, before a standby takes
	// over) makes the instance unready until it answers again.
	if r.ping != nil && code == http.StatusOK {
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
		err := r.ping(ctx)
		cancel()
		if err != nil {
			s = readyState{Status: "unavailable", Detail: "the database does not answer: see the server log"}
			code = http.StatusServiceUnavailable
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(s)
}
