package webhook_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/tenancykit/tenancy/webhook"
)

// Our signatures are checked by the Standard Webhooks reference library, code we
// did not write, and theirs by ours.
func TestSignaturesVerifyWithTheReferenceLibrary(t *testing.T) {
	s1, err := webhook.NewSecret(nil)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := webhook.NewSecret(nil)
	body := []byte(`{"type":"workspace.created","timestamp":"2026-01-01T00:00:00Z","data":{"workspace_id":"ws_1"}}`)
	now := time.Now()
	h, err := webhook.SignAll([]string{s1, s2}, "evt_01", now, body)
	if err != nil {
		t.Fatal(err)
	}
	header := http.Header{}
	header.Set("webhook-id", h.ID)
	header.Set("webhook-timestamp", h.Timestamp)
	header.Set("webhook-signature", h.Signature)
	for i, s := range []string{s1, s2} { // during a rotation, either secret verifies
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(body, header); err != nil {
			t.Errorf("secret %d: the reference library refuses our signature: %v", i+1, err)
		}
		if err := wh.Verify(append(bytes.Clone(body), ' '), header); err == nil {
			t.Errorf("secret %d: a changed body verified", i+1)
		}
	}
	other, _ := webhook.NewSecret(nil)
	wh, _ := standardwebhooks.NewWebhook(other)
	if err := wh.Verify(body, header); err == nil {
		t.Error("a secret that signed nothing verified")
	}

	// Theirs verifies with ours.
	wh, _ = standardwebhooks.NewWebhook(s1)
	sig, err := wh.Sign("msg_2", now, body)
	if err != nil {
		t.Fatal(err)
	}
	ours := webhook.Headers{ID: "msg_2", Timestamp: h.Timestamp, Signature: sig}
	if err := webhook.Verify(s1, ours, body, now, 5*time.Minute); err != nil {
		t.Errorf("Verify refuses the reference library's signature: %v", err)
	}
	if err := webhook.Verify(s1, ours, body, now.Add(time.Hour), 5*time.Minute); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("an hour-old signature: %v, want ErrBadSignature", err)
	}
	if err := webhook.Verify(s2, ours, body, now, 5*time.Minute); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("the wrong secret: %v, want ErrBadSignature", err)
	}
}

func TestNewSecret(t *testing.T) {
	a, err := webhook.NewSecret(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := webhook.NewSecret(nil)
	if !strings.HasPrefix(a, "whsec_") || a == b {
		t.Errorf("secrets %q, %q: want distinct whsec_ secrets", a, b)
	}
	if _, err := webhook.Sign("not-a-secret", "id", time.Now(), nil); !errors.Is(err, webhook.ErrBadSecret) {
		t.Errorf("Sign with a malformed secret: %v, want ErrBadSecret", err)
	}
	if _, err := webhook.Sign("whsec_", "id", time.Now(), nil); !errors.Is(err, webhook.ErrBadSecret) {
		t.Errorf("Sign with an empty key: %v, want ErrBadSecret", err)
	}
	if _, err := webhook.SignAll(nil, "id", time.Now(), nil); err == nil {
		t.Error("SignAll with no secret succeeded")
	}
}

func TestBackoff(t *testing.T) {
	s := webhook.DefaultSchedule
	total := time.Duration(0)
	for retry := 1; retry <= len(s); retry++ {
		d, ok := webhook.Backoff(s, retry, 0.5)
		if !ok || d != s[retry-1] {
			t.Errorf("retry %d without jitter: %v %v, want %v", retry, d, ok, s[retry-1])
		}
		lo, _ := webhook.Backoff(s, retry, 0)
		hi, _ := webhook.Backoff(s, retry, 0.9999)
		if lo < s[retry-1]*9/10 || hi > s[retry-1]*11/10 || lo >= hi {
			t.Errorf("retry %d: jitter range [%v, %v] outside ±10%% of %v", retry, lo, hi, s[retry-1])
		}
		total += d
	}
	if total < 17*time.Hour || total > 25*time.Hour {
		t.Errorf("the schedule spans %v, want about a day", total)
	}
	for _, retry := range []int{0, -1, len(s) + 1} {
		if _, ok := webhook.Backoff(s, retry, 0.5); ok {
			t.Errorf("retry %d: the schedule should have run out", retry)
		}
	}
}

func TestCheckURL(t *testing.T) {
	strict, open := webhook.Policy{}, webhook.Policy{AllowHTTP: true, AllowPrivate: true}
	for _, c := range []struct {
		url          string
		strict, open bool // allowed under each policy
	}{
		{"https://hooks.example.com/tenancy", true, true},
		{"https://hooks.example.com:8443/x?y=1", true, true},
		{"http://hooks.example.com/x", false, true},
		{"https://127.0.0.1/x", false, true},
		{"https://[::1]/x", false, true},
		{"https://10.1.2.3/x", false, true},
		{"https://169.254.169.254/latest/meta-data", false, true},
		{"https://[::ffff:127.0.0.1]/x", false, true},
		{"https://100.64.0.1/x", false, true},
		{"https://0.0.0.0/x", false, true},
		{"https://localhost/x", false, true},
		{"https://db/x", false, true},
		{"https://93.184.215.14/x", true, true},
		{"https://user:pass@hooks.example.com/x", false, false},
		{"https://hooks.example.com/x#frag", false, false},
		{"ftp://hooks.example.com/x", false, false},
		{"hooks.example.com/x", false, false},
		{"https:///x", false, false},
		{"://bad", false, false},
		{"https://" + strings.Repeat("a", 2050) + ".com/", false, false},
	} {
		for _, p := range []struct {
			name string
			pol  webhook.Policy
			want bool
		}{{"strict", strict, c.strict}, {"open", open, c.open}} {
			_, err := p.pol.CheckURL(c.url)
			if (err == nil) != p.want {
				t.Errorf("%s policy, %.60q: err %v, want allowed=%v", p.name, c.url, err, p.want)
			}
			if err != nil && !errors.Is(err, webhook.ErrAddress) {
				t.Errorf("%.60q: %v is not ErrAddress", c.url, err)
			}
		}
	}
}

func TestPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "93.184.215.14": true, "2606:4700:4700::1111": true,
		"127.0.0.1": false, "10.0.0.1": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "100.64.0.1": false, "0.0.0.0": false, "255.255.255.255": false,
		"224.0.0.1": false, "::1": false, "::": false, "fe80::1": false, "fc00::1": false,
		"::ffff:10.0.0.1": false, "64:ff9b::a00:1": false, "2001:db8::1": false, "198.18.0.1": false,
	} {
		if got := webhook.Public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Public(%s) = %v, want %v", addr, got, want)
		}
	}
}

