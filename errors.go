package tenancy

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/tenancykit/tenancy/internal/text"
)

// The error kinds. Every error the Manager returns matches exactly one of them with
// errors.Is, and carries a message fit to show a user. Act on the kind, not on the
// message.
var (
	// ErrNotFound: no such workspace, user, invitation or token — or one the
	// principal may not know exists.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a unique name (slug, email, external ID, user ID) is taken.
	ErrAlreadyExists = errors.New("already exists")
	// ErrInvalidArgument: bad input, such as a malformed slug or a limit of 101.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrUnauthenticated: the principal is missing or unknown.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrPermissionDenied: the principal is known but may not do this.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrFailedPrecondition: the request is valid but the state refuses it: an
	// inactive or deleted workspace, the last owner, an expired invitation.
	ErrFailedPrecondition = errors.New("failed precondition")
)

// Kinds lists every error kind, for tables such as an HTTP status mapping.
var Kinds = []error{ErrNotFound, ErrAlreadyExists, ErrInvalidArgument, ErrUnauthenticated, ErrPermissionDenied, ErrFailedPrecondition}

// Error is the error type the Manager returns.
type Error struct {
	Kind    error  // one of the Err* kinds
	Message string // for people: "limit must be between 1 and 100"
	Err     error  // the underlying cause, if any
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Unwrap exposes the kind and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// KindOf returns the kind of err (one of the Err* kinds), or nil when err is nil or
// not one of the Manager's errors.
//
// Cancellation is not a kind: when the caller's context is canceled or its deadline
// passes, every method returns an error for which errors.Is(err, context.Canceled)
// (or context.DeadlineExceeded) holds, KindOf returns nil, and nothing was changed.
// Storage faults likewise have no kind.
func KindOf(err error) error {
	for _, k := range Kinds {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

// newErr makes an error of a kind. Every string argument is clipped to
// text.MaxQuoted bytes (64), so a message never echoes unbounded caller input (a 1 MB ID comes
// back as 64 bytes and "…").
func newErr(kind error, format string, args ...any) *Error {
	for i, a := range args {
		if v := reflect.ValueOf(a); v.Kind() == reflect.String && v.Len() > text.MaxQuoted {
			args[i] = text.Clip(v.String())
		}
	}
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

func notFoundf(format string, args ...any) error { return newErr(ErrNotFound, format, args...) }
func existsf(format string, args ...any) *Error  { return newErr(ErrAlreadyExists, format, args...) }
func invalidf(format string, args ...any) error  { return newErr(ErrInvalidArgument, format, args...) }
func deniedf(format string, args ...any) error   { return newErr(ErrPermissionDenied, format, args...) }
func preconditionf(format string, args ...any) error {
	return newErr(ErrFailedPrecondition, format, args...)
}

// invalid wraps a validation error of a leaf package as ErrInvalidArgument.
func invalid(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: ErrInvalidArgument, Message: err.Error(), Err: err}
}

// internal wraps an unexpected storage failure. It matches no kind: it is a fault,
// not something the caller did.
func internal(op string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return fmt.Errorf("tenancy: %s: %w", op, err)
}
