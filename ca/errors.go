package ca

import (
	"errors"
	"fmt"
)

// Kind classifies why the core refused a request. The gRPC layer maps each
// kind to one status code in one place (server/status.go); the core knows
// nothing of gRPC.
type Kind int

const (
	KindInternal     Kind = iota
	KindInvalid           // the request itself is malformed or unacceptable
	KindNotFound          // it names something Signet does not have
	KindConflict          // it would break a uniqueness rule (second live certificate)
	KindPrecondition      // the state does not allow it now (window, status, expiry)
	KindUnauthorized      // evidence or proof does not authenticate the caller
	KindForbidden         // authenticated, but not allowed (different person, not the holder)
)

// Error is a refusal with a message a person can act on. Reason is a short
// machine word recorded in the audit log.
type Error struct {
	Kind   Kind
	Reason string
	Msg    string
	// Err is the cause of an internal error, kept so that the gRPC layer
	// can tell a database that is away (UNAVAILABLE) from a fault in
	// Signet; never shown to the caller.
	Err error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the cause of an internal error, if any.
func (e *Error) Unwrap() error { return e.Err }

func refuse(kind Kind, reason, format string, args ...any) *Error {
	return &Error{Kind: kind, Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// AsError returns the refusal inside err, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Name is the kind as the audit log writes it in an event's code.
func (k Kind) Name() string { return kindName(k) }
