package tenancy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/bolt"
	"github.com/tenancykit/tenancy/storage/memory"
	"github.com/tenancykit/tenancy/token"
)

func (e *env) newToken(t *testing.T, p tenancy.Principal, in tenancy.NewToken) tenancy.CreatedToken {
	t.Helper()
	if in.Lifetime == 0 {
		in.Lifetime = 7 * 24 * time.Hour
	}
	c, err := e.m.CreateToken(ctx, p, in)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) auth(t *testing.T, secret string) tenancy.Principal {
	t.Helper()
	p, err := e.m.Authenticate(ctx, secret)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	return p
}

func TestTokenLifecycle(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		c := e.newToken(t, editor, tenancy.NewToken{Name: "ci", WorkspaceID: e.ws.ID})
		if !strings.HasPrefix(c.Secret, "tncw_") || c.Token.Role != rbac.Editor || c.Token.Hash != nil ||
			c.Token.Hint != token.Hint(c.Secret) || !c.Token.ExpiresAt.Equal(e.clock.Now().Add(7*24*time.Hour)) {
			t.Fatalf("created %+v", c)
		}
		p := e.auth(t, c.Secret)
		if p.UserID() != "editor" || p.TokenID() != c.Token.ID || p.WorkspaceID() != e.ws.ID || p.String() != "token:"+c.Token.ID {
			t.Errorf("principal %v", p)
		}
		wantErr(t, e.m.Authorize(ctx, p, e.ws.ID, rbac.WriteContent), nil, "")
		wantErr(t, e.m.Authorize(ctx, p, e.ws.ID, rbac.InviteMembers), tenancy.ErrPermissionDenied, "the editor role may not invite members in workspace")

		// Rotate: new secret, same settings; the old secret is dead at once.
		e.clock.Advance(time.Hour)
		r, err := e.m.RotateToken(ctx, editor, c.Token.ID)
		if err != nil || r.Secret == c.Secret || r.Token.ID != c.Token.ID || r.Token.Name != "ci" || !r.Token.ExpiresAt.Equal(e.clock.Now().Add(7*24*time.Hour)) {
			t.Fatalf("rotate: %+v %v", r, err)
		}
		_, err = e.m.Authenticate(ctx, c.Secret)
		wantErr(t, err, tenancy.ErrUnauthenticated, "no such token")
		wantErr(t, e.m.Authorize(ctx, p, e.ws.ID, rbac.ReadContent), nil, "") // same token ID: still valid
		p2 := e.auth(t, r.Secret)
		_, err = e.m.RotateToken(ctx, admin, c.Token.ID)
		wantErr(t, err, tenancy.ErrPermissionDenied, "only the token's creator")

		// Lists: admins see every token of the workspace, editors their own.
		mine := e.newToken(t, admin, tenancy.NewToken{Name: "admin's", WorkspaceID: e.ws.ID})
		all, _ := e.m.ListTokens(ctx, admin, tenancy.TokenListOptions{WorkspaceID: e.ws.ID})
		own, _ := e.m.ListTokens(ctx, editor, tenancy.TokenListOptions{WorkspaceID: e.ws.ID})
		if len(all.Items) != 2 || len(own.Items) != 1 || own.Items[0].ID != c.Token.ID {
			t.Errorf("lists: admin sees %d, editor %d", len(all.Items), len(own.Items))
		}
		if _, err := e.m.GetToken(ctx, editor, mine.Token.ID); !errors.Is(err, tenancy.ErrNotFound) {
			t.Errorf("an editor reads an admin's token: %v", err)
		}
		info, err := e.m.GetToken(ctx, admin, c.Token.ID)
		if err != nil || info.State != tenancy.TokenActive || info.Hash != nil {
			t.Errorf("admin reads the editor's token: %+v %v", info, err)
		}

		// Revoke: denied at once, listed as inactive with the reason.
		if err := e.m.RevokeToken(ctx, admin, c.Token.ID); err != nil {
			t.Fatal(err)
		}
		_, err = e.m.Authenticate(ctx, r.Secret)
		wantErr(t, err, tenancy.ErrUnauthenticated, "was revoked")
		wantErr(t, e.m.Authorize(ctx, p2, e.ws.ID, rbac.ReadContent), tenancy.ErrUnauthenticated, "was revoked")
		wantErr(t, e.m.RevokeToken(ctx, admin, c.Token.ID), tenancy.ErrFailedPrecondition, "already revoked")
		inactive, _ := e.m.ListTokens(ctx, admin, tenancy.TokenListOptions{WorkspaceID: e.ws.ID, State: tenancy.TokenInactive})
		active, _ := e.m.ListTokens(ctx, admin, tenancy.TokenListOptions{WorkspaceID: e.ws.ID, State: tenancy.TokenActive})
		if len(inactive.Items) != 1 || inactive.Items[0].State != tenancy.TokenRevoked || len(active.Items) != 1 {
			t.Errorf("inactive %+v active %d", inactive.Items, len(active.Items))
		}
		_, err = e.m.ListTokens(ctx, admin, tenancy.TokenListOptions{WorkspaceID: e.ws.ID, State: "lost"})
		wantErr(t, err, tenancy.ErrInvalidArgument, `state "lost"`)

		evs, _ := e.m.ListEvents(ctx, admin, e.ws.ID, tenancy.EventListOptions{Limit: 100})
		counts := map[string]int{}
		for _, ev := range evs.Items {
			counts[ev.Type]++
			if ev.Data["hint"] != "" && !strings.Contains(ev.Data["hint"], "…") {
				t.Errorf("event hint %q is not a hint", ev.Data["hint"])
			}
		}
		if counts["token.created"] != 2 || counts["token.rotated"] != 1 || counts["token.revoked"] != 1 {
			t.Errorf("token events %v", counts)
		}
	})
}

