package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/internal/text"
	"github.com/tenancykit/tenancy/workspace"
)

// Status maps an error to its HTTP status: the one table from tenancy's error kinds
// (400, 401, 403, 404, 409, 409), 499 for a canceled request, 500 for the rest.
func Status(err error) int {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he.status
	case errors.Is(err, context.Canceled):
		return 499
	}
	switch tenancy.KindOf(err) {
	case tenancy.ErrInvalidArgument:
		return http.StatusBadRequest
	case tenancy.ErrUnauthenticated:
		return http.StatusUnauthorized
	case tenancy.ErrPermissionDenied:
		return http.StatusForbidden
	case tenancy.ErrNotFound:
		return http.StatusNotFound
	case tenancy.ErrAlreadyExists, tenancy.ErrFailedPrecondition:
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// errorBody is the seeds' error shape, with the kind a client maps back to
// tenancy's errors (409 is both "already exists" and "failed precondition").
type errorBody struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	Kind    string `json:"kind"`
}

// kindName names an error's kind in answers: tenancy's kinds in snake case, or
// "internal".
func kindName(err error) string {
	switch tenancy.KindOf(err) {
	case tenancy.ErrNotFound:
		return "not_found"
	case tenancy.ErrAlreadyExists:
		return "already_exists"
	case tenancy.ErrInvalidArgument:
		return "invalid_argument"
	case tenancy.ErrUnauthenticated:
		return "unauthenticated"
	case tenancy.ErrPermissionDenied:
		return "permission_denied"
	case tenancy.ErrFailedPrecondition:
		return "failed_precondition"
	}
	switch Status(err) {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		return "invalid_argument"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case 499:
		return "canceled"
	}
	return "internal"
}

// Error writes err as the API's JSON error answer. Internal errors (storage faults)
// answer "internal error" and never their text.
func Error(w http.ResponseWriter, err error) {
	status := Status(err)
	msg := err.Error()
	switch status {
	case http.StatusInternalServerError:
		msg = "internal error"
	case 499:
		msg = "request canceled"
	}
	text := http.StatusText(status)
	if text == "" {
		text = "Error"
	}
	writeJSON(w, status, errorBody{text, msg, kindName(err)})
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	if Status(err) == http.StatusInternalServerError {
		a.log.Error("internal error", "method", r.Method, "route", r.Pattern, "err", err)
	}
	Error(w, err)
}

// httpError is an error this layer makes itself, with its status.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if body != nil {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false) // messages quote <token>; this is an API, not a page
		enc.SetIndent("", "  ")
		_ = enc.Encode(body)
	}
}

// decode reads a request's JSON object into dst, strictly: a JSON content type
// (415 otherwise), at most MaxBody bytes whatever they are (413), one object and
// nothing after it but white space, no unknown fields. Its messages name fields,
// never Go types, and quote no more than a field name.
// decodeOptional is decode for a route whose body may be left out: an empty body
// leaves dst as it is.
func (a *API) decodeOptional(r *http.Request, dst any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, a.opts.MaxBody+1))
	if err != nil {
		return badRequest("the request body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return a.decode(r, dst)
}

func (a *API) decode(r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &httpError{http.StatusUnsupportedMediaType, "send the body as JSON (Content-Type: application/json)"}
		}
	} else if r.ContentLength != 0 {
		return &httpError{http.StatusUnsupportedMediaType, "send the body as JSON (Content-Type: application/json)"}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, a.opts.MaxBody+1))
	if err != nil {
		return badRequest("the request body could not be read")
	}
	if int64(len(body)) > a.opts.MaxBody {
		return &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body must be at most %d bytes", a.opts.MaxBody)}
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return badRequest("request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return badRequest("malformed JSON at byte %d", se.Offset)
		case errors.As(err, &te):
			// The path names JSON keys, except where a body embeds a Go struct
			// (siNames): that step is Go's, not the caller's.
			return badRequest("field %q has the wrong type", clip(strings.ReplaceAll(te.Field, "siNames.", "")))
		case errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("malformed JSON: the object is not closed")
		}
		if name, ok := unknownField(err); ok {
			return badRequest("field %s cannot be set here", clip(name))
		}
		return badRequest("malformed JSON")
	}
	if dec.More() || dec.InputOffset() != int64(len(trimmed)) {
		return badRequest("request body must hold one JSON object and nothing after it")
	}
	return nil
}

// unknownField reads the field name from encoding/json's unknown-field error.
func unknownField(err error) (string, bool) {
	const prefix = "json: unknown field "
	s := err.Error()
	if len(s) > len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return "", false
}

// clip bounds caller input quoted in a message: the module's one rule (64 bytes).
func clip(s string) string { return text.Clip(s) }

// pageParams reads ?limit= and ?cursor=.
func pageParams(r *http.Request) (limit int, cursor string, err error) {
	q := r.URL.Query()
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit == 0 {
			return 0, "", badRequest("limit must be between 1 and 100")
		}
	}
	return limit, q.Get("cursor"), nil
}

func newUserID() string { return "usr_" + ulid.Make().String() }

// JSON shapes shared by the resources.

type pagination struct {
	NextCursor *string `json:"next_cursor"`
	HasMore    bool    `json:"has_more"`
}

type pageJSON[T any] struct {
	Data       []T        `json:"data"`
	Pagination pagination `json:"pagination"`
}

func toPage[S, T any](p workspace.Page[S], conv func(S) T) pageJSON[T] {
	out := pageJSON[T]{Data: make([]T, 0, len(p.Items)), Pagination: pagination{HasMore: p.HasMore}}
	for _, it := range p.Items {
		out.Data = append(out.Data, conv(it))
	}
	if p.HasMore {
		c := p.NextCursor
		out.Pagination.NextCursor = &c
	}
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
