package evidence

import "errors"

// Reason is the machine-readable cause of a rejected evidence token. The gRPC
// layer maps it to a status and the audit log records it (DESIGN.md,
// invariant 2: every refused attempt is audited), so values are stable.
type Reason string

// Reasons why evidence is refused.
const (
	// ReasonMalformed: not a compact JWS with an allowed algorithm, or a
	// claim is missing or not well-formed.
	ReasonMalformed Reason = "malformed"
	// ReasonUntrusted: the issuer is not trusted for the token's kind, or the
	// signature does not verify with that provider's key (forged evidence).
	ReasonUntrusted Reason = "untrusted"
	// ReasonAudience: the token was issued for another service.
	ReasonAudience Reason = "wrong_audience"
	// ReasonExpired: older than MaxAge, or past its exp.
	ReasonExpired Reason = "expired"
	// ReasonNotYetValid: issued (or valid from) in the future beyond ClockSkew.
	ReasonNotYetValid Reason = "not_yet_valid"
	// ReasonNonce: the token belongs to another enrollment.
	ReasonNonce Reason = "wrong_nonce"
	// ReasonMismatch: phone and account evidence describe different people.
	ReasonMismatch Reason = "different_person"
	// ReasonKind: a token of one kind was passed in the other kind's slot.
	ReasonKind Reason = "wrong_kind"
)

// Error is the only error type Verify returns. Msg is written for the person
// (or RA channel) who must act on it and never contains the CI, a phone number
// or an account number (DESIGN.md, invariant 7: such errors end up in logs).
type Error struct {
	Reason Reason
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// ReasonOf returns the Reason of an *Error anywhere in err's chain, or "" if
// there is none.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func fail(r Reason, msg string) *Error { return &Error{Reason: r, Msg: msg} }
