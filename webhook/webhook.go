// Package webhook holds what tenancy's webhooks are made of: the endpoint and
// attempt records, the Standard Webhooks signature (https://www.standardwebhooks.com),
// the retry schedule, and the rules for which addresses a delivery may reach.
//
// A delivery is an HTTP POST of one event as JSON with three headers:
//
//	webhook-id:        the event's ID, the same on every retry (receivers deduplicate by it)
//	webhook-timestamp: when this attempt was signed, in seconds since 1970
//	webhook-signature: "v1,<base64 HMAC-SHA256>" for each active secret, space-separated
//
// The HMAC is over "<webhook-id>.<webhook-timestamp>.<body>" with the secret's key:
// the base64 after "whsec_". Receivers verify with any Standard Webhooks library.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Endpoint is a registered webhook receiver.
type Endpoint struct {
	ID          string // "whk_" + ULID
	WorkspaceID string // the workspace whose events it receives; empty: every event (platform)
	URL         string
	Description string
	EventTypes  []string // the types it receives; empty: every type
	Disabled    bool
	// DisabledReason says why a disabled endpoint stopped: "disabled" by a person,
	// "gone" after a 410 answer, "failing" after the retry schedule ran out.
	DisabledReason string
	Secrets        []Secret // newest first; more than one only during a rotation
	CreatedBy      string   // the user who registered it
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Clone returns a copy of e that shares no memory with it.
func (e Endpoint) Clone() Endpoint {
	e.EventTypes = slices.Clone(e.EventTypes)
	e.Secrets = slices.Clone(e.Secrets)
	for i := range e.Secrets {
		e.Secrets[i].Sealed = slices.Clone(e.Secrets[i].Sealed)
	}
	return e
}

// Receives reports whether the endpoint takes events of this type.
func (e Endpoint) Receives(eventType string) bool {
	return len(e.EventTypes) == 0 || slices.Contains(e.EventTypes, eventType)
}

// Secret is one signing secret of an endpoint, stored sealed (encrypted with a key
// derived from the Manager's secret key): a delivery needs the secret itself, so it
// cannot be kept as a hash like a token's.
type Secret struct {
	Sealed    []byte
	CreatedAt time.Time
	// ExpiresAt ends a secret that a rotation replaced: until then deliveries are
	// signed with it too, so a receiver can switch secrets without missing one.
	// Zero: active until rotated.
	ExpiresAt time.Time
}

// Active reports whether the secret still signs at now.
func (s Secret) Active(now time.Time) bool { return s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt) }

// Attempt is one try at delivering an event to an endpoint.
type Attempt struct {
	ID         string // "wha_" + ULID: attempts of an endpoint sort by time
	EndpointID string
	EventID    string // the webhook-id of the delivery
	Position   string // the event's feed position
	EventType  string
	Time       time.Time
	Try        int           // 1 for the first delivery of the event, 2 for its first retry, …
	Status     int           // the HTTP status; 0 when there was no answer
	Latency    time.Duration // from sending the request to reading the answer
	Response   string        // the start of the answer's body, at most MaxResponse bytes
	Error      string        // what went wrong without an answer: a timeout, a refused address
}

// MaxResponse is how much of an answer's body an attempt keeps.
const MaxResponse = 1024

// Delivered reports whether the attempt succeeded: a 2xx answer.
func (a Attempt) Delivered() bool { return a.Status >= 200 && a.Status < 300 }

// SecretPrefix starts every signing secret.
const SecretPrefix = "whsec_"

// secretBytes is the size of a new secret's key: Standard Webhooks asks for 24 to 64.
const secretBytes = 32

// NewSecret returns a fresh signing secret, "whsec_" and the base64 of 32 random
// bytes from r (crypto/rand when nil).
func NewSecret(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, secretBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("webhook: read randomness: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// ErrBadSecret is returned for a secret that is not "whsec_" and base64.
var ErrBadSecret = errors.New("webhook: malformed secret")

// key decodes a secret's HMAC key.
func key(secret string) ([]byte, error) {
	b64, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, ErrBadSecret
	}
	k, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(k) == 0 {
		return nil, ErrBadSecret
	}
	return k, nil
}

// Sign returns the "v1,<base64>" signature of a message with one secret.
func Sign(secret, msgID string, ts time.Time, body []byte) (string, error) {
	k, err := key(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, k)
	mac.Write([]byte(msgID))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// Headers are the Standard Webhooks headers of one delivery attempt.
type Headers struct {
	ID        string // webhook-id
	Timestamp string // webhook-timestamp
	Signature string // webhook-signature
}

// SignAll signs a message with every secret given, as one webhook-signature header.
func SignAll(secrets []string, msgID string, ts time.Time, body []byte) (Headers, error) {
	if len(secrets) == 0 {
		return Headers{}, errors.New("webhook: no secret to sign with")
	}
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		sig, err := Sign(s, msgID, ts, body)
		if err != nil {
			return Headers{}, err
		}
		sigs = append(sigs, sig)
	}
	return Headers{ID: msgID, Timestamp: strconv.FormatInt(ts.Unix(), 10), Signature: strings.Join(sigs, " ")}, nil
}

// ErrBadSignature is returned by Verify when no signature matches, or the
// timestamp is outside the tolerance.
var ErrBadSignature = errors.New("webhook: signature does not verify")

// Verify checks a delivery's headers and body against a secret, as a receiver
// does: one of the v1 signatures must match, and the timestamp must be within
// tolerance of now (replays of old deliveries fail). It is for hosts that receive
// tenancy's webhooks in Go; any Standard Webhooks library does the same.
func Verify(secret string, h Headers, body []byte, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(h.Timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad timestamp", ErrBadSignature)
	}
	ts := time.Unix(sec, 0)
	if ts.Before(now.Add(-tolerance)) || ts.After(now.Add(tolerance)) {
		return fmt.Errorf("%w: timestamp outside the tolerance", ErrBadSignature)
	}
	want, err := Sign(secret, h.ID, ts, body)
	if err != nil {
		return err
	}
	for _, sig := range strings.Fields(h.Signature) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return ErrBadSignature
}

// DefaultSchedule is how long a failing event waits before each retry: Svix's,
// about a day in all. When it runs out, the endpoint is disabled.
var DefaultSchedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour}

// Backoff returns the wait before retry number retry (1 for the first retry) on
// schedule, moved by up to ±10% by jitter (a number in [0, 1): 0.5 is no change), so
// endpoints that failed together do not retry together. ok is false when the
// schedule has run out.
func Backoff(schedule []time.Duration, retry int, jitter float64) (d time.Duration, ok bool) {
	if retry < 1 || retry > len(schedule) {
		return 0, false
	}
	base := schedule[retry-1]
	jitter = min(max(jitter, 0), 1)
	return base + time.Duration((jitter-0.5)*0.2*float64(base)), true
}
