package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/tenancykit/tenancy"
)

// New returns a client for the API at baseURL, the API's root such as
// "https://tenancy.example.com/api/v1", that sends token as a bearer on every
// request. Options (WithHTTPClient, WithRequestEditorFn) pass through.
func New(baseURL, token string, opts ...ClientOption) (*ClientWithResponses, error) {
	auth := WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return nil
	})
	return NewClientWithResponses(strings.TrimRight(baseURL, "/"), append([]ClientOption{auth}, opts...)...)
}

// APIError is an error answer: its status, the API's message and its kind, which
// errors.Is matches with tenancy's kinds (errors.Is(err, tenancy.ErrNotFound)).
type APIError struct {
	Status  int
	Kind    error  // one of tenancy's Err* kinds; nil for internal errors
	Message string // the API's message, for people
}

func (e *APIError) Error() string { return fmt.Sprintf("%d: %s", e.Status, e.Message) }

// Unwrap gives errors.Is the kind.
func (e *APIError) Unwrap() error { return e.Kind }

var kinds = map[ErrorKind]error{
	NotFound: tenancy.ErrNotFound, AlreadyExists: tenancy.ErrAlreadyExists, InvalidArgument: tenancy.ErrInvalidArgument,
	Unauthenticated: tenancy.ErrUnauthenticated, PermissionDenied: tenancy.ErrPermissionDenied,
	FailedPrecondition: tenancy.ErrFailedPrecondition,
}

// Check returns nil for a 2xx answer and an *APIError for any other: pass it the
// HTTPResponse and Body of a generated ...WithResponse answer.
//
//	r, err := c.GetWorkspaceWithResponse(ctx, id)
//	if err == nil {
//		err = client.Check(r.HTTPResponse, r.Body)
//	}
//	if errors.Is(err, tenancy.ErrNotFound) { … }
func Check(resp *http.Response, body []byte) error {
	if resp == nil {
		return fmt.Errorf("client: no answer")
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	e := &APIError{Status: resp.StatusCode, Message: http.StatusText(resp.StatusCode)}
	var b Error
	if json.Unmarshal(body, &b) == nil && b.Message != "" {
		e.Message, e.Kind = b.Message, kinds[b.Kind]
	}
	return e
}

// Page is what Each needs of one page of a listing.
type Page[T any] struct {
	Items   []T
	Next    string // the next page's cursor
	HasMore bool
}

// Each walks every item of a listing, page by page, in the API's order (Airbyte's
// "while has_more"), until fn returns false or a page fails. fetch reads the page
// after cursor ("" for the first).
func Each[T any](ctx context.Context, fetch func(ctx context.Context, cursor string) (Page[T], error), fn func(T) bool) error {
	cursor := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		pg, err := fetch(ctx, cursor)
		if err != nil {
			return err
		}
		for _, it := range pg.Items {
			if !fn(it) {
				return nil
			}
		}
		if !pg.HasMore || pg.Next == "" || pg.Next == cursor {
			return nil
		}
		cursor = pg.Next
	}
}

// PageOf reads a generated page's pagination: its next cursor and whether more
// follow.
func PageOf[T any](items []T, p Pagination) Page[T] {
	out := Page[T]{Items: items, HasMore: p.HasMore}
	if p.NextCursor != nil {
		out.Next = *p.NextCursor
	}
	return out
}
