package tenancy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/webhook"
)

// storage.Copy moves a store between any two backends: the copy passes Verify,
// serves the same tokens and invitations with the same key, keeps the feed's
// order, and a consumer resumes where it was.
func TestCopyBetweenBackends(t *testing.T) {
	for _, from := range backends {
		for _, to := range backends {
			t.Run(from.name+"_to_"+to.name, func(t *testing.T) {
				e := newEnvOpts(t, from, func(o *tenancy.Options) {
					o.Webhooks.Policy = webhook.Policy{AllowHTTP: true, AllowPrivate: true}
				})
				tok, err := e.m.CreateToken(ctx, owner, tenancy.NewToken{Name: "kept", WorkspaceID: e.ws.ID, Lifetime: time.Hour})
				if err != nil {
					t.Fatal(err)
				}
				inv, err := e.m.InviteMember(ctx, owner, e.ws.ID, tenancy.NewInvitation{Email: "new@example.com"})
				if err != nil {
					t.Fatal(err)
				}
				gone, _ := e.m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: "Gone"})
				if _, err := e.m.DeleteWorkspace(ctx, owner, gone.ID); err != nil {
					t.Fatal(err)
				}
				if _, err := e.m.CreateWebhook(ctx, admin, tenancy.NewWebhook{WorkspaceID: e.ws.ID, URL: "http://127.0.0.1:9/x"}); err != nil {
					t.Fatal(err)
				}
				handled := 0
				noop := func(context.Context, tenancy.Event) error { handled++; return nil }
				if _, err := e.m.ConsumeStep(ctx, system, "provisioner", tenancy.ConsumeOptions{Instance: "a"}, noop); err != nil {
					t.Fatal(err)
				}
				var feed []string
				page, _ := e.m.Feed(ctx, system, tenancy.EventListOptions{Limit: 100})
				for _, ev := range page.Items {
					feed = append(feed, ev.ID)
				}

				dst := to.open(t)
				t.Cleanup(func() { _ = dst.Close() })
				copied := 0
				n, err := storage.Copy(ctx, dst, e.store, storage.CopyOptions{Batch: 7, Progress: func(c int) { copied = c }})
				if err != nil {
					t.Fatal(err)
				}
				if n.Events != len(feed) || n.Tokens == 0 || n.Invitations != 1 || n.Webhooks != 1 || n.Consumers < 2 || copied == 0 {
					t.Errorf("copied %+v (progress %d)", n, copied)
				}
				// Count walks a store as Copy does: the source counts what was
				// copied, and so does the target (its own copy mark aside).
				for side, s := range map[string]storage.Storage{"source": e.store, "target": dst} {
					c, err := storage.Count(ctx, s)
					if err != nil {
						t.Fatal(err)
					}
					c.Settings = n.Settings
					if c != n {
						t.Errorf("Count of the %s: %+v, Copy copied %+v", side, c, n)
					}
				}
				// The last progress is every record written, and the copy's two marks
				// (copying, done): what a progress bar over Total reaches.
				if copied != n.Total()+2 {
					t.Errorf("progress ended at %d, Total is %d", copied, n.Total())
				}
				m, err := tenancy.New(dst, tenancy.Options{SecretKey: testKey, Clock: e.clock.Now})
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				if findings, err := m.Verify(ctx); err != nil || len(findings) != 0 {
					t.Errorf("Verify of the copy: %v %v", findings, err)
				}
				if p, err := m.Authenticate(ctx, tok.Secret); err != nil || p.TokenID() != tok.Token.ID {
					t.Errorf("the token in the copy: %v %v", p, err)
				}
				if info, err := m.InvitationBySecret(ctx, inv.Secret); err != nil || info.ID != inv.Invitation.ID {
					t.Errorf("the invitation in the copy: %v", err)
				}
				if w, err := m.GetWorkspace(ctx, system, gone.ID); err != nil || w.Status != "deleted" {
					t.Errorf("the deleted workspace in the copy: %v %v", w.Status, err)
				}
				page, _ = m.Feed(ctx, system, tenancy.EventListOptions{Limit: 100})
				var got []string
				for _, ev := range page.Items {
					got = append(got, ev.ID)
				}
				if len(got) != len(feed) {
					t.Fatalf("the copy's feed holds %d events, want %d", len(got), len(feed))
				}
				for i := range got {
					if got[i] != feed[i] {
						t.Fatalf("the copy's feed order differs at %d: %s, want %s", i, got[i], feed[i])
					}
				}
				// The consumer resumes where it was: nothing old comes again.
				before := handled
				e.clock.Advance(time.Minute)
				if _, err := m.ConsumeStep(ctx, system, "provisioner", tenancy.ConsumeOptions{Instance: "b"}, noop); err != nil {
					t.Fatal(err)
				}
				if handled != before {
					t.Errorf("after the copy the consumer was handed %d old events again", handled-before)
				}
				// A second copy into the same target is refused.
				if _, err := storage.Copy(ctx, dst, e.store, storage.CopyOptions{}); !errors.Is(err, storage.ErrTargetNotEmpty) {
					t.Errorf("a copy into a full target: %v", err)
				}
			})
		}
	}
}