func TestTokenDenials(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		// Expiry, on the second.
		short := e.newToken(t, editor, tenancy.NewToken{Name: "short", WorkspaceID: e.ws.ID, Lifetime: time.Hour})
		e.clock.Advance(time.Hour - time.Second)
		p := e.auth(t, short.Secret)
		e.clock.Advance(time.Second)
		_, err := e.m.Authenticate(ctx, short.Secret)
		wantErr(t, err, tenancy.ErrUnauthenticated, "expired")
		wantErr(t, e.m.Authorize(ctx, p, e.ws.ID, rbac.ReadContent), tenancy.ErrUnauthenticated, "expired")

		// A token of workspace A used on B: not found, though its creator is B's admin.
		b, _ := e.m.CreateWorkspace(ctx, editor, tenancy.NewWorkspace{Name: "B"})
		c := e.newToken(t, editor, tenancy.NewToken{Name: "a-only", WorkspaceID: e.ws.ID})
		pa := e.auth(t, c.Secret)
		wantErr(t, e.m.Authorize(ctx, pa, b.ID, rbac.ReadContent), tenancy.ErrNotFound, "workspace")
		_, err = e.m.GetWorkspace(ctx, pa, b.ID)
		wantErr(t, err, tenancy.ErrNotFound, "workspace")
		_, err = e.m.ChangeRole(ctx, pa, b.ID, "editor", rbac.Viewer)
		wantErr(t, err, tenancy.ErrNotFound, "workspace")

		// The creator demoted: the token acts with the lower role, at its next use.
		adminTok := e.newToken(t, admin, tenancy.NewToken{Name: "adm", WorkspaceID: e.ws.ID})
		pt := e.auth(t, adminTok.Secret)
		wantErr(t, e.m.Authorize(ctx, pt, e.ws.ID, rbac.ManageMembers), nil, "")
		if _, err := e.m.ChangeRole(ctx, owner, e.ws.ID, "admin", rbac.Viewer); err != nil {
			t.Fatal(err)
		}
		wantErr(t, e.m.Authorize(ctx, pt, e.ws.ID, rbac.ManageMembers), tenancy.ErrPermissionDenied, "viewer")
		wantErr(t, e.m.Authorize(ctx, pt, e.ws.ID, rbac.WriteContent), tenancy.ErrPermissionDenied, "the viewer role may not write content in workspace")
		// Rotating re-checks the ceiling against the creator's role now.
		_, err = e.m.RotateToken(ctx, admin, adminTok.Token.ID)
		wantErr(t, err, tenancy.ErrPermissionDenied, "the viewer role may not create tokens in workspace")

		// The creator removed: their tokens stop at once.
		ed := e.newToken(t, editor, tenancy.NewToken{Name: "ed", WorkspaceID: e.ws.ID})
		pe := e.auth(t, ed.Secret)
		if err := e.m.RemoveMember(ctx, owner, e.ws.ID, "editor"); err != nil {
			t.Fatal(err)
		}
		_, err = e.m.Authenticate(ctx, ed.Secret)
		wantErr(t, err, tenancy.ErrUnauthenticated, "was revoked")
		wantErr(t, e.m.Authorize(ctx, pe, e.ws.ID, rbac.ReadContent), tenancy.ErrUnauthenticated, "was revoked")

		// Inactive: tokens authenticate, writes are refused; deleted: no authentication.
		ow := e.newToken(t, owner, tenancy.NewToken{Name: "own", WorkspaceID: e.ws.ID})
		if _, err := e.m.DeactivateWorkspace(ctx, owner, e.ws.ID); err != nil {
			t.Fatal(err)
		}
		po := e.auth(t, ow.Secret)
		wantErr(t, e.m.Authorize(ctx, po, e.ws.ID, rbac.ReadContent), nil, "")
		wantErr(t, e.m.Authorize(ctx, po, e.ws.ID, rbac.WriteContent), tenancy.ErrFailedPrecondition, "inactive")
		_, err = e.m.CreateToken(ctx, owner, tenancy.NewToken{Name: "new", WorkspaceID: e.ws.ID, Lifetime: time.Hour})
		wantErr(t, err, tenancy.ErrFailedPrecondition, "inactive")
		// A token never has its creator's owner powers.
		_, err = e.m.DeleteWorkspace(ctx, po, e.ws.ID)
		wantErr(t, err, tenancy.ErrPermissionDenied, "the admin role may not delete or restore the workspace in workspace")
		if _, err := e.m.DeleteWorkspace(ctx, owner, e.ws.ID); err != nil {
			t.Fatal(err)
		}
		_, err = e.m.Authenticate(ctx, ow.Secret)
		wantErr(t, err, tenancy.ErrUnauthenticated, "deleted workspace")
	})
}

