package tenancy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/workspace"
)

// Workspace flags are the host's named facts about a workspace (Airbyte
// Embedded's "has sources", "has active connections"). The Manager keeps one
// counter per flag in the same transaction as every change that moves it, so Stats
// reports how many workspaces in use carry each flag in O(1), as it reports the
// status counts. A flag counts while its workspace is active or inactive: deleting
// the workspace takes it out of the count, restoring puts it back.

// flagCounterPrefix starts a flag's counter name.
const flagCounterPrefix = "workspaces.flag."

func counterForFlag(name string) string { return flagCounterPrefix + name }

// CounterForFlag returns the name of the counter of a host flag (see
// CounterActiveWorkspaces): the workspaces in use that carry it.
func CounterForFlag(name string) string { return counterForFlag(name) }

// declareFlags checks Options.WorkspaceFlags and keeps them in the order given.
func (m *Manager) declareFlags(names []string) error {
	if len(names) > workspace.MaxFlags {
		return fmt.Errorf("tenancy: Options.WorkspaceFlags declares %d flags; at most %d", len(names), workspace.MaxFlags)
	}
	m.flagSet = map[string]bool{}
	for _, f := range names {
		if err := workspace.ValidateFlagName(f); err != nil {
			return fmt.Errorf("tenancy: Options.WorkspaceFlags: %w", err)
		}
		if !m.flagSet[f] {
			m.flagOrder = append(m.flagOrder, f)
		}
		m.flagSet[f] = true
	}
	return nil
}

// WorkspaceFlags returns the flag names the Manager accepts (Options.WorkspaceFlags),
// in the order given: the order Stats reports them in.
func (m *Manager) WorkspaceFlags() []string { return slices.Clone(m.flagOrder) }

// checkFlags validates flags to set on a new workspace and returns them sorted,
// without repeats.
func (m *Manager) checkFlags(flags []string) ([]string, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	for _, f := range flags {
		if err := m.flagDeclared(f); err != nil {
			return nil, err
		}
	}
	out := slices.Clone(flags)
	slices.Sort(out)
	return slices.Compact(out), nil
}

func (m *Manager) flagDeclared(f string) error {
	if m.flagSet[f] {
		return nil
	}
	if len(m.flagOrder) == 0 {
		return invalidf("workspace flag %q is not declared: this server declares no workspace flags", f)
	}
	return invalidf("workspace flag %q is not declared (declared: %s)", f, strings.Join(m.flagOrder, ", "))
}

// countFlags adds delta to the counter of each of flags.
func countFlags(tx storage.ReadWriter, flags []string, delta int64) error {
	for _, f := range flags {
		if err := tx.AddCounter(counterForFlag(f), delta); err != nil {
			return internal("count flag", err)
		}
	}
	return nil
}

// SetWorkspaceFlags sets (true) or clears (false) named flags of a workspace in one
// transaction, keeping the flag counters in step, and records a workspace.updated
// event whose "flags" entry lists the flags the workspace now carries. Flags
// already as asked are left alone; when nothing changes, nothing is written or
// recorded. Only flags the host declared (Options.WorkspaceFlags) may be set;
// clearing one no longer declared is allowed.
//
// Flags are facts about the host's own resources, so members cannot set them:
// only System and platform users with the sync permission may (the host's code or
// its other system, as for SyncWorkspaces). An inactive workspace's flags may
// change (its connections may stop while it is inactive); a deleted one's may not.
//
// Errors: ErrInvalidArgument (an undeclared flag), ErrNotFound, ErrPermissionDenied,
// ErrFailedPrecondition (the workspace is deleted), ErrUnauthenticated.
func (m *Manager) SetWorkspaceFlags(ctx context.Context, p Principal, workspaceID string, flags map[string]bool) (_ workspace.Workspace, err error) {
	ctx, span := m.tel.start(ctx, "SetWorkspaceFlags", p)
	defer func() { span.end(err) }()
	for f, on := range flags {
		if on {
			if err := m.flagDeclared(f); err != nil {
				return workspace.Workspace{}, err
			}
		} else if err := workspace.ValidateFlagName(f); err != nil {
			return workspace.Workspace{}, invalid(err)
		}
	}
	now := m.now()
	var w workspace.Workspace
	err = m.update(ctx, "set workspace flags", func(tx storage.ReadWriter) error {
		if _, err := m.platformFor(tx, p, rbac.SyncWorkspaces); err != nil {
			return err
		}
		var err error
		w, err = tx.GetWorkspace(workspaceID)
		if errors.Is(err, storage.ErrNotFound) {
			return notFoundf("workspace %q not found", workspaceID)
		}
		if err != nil {
			return internal("read workspace", err)
		}
		if w.Status == workspace.Deleted {
			return preconditionf("workspace %q is deleted: restore it first", workspaceID)
		}
		next := slices.Clone(w.Flags)
		var added, removed []string
		for f, on := range flags {
			switch has := w.HasFlag(f); {
			case on && !has:
				next, added = append(next, f), append(added, f)
			case !on && has:
				next, removed = slices.DeleteFunc(next, func(x string) bool { return x == f }), append(removed, f)
			}
		}
		if len(added)+len(removed) == 0 {
			return nil
		}
		slices.Sort(next)
		if len(next) == 0 {
			next = nil
		}
		if err := countFlags(tx, added, 1); err != nil {
			return err
		}
		if err := countFlags(tx, removed, -1); err != nil {
			return err
		}
		w.Flags, w.UpdatedAt = next, now
		if err := tx.ReplaceWorkspace(w); err != nil {
			return internal("put workspace", err)
		}
		return m.record(tx, now, p, "workspace.updated", w.ID, "", map[string]string{"flags": strings.Join(next, ",")})
	})
	if err != nil {
		return workspace.Workspace{}, err
	}
	return w, nil
}

// flagStats reads the counter of each declared flag.
func (m *Manager) flagStats(tx storage.Reader) (workspace.FlagCounts, error) {
	var out workspace.FlagCounts
	for _, f := range m.flagOrder {
		n, err := tx.Counter(counterForFlag(f))
		if err != nil {
			return out, internal("read counter", err)
		}
		out = out.With(f, n)
	}
	return out, nil
}

// moveFlagCounts keeps the flag counters in step with a status change: a workspace
// leaving the workspaces in use (deleted) takes its flags out of the counts, one
// coming back (restored) puts them back.
func moveFlagCounts(tx storage.ReadWriter, w workspace.Workspace, from, to workspace.Status) error {
	switch {
	case from != workspace.Deleted && to == workspace.Deleted:
		return countFlags(tx, w.Flags, -1)
	case from == workspace.Deleted && to != workspace.Deleted:
		return countFlags(tx, w.Flags, 1)
	}
	return nil
}

// verifyFlags compares each flag counter with the workspaces in use that carry the
// flag: every flag declared, and every flag a stored workspace carries.
func verifyFlags(tx storage.Reader, declared []string, workspaces map[string]workspace.Workspace, add func(check, subject, format string, args ...any)) error {
	counts := map[string]int64{}
	for _, f := range declared {
		counts[f] = 0
	}
	for _, w := range workspaces {
		for _, f := range w.Flags {
			if w.Status != workspace.Deleted {
				counts[f]++
			} else if _, ok := counts[f]; !ok {
				counts[f] = 0
			}
		}
	}
	for f, want := range counts {
		n, err := tx.Counter(counterForFlag(f))
		if err != nil {
			return err
		}
		if n != want {
			add("counter", counterForFlag(f), "counter says %d, records say %d", n, want)
		}
	}
	return nil
}
