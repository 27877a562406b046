package webhook_test

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tenancykit/tenancy/webhook"
)

// A host that receives tenancy's webhooks checks each delivery's signature with the
// endpoint's secret (shown once, when the endpoint was registered) before trusting
// the body, and deduplicates by webhook-id: a delivery may arrive more than once.
func ExampleVerify() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	handler := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		h := webhook.Headers{ID: r.Header.Get("webhook-id"), Timestamp: r.Header.Get("webhook-timestamp"),
			Signature: r.Header.Get("webhook-signature")}
		if err := webhook.Verify(secret, h, body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent) // any 2xx ends the delivery
	}
	_ = handler

	// What tenancy sends, signed at a fixed time for the example.
	at := time.Unix(1767225600, 0)
	h, _ := webhook.SignAll([]string{secret}, "evt_01JH0000000000000000000000", at, []byte(`{"type":"workspace.created"}`))
	fmt.Println(h.ID, h.Timestamp, h.Signature[:3])
	// Output: evt_01JH0000000000000000000000 1767225600 v1,
}