func TestTokenCreationRules(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		vt := e.newToken(t, editor, tenancy.NewToken{Name: "x", WorkspaceID: e.ws.ID})
		pv := e.auth(t, vt.Secret)
		capped := e.auth(t, e.newToken(t, editor, tenancy.NewToken{Name: "ro", Role: rbac.Viewer}).Secret)
		cases := []struct {
			name string
			p    tenancy.Principal
			in   tenancy.NewToken
			kind error
			msg  string
		}{
			{"viewer", viewer, tenancy.NewToken{Name: "x", WorkspaceID: e.ws.ID, Lifetime: time.Hour}, tenancy.ErrPermissionDenied, "create tokens"},
			{"editor asks admin", editor, tenancy.NewToken{Name: "x", WorkspaceID: e.ws.ID, Role: rbac.Admin, Lifetime: time.Hour}, tenancy.ErrPermissionDenied, "higher than your own"},
			{"admin asks platform", admin, tenancy.NewToken{Name: "x", WorkspaceID: e.ws.ID, Role: rbac.Platform, Lifetime: time.Hour}, tenancy.ErrPermissionDenied, "higher than your own"},
			{"personal platform cap", admin, tenancy.NewToken{Name: "x", Role: rbac.Platform, Lifetime: time.Hour}, tenancy.ErrPermissionDenied, "higher than your own"},
			{"outsider", outsider, tenancy.NewToken{Name: "x", WorkspaceID: e.ws.ID, Lifetime: time.Hour}, tenancy.ErrNotFound, "not found"},
			{"a workspace token", pv, tenancy.NewToken{Name: "x", WorkspaceID: e.ws.ID, Lifetime: time.Hour}, tenancy.ErrPermissionDenied, "a workspace token cannot act on its user's tokens"},
			{"a capped personal token", capped, tenancy.NewToken{Name: "x", Role: rbac.Viewer, Lifetime: time.Hour}, tenancy.ErrPermissionDenied, "capped at viewer cannot act on its user's tokens"},
			{"a capped personal token, workspace token", capped, tenancy.NewToken{Name: "x", WorkspaceID: e.ws.ID, Lifetime: time.Hour}, tenancy.ErrPermissionDenied, "capped at viewer"},
			{"System", system, tenancy.NewToken{Name: "x", Lifetime: time.Hour}, tenancy.ErrInvalidArgument, "belong to users"},
			{"nobody", nobody, tenancy.NewToken{Name: "x", Lifetime: time.Hour}, tenancy.ErrUnauthenticated, ""},
			{"no name", editor, tenancy.NewToken{Lifetime: time.Hour}, tenancy.ErrInvalidArgument, "token name"},
			{"long name", editor, tenancy.NewToken{Name: strings.Repeat("n", 101), Lifetime: time.Hour}, tenancy.ErrInvalidArgument, "token name"},
			{"never expires", editor, tenancy.NewToken{Name: "x"}, tenancy.ErrInvalidArgument, "never expire are not enabled"},
			{"two years", editor, tenancy.NewToken{Name: "x", Lifetime: 2 * 365 * 24 * time.Hour}, tenancy.ErrInvalidArgument, "at most 365 days"},
			{"bad role", editor, tenancy.NewToken{Name: "x", Role: "root", Lifetime: time.Hour}, tenancy.ErrInvalidArgument, "role"},
		}
		for _, c := range cases {
			before := e.dump(t)
			_, err := e.m.CreateToken(ctx, c.p, c.in)
			if !errors.Is(err, c.kind) || !strings.Contains(fmt.Sprint(err), c.msg) {
				t.Errorf("%s: got %v, want %v %q", c.name, err, c.kind, c.msg)
			}
			if e.dump(t) != before {
				t.Errorf("%s: a refused creation changed storage", c.name)
			}
		}
		// A workspace token acts with its creator's membership role, never with platform
		// powers: a platform user who is not a member cannot make one, and one made by a
		// platform editor is an editor token.
		_, err := e.m.CreateToken(ctx, platform, tenancy.NewToken{Name: "ops", WorkspaceID: e.ws.ID, Lifetime: time.Hour})
		wantErr(t, err, tenancy.ErrFailedPrecondition, "member")
		e.addMember(t, e.ws.ID, "plat", rbac.Editor)
		pt := e.newToken(t, platform, tenancy.NewToken{Name: "ops", WorkspaceID: e.ws.ID})
		if pt.Token.Role != rbac.Editor {
			t.Errorf("platform editor's default workspace-token role %s, want editor", pt.Token.Role)
		}
		_, err = e.m.CreateToken(ctx, platform, tenancy.NewToken{Name: "ops", WorkspaceID: e.ws.ID, Role: rbac.Admin, Lifetime: time.Hour})
		wantErr(t, err, tenancy.ErrPermissionDenied, "higher than your own")
		pp := e.auth(t, pt.Secret)
		wantErr(t, e.m.Authorize(ctx, pp, e.ws.ID, rbac.WriteContent), nil, "")
		wantErr(t, e.m.Authorize(ctx, pp, e.ws.ID, rbac.ManageMembers), tenancy.ErrPermissionDenied, "the editor role may not manage members in workspace")
		_, err = e.m.Stats(ctx, pp)
		wantErr(t, err, tenancy.ErrPermissionDenied, "only platform users may read workspace statistics") // a workspace token has no platform powers
	})
}

func TestPersonalTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		b, _ := e.m.CreateWorkspace(ctx, editor, tenancy.NewWorkspace{Name: "B"})
		c := e.newToken(t, editor, tenancy.NewToken{Name: "laptop"})
		if !strings.HasPrefix(c.Secret, "tncp_") {
			t.Fatalf("personal secret %q", c.Secret[:5])
		}
		p := e.auth(t, c.Secret)
		wantErr(t, e.m.Authorize(ctx, p, e.ws.ID, rbac.WriteContent), nil, "")
		wantErr(t, e.m.Authorize(ctx, p, b.ID, rbac.UpdateWorkspace), nil, "") // the user owns B
		capped := e.auth(t, e.newToken(t, editor, tenancy.NewToken{Name: "ro", Role: rbac.Viewer}).Secret)
		wantErr(t, e.m.Authorize(ctx, capped, b.ID, rbac.ReadContent), nil, "")
		wantErr(t, e.m.Authorize(ctx, capped, b.ID, rbac.WriteContent), tenancy.ErrPermissionDenied, "viewer")
		// A personal token creates workspaces as its user; a workspace token cannot.
		if _, err := e.m.CreateWorkspace(ctx, p, tenancy.NewWorkspace{Name: "Via token"}); err != nil {
			t.Errorf("personal token creates a workspace: %v", err)
		}
		wt := e.auth(t, e.newToken(t, editor, tenancy.NewToken{Name: "w", WorkspaceID: b.ID}).Secret)
		_, err := e.m.CreateWorkspace(ctx, wt, tenancy.NewWorkspace{Name: "Via ws token"})
		wantErr(t, err, tenancy.ErrPermissionDenied, "workspace token")
		// A platform user's personal token has platform powers; capped, it does not.
		pl := e.auth(t, e.newToken(t, platform, tenancy.NewToken{Name: "ops"}).Secret)
		if _, err := e.m.Stats(ctx, pl); err != nil {
			t.Errorf("platform personal token: %v", err)
		}
		plc := e.auth(t, e.newToken(t, platform, tenancy.NewToken{Name: "ops-ro", Role: rbac.Viewer}).Secret)
		_, err = e.m.Stats(ctx, plc)
		wantErr(t, err, tenancy.ErrPermissionDenied, "only platform users may read workspace statistics")
		// A personal token acts as its user, ownership included, unless capped below admin.
		ownerTok := e.auth(t, e.newToken(t, owner, tenancy.NewToken{Name: "own"}).Secret)
		wantErr(t, e.m.Authorize(ctx, ownerTok, e.ws.ID, rbac.DeleteWorkspace), nil, "")
		ownerAdminCap := e.auth(t, e.newToken(t, owner, tenancy.NewToken{Name: "adm", Role: rbac.Admin}).Secret)
		wantErr(t, e.m.Authorize(ctx, ownerAdminCap, e.ws.ID, rbac.DeleteWorkspace), nil, "")
		ownerEditorCap := e.auth(t, e.newToken(t, owner, tenancy.NewToken{Name: "ed", Role: rbac.Editor}).Secret)
		wantErr(t, e.m.Authorize(ctx, ownerEditorCap, e.ws.ID, rbac.DeleteWorkspace), tenancy.ErrPermissionDenied, "the editor role may not delete or restore the workspace in workspace")
		ownerWsTok := e.auth(t, e.newToken(t, owner, tenancy.NewToken{Name: "ws", WorkspaceID: e.ws.ID}).Secret)
		wantErr(t, e.m.Authorize(ctx, ownerWsTok, e.ws.ID, rbac.DeleteWorkspace), tenancy.ErrPermissionDenied, "the admin role may not delete or restore the workspace in workspace")

		// An uncapped personal token creates tokens for its user; a capped one cannot.
		_, err = e.m.CreateToken(ctx, capped, tenancy.NewToken{Name: "minted", Lifetime: time.Hour})
		wantErr(t, err, tenancy.ErrPermissionDenied, "capped at viewer")
		minted, err := e.m.CreateToken(ctx, p, tenancy.NewToken{Name: "minted", Role: rbac.Viewer, Lifetime: time.Hour})
		if err != nil || minted.Token.Role != rbac.Viewer || minted.Token.UserID != "editor" {
			t.Errorf("an uncapped personal token mints %+v %v", minted.Token, err)
		}
		_, err = e.m.RotateToken(ctx, capped, minted.Token.ID)
		wantErr(t, err, tenancy.ErrNotFound, "not found") // a capped token does not see its user's other tokens
		if _, err := e.m.RotateToken(ctx, p, minted.Token.ID); err != nil {
			t.Errorf("the uncapped personal token rotates its user's token: %v", err)
		}
		mine, err := e.m.ListTokens(ctx, editor, tenancy.TokenListOptions{UserID: "editor"})
		if err != nil || len(mine.Items) != 4 {
			t.Errorf("editor's tokens: %d %v", len(mine.Items), err)
		}
		_, err = e.m.ListTokens(ctx, viewer, tenancy.TokenListOptions{UserID: "editor"})
		wantErr(t, err, tenancy.ErrPermissionDenied, "own tokens")
	})
}