// The client checks the address it connects to, after DNS: a test server on
// loopback is refused under the default policy and reached under an open one; and
// it does not follow redirects.
func TestClientChecksEveryConnection(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	strict := webhook.Policy{AllowHTTP: true} // http allowed, private addresses not
	_, err := strict.Client(5*time.Second).Post(srv.URL+"/x", "application/json", nil)
	if !errors.Is(err, webhook.ErrAddress) {
		t.Errorf("a loopback connection under the strict policy: %v, want ErrAddress", err)
	}
	if hits != 0 {
		t.Fatalf("the refused request reached the server")
	}
	open := webhook.Policy{AllowHTTP: true, AllowPrivate: true}
	resp, err := open.Client(5*time.Second).Post(srv.URL+"/redirect", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || hits != 1 {
		t.Errorf("a redirect: status %d after %d requests, want 302 after 1 (not followed)", resp.StatusCode, hits)
	}
}

func TestEndpointReceivesAndClone(t *testing.T) {
	e := webhook.Endpoint{EventTypes: []string{"workspace.created"}, Secrets: []webhook.Secret{{Sealed: []byte{1, 2}}}}
	if !e.Receives("workspace.created") || e.Receives("workspace.purged") {
		t.Error("an endpoint filtered to workspace.created")
	}
	if !(webhook.Endpoint{}).Receives("anything") {
		t.Error("an endpoint without a filter receives every type")
	}
	c := e.Clone()
	c.EventTypes[0], c.Secrets[0].Sealed[0] = "x", 9
	if e.EventTypes[0] != "workspace.created" || e.Secrets[0].Sealed[0] != 1 {
		t.Error("Clone shares memory")
	}
	now := time.Now()
	if !(webhook.Secret{}).Active(now) || (webhook.Secret{ExpiresAt: now}).Active(now) {
		t.Error("Secret.Active")
	}
	if !(webhook.Attempt{Status: 204}).Delivered() || (webhook.Attempt{Status: 301}).Delivered() || (webhook.Attempt{}).Delivered() {
		t.Error("Attempt.Delivered")
	}
}

func TestSealer(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	s, err := webhook.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := webhook.NewSecret(nil)
	sealed, err := s.Seal("whk_1", secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(secret[6:])) {
		t.Fatal("the sealed value holds the secret")
	}
	if got, err := s.Open("whk_1", sealed); err != nil || got != secret {
		t.Errorf("Open = %q, %v", got, err)
	}
	if _, err := s.Open("whk_2", sealed); !errors.Is(err, webhook.ErrUnseal) {
		t.Errorf("opening on another endpoint: %v, want ErrUnseal", err)
	}
	other, _ := webhook.NewSealer(bytes.Repeat([]byte{8}, 32))
	if _, err := other.Open("whk_1", sealed); !errors.Is(err, webhook.ErrUnseal) {
		t.Errorf("opening with another key: %v, want ErrUnseal", err)
	}
	for _, bad := range [][]byte{nil, {1, 2, 3}, append(bytes.Clone(sealed[:len(sealed)-1]), sealed[len(sealed)-1]^1)} {
		if _, err := s.Open("whk_1", bad); !errors.Is(err, webhook.ErrUnseal) {
			t.Errorf("opening %x: %v, want ErrUnseal", bad, err)
		}
	}
	if _, err := webhook.NewSealer(make([]byte, 16)); err == nil {
		t.Error("a 16-byte key was accepted")
	}
}
