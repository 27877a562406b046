package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/httpapi"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage/memory"
)

// A host protects its own route with tenancy: Authenticate turns the bearer token
// into a Principal, Require lets through only those who may edit content in the
// workspace the path names.
func Example_hostMiddleware() {
	ctx := context.Background()
	m, _ := tenancy.New(memory.New(), tenancy.Options{})
	defer m.Close()
	sys := tenancy.System()
	m.RegisterUser(ctx, sys, tenancy.NewUser{ID: "ada", Email: "ada@example.com"})
	m.RegisterUser(ctx, sys, tenancy.NewUser{ID: "bob", Email: "bob@example.com"})
	w, _ := m.CreateWorkspace(ctx, tenancy.User("ada"), tenancy.NewWorkspace{Name: "Acme"})
	m.AddMember(ctx, tenancy.User("ada"), w.ID, tenancy.NewMember{UserID: "bob", Role: rbac.Viewer})

	// The host's own mux, and its own route, guarded in two lines.
	mux := http.NewServeMux()
	guard := httpapi.Require(m, rbac.WriteContent, httpapi.PathWorkspace("workspace"))
	mux.Handle("POST /dashboards/{workspace}", httpapi.Authenticate(m)(guard(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			p, _ := httpapi.PrincipalFrom(r.Context())
			fmt.Fprintf(w, "dashboard saved by %s\n", p.UserID())
		}))))

	for _, who := range []string{"ada", "bob"} {
		tok, _ := m.CreateToken(ctx, tenancy.User(who), tenancy.NewToken{Name: "cli", Lifetime: time.Hour})
		req := httptest.NewRequest("POST", "/dashboards/"+w.ID, nil)
		req.Header.Set("Authorization", "Bearer "+tok.Secret)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			var body struct{ Error string }
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			fmt.Println(who+":", rec.Code, body.Error)
			continue
		}
		fmt.Print(who, ": ", rec.Code, " ", rec.Body.String())
	}
	// Output:
	// ada: 200 dashboard saved by ada
	// bob: 403 Forbidden
}