// Authenticate writes nothing; last-used times reach storage on flush, coalesced.
func TestAuthenticateWritesNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		c := e.newToken(t, editor, tenancy.NewToken{Name: "ci", WorkspaceID: e.ws.ID})
		before := e.dump(t)
		for i := 0; i < 50; i++ {
			e.clock.Advance(time.Second)
			e.auth(t, c.Secret)
		}
		if e.dump(t) != before {
			t.Fatal("Authenticate wrote to storage")
		}
		if err := e.m.FlushTokenUsage(ctx); err != nil {
			t.Fatal(err)
		}
		info, _ := e.m.GetToken(ctx, editor, c.Token.ID)
		if !info.LastUsedAt.Equal(e.clock.Now()) {
			t.Errorf("last used %v, want %v", info.LastUsedAt, e.clock.Now())
		}
	})
}

// countingStore fails the test when the Manager touches storage.
type countingStore struct {
	storage.Storage
	calls atomic.Int64
}

func (c *countingStore) View(ctx context.Context, fn func(storage.Reader) error) error {
	c.calls.Add(1)
	return c.Storage.View(ctx, fn)
}

func TestMalformedSecretsNeverReachStorage(t *testing.T) {
	cs := &countingStore{Storage: memory.New()}
	m, err := tenancy.New(cs, tenancy.Options{SecretKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cs.calls.Store(0) // New reads the stored role list once
	good, _ := token.NewSecret("tncw", nil)
	typo := good[:10] + map[bool]string{true: "b", false: "a"}[good[10] == 'a'] + good[11:]
	for _, s := range []string{"", "garbage", "tncx_" + good[5:], typo, good + "x", "ghp_" + good[5:], strings.Repeat("a", 10000)} {
		_, err := m.Authenticate(ctx, s)
		wantErr(t, err, tenancy.ErrUnauthenticated, "invalid token")
		if len(s) > 8 && strings.Contains(err.Error(), s[5:]) {
			t.Errorf("the error echoes the secret: %v", err)
		}
	}
	if n := cs.calls.Load(); n != 0 {
		t.Errorf("malformed secrets caused %d storage reads", n)
	}
	// A well-formed but unknown secret costs exactly one read.
	_, err = m.Authenticate(ctx, good)
	wantErr(t, err, tenancy.ErrUnauthenticated, "no such token")
	if n := cs.calls.Load(); n != 1 {
		t.Errorf("an unknown secret caused %d storage reads, want 1", n)
	}
}

// No plaintext secret anywhere at rest: the bolt file holds none of them.
func TestNoSecretsAtRest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenancy.db")
	store, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: store, clock: newClock()}
	e.m, err = tenancy.New(store, tenancy.Options{SecretKey: testKey, Clock: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"owner", "editor"} {
		e.registerUser(t, id)
	}
	w, _ := e.m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: "W"})
	e.addMember(t, w.ID, "editor", rbac.Editor)
	var secrets []string
	for i := 0; i < 5; i++ {
		secrets = append(secrets, e.newToken(t, editor, tenancy.NewToken{Name: fmt.Sprint("t", i), WorkspaceID: w.ID}).Secret)
		secrets = append(secrets, e.newToken(t, owner, tenancy.NewToken{Name: fmt.Sprint("p", i)}).Secret)
		sent, err := e.m.InviteMember(ctx, owner, w.ID, tenancy.NewInvitation{Email: fmt.Sprintf("i%d@example.com", i), Role: rbac.Viewer})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, sent.Secret)
	}
	r, _ := e.m.RotateToken(ctx, editor, e.mustTokenID(t, secrets[0]))
	secrets = append(secrets, r.Secret)
	e.auth(t, r.Secret)
	if err := e.m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		body := s[strings.IndexByte(s, '_')+1:]
		if bytes.Contains(raw, []byte(s)) || bytes.Contains(raw, []byte(body[:20])) {
			t.Errorf("the database file holds a secret (%s)", token.Hint(s))
		}
	}
	if bytes.Contains(raw, testKey) {
		t.Error("the database file holds the hashing key")
	}
}

