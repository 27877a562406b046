package client_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenancykit/tenancy/httpapi/client"
)

// prism finds Stoplight's Prism (@stoplight/prism-cli, from the npm registry):
// $TENANCY_PRISM, the copy .ci/run installs under .ci/node, or one on PATH. It
// skips without one, and fails instead under TENANCY_REQUIRE_CONTRACT=1 (CI).
func prism(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("TENANCY_PRISM"), filepath.Join("..", "..", ".ci", "node", "node_modules", ".bin", "prism")} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("prism"); err == nil {
		return p
	}
	msg := "contract test skipped: no Prism (npm install @stoplight/prism-cli@5.14, or set TENANCY_PRISM)"
	if os.Getenv("TENANCY_REQUIRE_CONTRACT") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestContractThroughPrism runs the seeds' flows with the generated client
// through Prism as a validating proxy in front of the real API: with --errors,
// any request or answer that breaks the OpenAPI document becomes an error answer,
// so a tool nobody here wrote holds the server to its document.
func TestContractThroughPrism(t *testing.T) {
	bin := prism(t)
	_, base, token := server(t) // base ends in /api/v1
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	pctx, stop := context.WithCancel(context.Background())
	defer stop()
	cmd := exec.CommandContext(pctx, bin, "proxy", "--errors", "-p", strconv.Itoa(port), "-h", "127.0.0.1", "../openapi.json", base)
	log := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stop(); _ = cmd.Wait() }()
	proxy := fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; ; i++ { // Prism takes a few seconds to start; CI machines are slow
		if resp, err := http.Get(proxy + "/roles"); err == nil {
			resp.Body.Close()
			break
		}
		if i == 600 {
			t.Fatalf("prism did not start: %s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	c, err := client.New(proxy, token)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, resp *http.Response, body []byte, err error) {
		t.Helper()
		if err == nil {
			err = client.Check(resp, body)
		}
		if err != nil {
			t.Fatalf("%s through prism: %v\n%s", what, err, body)
		}
	}
	name := "Contract"
	cw, err := c.CreateWorkspaceWithResponse(ctx, client.CreateWorkspaceJSONRequestBody{Name: &name})
	check("createWorkspace", cw.HTTPResponse, cw.Body, err)
	ws := cw.JSON201.WorkspaceId
	gw, err := c.GetWorkspaceWithResponse(ctx, ws)
	check("getWorkspace", gw.HTTPResponse, gw.Body, err)
	desc := "checked by prism"
	uw, err := c.UpdateWorkspaceWithResponse(ctx, ws, client.UpdateWorkspaceJSONRequestBody{Description: &desc})
	check("updateWorkspace", uw.HTTPResponse, uw.Body, err)
	lw, err := c.ListWorkspacesWithResponse(ctx, nil)
	check("listWorkspaces", lw.HTTPResponse, lw.Body, err)
	st, err := c.GetWorkspaceStatsWithResponse(ctx)
	check("getWorkspaceStats", st.HTTPResponse, st.Body, err)
	role := "editor"
	inv, err := c.CreateInvitationWithResponse(ctx, client.CreateInvitationJSONRequestBody{Email: "ana@example.com", Role: &role, WorkspaceId: ws})
	check("createInvitation", inv.HTTPResponse, inv.Body, err)
	li, err := c.ListInvitationsWithResponse(ctx, &client.ListInvitationsParams{XWorkspaceID: ws})
	check("listInvitations", li.HTTPResponse, li.Body, err)
	ct, err := c.CreateWorkspaceTokenWithResponse(ctx, ws, client.CreateWorkspaceTokenJSONRequestBody{Name: "ci", ExpiresIn: "7d"})
	check("createWorkspaceToken", ct.HTTPResponse, ct.Body, err)
	lt, err := c.ListWorkspaceTokensWithResponse(ctx, ws, nil)
	check("listWorkspaceTokens", lt.HTTPResponse, lt.Body, err)
	rt, err := c.RevokeWorkspaceTokenWithResponse(ctx, ws, ct.JSON201.TokenId)
	check("revokeWorkspaceToken", rt.HTTPResponse, rt.Body, err)
	lm, err := c.ListWorkspaceMembersWithResponse(ctx, ws, nil)
	check("listWorkspaceMembers", lm.HTTPResponse, lm.Body, err)
	me, err := c.GetMeWithResponse(ctx)
	check("getMe", me.HTTPResponse, me.Body, err)
	ro, err := c.ListRolesWithResponse(ctx)
	check("listRoles", ro.HTTPResponse, ro.Body, err)
	fe, err := c.ReadFeedWithResponse(ctx, nil)
	check("readFeed", fe.HTTPResponse, fe.Body, err)
	ev, err := c.ListWorkspaceEventsWithResponse(ctx, ws, nil)
	check("listWorkspaceEvents", ev.HTTPResponse, ev.Body, err)
	cwh, err := c.CreateWebhookWithResponse(ctx, client.CreateWebhookJSONRequestBody{Url: "https://hooks.example.com/contract", WorkspaceId: &ws})
	check("createWebhook", cwh.HTTPResponse, cwh.Body, err)
	gwh, err := c.GetWebhookWithResponse(ctx, cwh.JSON201.WebhookId)
	check("getWebhook", gwh.HTTPResponse, gwh.Body, err)
	dwh, err := c.DeleteWebhookWithResponse(ctx, cwh.JSON201.WebhookId)
	check("deleteWebhook", dwh.HTTPResponse, dwh.Body, err)
	dw, err := c.DeleteWorkspaceWithResponse(ctx, ws)
	check("deleteWorkspace", dw.HTTPResponse, dw.Body, err)
	// An error answer is in the document too: prism passes it through as it is.
	missing, err := c.GetWorkspaceWithResponse(ctx, "ws_missing")
	if err != nil || missing.StatusCode() != http.StatusNotFound || missing.JSON404 == nil || missing.JSON404.Kind != client.NotFound {
		t.Errorf("a 404 through prism: %v %d %s", err, missing.StatusCode(), missing.Body)
	}
	if strings.Contains(log.String(), "Violation") || strings.Contains(log.String(), "violation") {
		t.Errorf("prism reported violations:\n%s", log.String())
	}
}

// lockedBuffer is prism's output: written by the process's copier, read by the
// test.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
