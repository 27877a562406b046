package tenancy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/storage/memory"
	"github.com/tenancykit/tenancy/token"
)

// fuzzManager is a small memory Manager with a user and a pending invitation.
func fuzzManager(f *testing.F) (*tenancy.Manager, string) {
	m, err := tenancy.New(memory.New(), tenancy.Options{SecretKey: testKey})
	if err != nil {
		f.Fatal(err)
	}
	_, _ = m.RegisterUser(ctx, tenancy.System(), tenancy.NewUser{ID: "u", Email: "u@example.com"})
	_, _ = m.RegisterUser(ctx, tenancy.System(), tenancy.NewUser{ID: "v", Email: "v@example.com"})
	w, _ := m.CreateWorkspace(ctx, tenancy.User("u"), tenancy.NewWorkspace{Name: "W"})
	sent, _ := m.InviteMember(ctx, tenancy.User("u"), w.ID, tenancy.NewInvitation{Email: "v@example.com", Role: "viewer"})
	return m, sent.Secret
}

// Arbitrary strings as invitation secrets never panic and fail with the right kinds.
func FuzzInvitationSecret(f *testing.F) {
	m, secret := fuzzManager(f)
	other, _ := token.NewSecret("tnci", nil)
	for _, s := range []string{secret, other, "", "tnci_", secret[:len(secret)-1] + "0", strings.ToUpper(secret)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := m.InvitationBySecret(ctx, s)
		if err != nil && !errors.Is(err, tenancy.ErrInvalidArgument) && !errors.Is(err, tenancy.ErrNotFound) {
			t.Fatalf("InvitationBySecret: unexpected %v", err)
		}
		if s != secret {
			_, err = m.AcceptInvitation(ctx, tenancy.User("v"), s)
			if err == nil {
				t.Fatalf("a string other than the secret was accepted")
			}
			if strings.Contains(err.Error(), s) && len(s) > 8 {
				t.Fatalf("the error echoes the input")
			}
		}
	})
}

// Arbitrary token secrets never authenticate and never panic.
func FuzzAuthenticate(f *testing.F) {
	m, _ := fuzzManager(f)
	good, _ := token.NewSecret("tncw", nil)
	for _, s := range []string{good, "", "tncp_", "Bearer x", strings.Repeat("z", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := m.Authenticate(ctx, s); !errors.Is(err, tenancy.ErrUnauthenticated) {
			t.Fatalf("Authenticate(%q): %v", s, err)
		}
	})
}

// Workspaces made from arbitrary names, slugs and metadata are valid or refused as
// invalid input, and Verify stays clean.
func FuzzCreateWorkspace(f *testing.F) {
	m, _ := fuzzManager(f)
	f.Add("My App", "", "plan", "pro")
	f.Add("", "x", "", "")
	f.Add(strings.Repeat("n", 101), "Bad Slug", "a b", "v")
	f.Add("日本語", "", "k", strings.Repeat("v", 2000))
	f.Fuzz(func(t *testing.T, name, slug, k, v string) {
		var md map[string]string
		if k != "" || v != "" {
			md = map[string]string{k: v}
		}
		w, err := m.CreateWorkspace(ctx, tenancy.User("u"), tenancy.NewWorkspace{Name: name, Slug: slug, Metadata: md})
		switch {
		case err == nil:
			if got, err := m.GetWorkspaceBySlug(ctx, tenancy.User("u"), w.Slug); err != nil || got.ID != w.ID {
				t.Fatalf("created %+v but cannot read it back: %v", w, err)
			}
		case errors.Is(err, tenancy.ErrInvalidArgument), errors.Is(err, tenancy.ErrAlreadyExists):
		default:
			t.Fatalf("unexpected error %v", err)
		}
		if findings, err := m.Verify(ctx); err != nil || len(findings) != 0 {
			t.Fatalf("Verify: %v %v", findings, err)
		}
	})
}