func (e *env) mustTokenID(t *testing.T, secret string) string {
	t.Helper()
	return e.auth(t, secret).TokenID()
}

func TestPurgeRemovesTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		c := e.newToken(t, editor, tenancy.NewToken{Name: "ci", WorkspaceID: e.ws.ID})
		if err := e.m.PurgeWorkspace(ctx, platform, e.ws.ID); err != nil {
			t.Fatal(err)
		}
		_, err := e.m.Authenticate(ctx, c.Secret)
		wantErr(t, err, tenancy.ErrUnauthenticated, "no such token")
		w, _ := e.m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: "Main", Slug: e.ws.Slug})
		pg, _ := e.m.ListTokens(ctx, owner, tenancy.TokenListOptions{WorkspaceID: w.ID})
		if len(pg.Items) != 0 {
			t.Errorf("a re-created workspace inherits %d tokens", len(pg.Items))
		}
		mine, _ := e.m.ListTokens(ctx, editor, tenancy.TokenListOptions{UserID: "editor"})
		if len(mine.Items) != 0 {
			t.Errorf("the purged token is still listed for its creator")
		}
	})
}

func TestCloseFlushesUsage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	store, _ := bolt.Open(path, bolt.Options{})
	m, _ := tenancy.New(store, tenancy.Options{SecretKey: testKey, TokenUsageFlushInterval: time.Hour})
	_, _ = m.RegisterUser(ctx, system, tenancy.NewUser{ID: "u", Email: "u@example.com"})
	c, err := m.CreateToken(ctx, tenancy.User("u"), tenancy.NewToken{Name: "t", Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Authenticate(ctx, c.Secret); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	store.Close()
	store, _ = bolt.Open(path, bolt.Options{})
	defer store.Close()
	m2, _ := tenancy.New(store, tenancy.Options{SecretKey: testKey})
	info, err := m2.GetToken(ctx, tenancy.User("u"), c.Token.ID)
	if err != nil || info.LastUsedAt.IsZero() {
		t.Errorf("last use not flushed on Close: %+v %v", info.LastUsedAt, err)
	}
}
