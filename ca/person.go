package ca

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/signet-ca/signet/ca/evidence"
	"github.com/signet-ca/signet/store"
)

// KindUnavailable is a refusal because something outside Signet that the
// decision needs (another CA's OCSP responder or CRL) did not answer: the
// caller should retry, as after a database fault (UNAVAILABLE).
const KindUnavailable Kind = 65

// Purposes of challenges that are about a person, not a profile: they bind
// identity evidence and key proofs to one registration request (package
// registration).
const (
	PurposeRegister      = "register"
	PurposeUnregister    = "unregister"
	PurposeRegistrations = "registrations"
)

// StartChallenge is StartEnrollment for a purpose that names no profile:
// the same single-use nonce, life and audience, so that evidence for it is
// verified by exactly the checks issuance uses.
func (a *Authority) StartChallenge(ctx context.Context, purpose, actor string) (*Enrollment, error) {
	switch purpose {
	case PurposeRegister, PurposeUnregister, PurposeRegistrations:
	default:
		rerr := refuse(KindInvalid, "bad_purpose", "purpose is required: one of register, unregister or registrations (CHALLENGE_PURPOSE_REGISTER, _UNREGISTER, _LIST)")
		a.auditRefusal(ctx, &attempt{action: "start_registration", actor: actor}, rerr)
		return nil, rerr
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, err
	}
	now := a.now().UTC()
	e := &store.Enrollment{ID: uuid.NewString(), Nonce: base64.RawURLEncoding.EncodeToString(raw[:]),
		Purpose: purpose, CreatedAt: now, ExpiresAt: now.Add(EnrollmentTTL)}
	if err := a.db.CreateEnrollment(ctx, e); err != nil {
		return nil, err
	}
	return &Enrollment{ID: e.ID, Nonce: e.Nonce, ExpiresAt: e.ExpiresAt, Audience: a.cfg.Audience}, nil
}

// Challenge is a started challenge as a registration request names it.
type Challenge struct {
	ID, Nonce, Purpose string
	ExpiresAt          time.Time
}

// OpenChallenge reads a challenge without locking it, for the checks made
// before a transaction: its purpose and freshness. The nonce is what a key
// proof binds and what evidence carries.
func (a *Authority) OpenChallenge(ctx context.Context, id, purpose string) (*Challenge, *Error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, refuse(KindInvalid, "bad_challenge_id", "challenge_id %q is not a UUID: call StartRegistration first", id)
	}
	e, err := a.db.Enrollment(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, refuse(KindNotFound, "unknown_challenge", "challenge %s does not exist: call StartRegistration first", id)
	}
	if err != nil {
		return nil, internal(err)
	}
	if e.Purpose != purpose {
		return nil, refuse(KindInvalid, "wrong_purpose", "challenge %s was started for %s, not %s: start one for %s", id, e.Purpose, purpose, purpose)
	}
	if !a.now().Before(e.ExpiresAt) {
		return nil, refuse(KindPrecondition, "challenge_expired", "challenge %s expired at %s: call StartRegistration again and answer within %s", id, e.ExpiresAt.Format(time.RFC3339), EnrollmentTTL)
	}
	if e.UsedAt != nil {
		return nil, refuse(KindUnauthorized, "challenge_replayed", "challenge %s was already used: every request needs a new challenge", id)
	}
	return &Challenge{ID: e.ID, Nonce: e.Nonce, Purpose: e.Purpose, ExpiresAt: e.ExpiresAt}, nil
}

// Person is someone proved by fresh phone and account evidence bound to a
// challenge. It holds personal data only in memory.
type Person struct {
	SubjectRef string
	// Name and Birth come from the evidence, to compare with a
	// certificate's identifyData and a resident number's birth date.
	Name, Birth string
	challenge   *Challenge
	ident       *evidence.Identity
}

// VerifyPerson checks evidence for a challenge with exactly the checks of
// issuance: signatures, audience, freshness, the challenge's nonce and
// the same-person rule. Single use is enforced by SpendChallenge.
func (a *Authority) VerifyPerson(c *Challenge, ev Evidence) (*Person, *Error) {
	ident, err := a.verifier.Verify(ev.PhoneToken, ev.AccountToken, c.Nonce)
	if err != nil {
		return nil, evidenceRefusal(err)
	}
	ref, err := evidence.SubjectRef(a.cfg.SubjectKey, ident.CI)
	if err != nil {
		return nil, internal(err)
	}
	return &Person{SubjectRef: ref, Name: ident.Name, Birth: ident.Birth, challenge: c, ident: ident}, nil
}

// SpendChallenge spends a challenge in tx, and the person's evidence with it
// when p is not nil: a second request with either is refused as replayed.
// extra are other single-use ids (a key proof's) spent with them.
func (a *Authority) SpendChallenge(ctx context.Context, tx *store.Tx, c *Challenge, p *Person, extra map[string]string, now time.Time) error {
	used, err := tx.UseEnrollmentOnce(ctx, c.ID, now)
	if err != nil {
		return err
	}
	if used {
		return refuse(KindUnauthorized, "challenge_replayed", "challenge %s was already used: every request needs a new challenge", c.ID)
	}
	ids := map[string]string{}
	if p != nil {
		ids[p.ident.JTIs[0]] = string(evidence.KindPhone)
		ids[p.ident.JTIs[1]] = string(evidence.KindAccount)
	}
	for k, v := range extra {
		ids[k] = v
	}
	if len(ids) == 0 {
		return nil
	}
	err = tx.UseEvidence(ctx, c.ID, now, ids)
	if errors.Is(err, store.ErrEvidenceUsed) {
		if p != nil {
			return refuse(KindUnauthorized, "evidence_replayed", "this identity evidence or proof was already used: run the checks again and sign a new proof")
		}
		return refuse(KindUnauthorized, "proof_replayed", "this proof was already used: sign a new one")
	}
	return err
}

// Refuse builds a refusal for the domain packages beside ca (registration).
func Refuse(kind Kind, reason, format string, args ...any) *Error {
	return refuse(kind, reason, format, args...)
}

// Internal wraps a fault as a refusal-shaped internal error.
func Internal(err error) *Error { return internal(err) }

// AuditRefusal records a refusal made by a domain package beside ca.
func (a *Authority) AuditRefusal(ctx context.Context, ev *store.AuditEvent, rerr *Error) {
	at := &attempt{action: ev.Action, actor: ev.Actor, serial: ev.Serial, subjectRef: ev.SubjectRef, details: ev.Details}
	a.auditRefusal(ctx, at, rerr)
}

// LimitPerson counts a registration request proved by identity evidence
// against the person's limit (Config.SubjectLimit), as issuance counts
// its identity-checked requests; past it, the audited refusal.
func (a *Authority) LimitPerson(ctx context.Context, action, actor string, p *Person) error {
	at := &attempt{action: action, actor: actor, subjectRef: p.SubjectRef}
	if rl := a.limitSubject(ctx, at); rl != nil {
		a.auditRefusal(ctx, at, rl.Refusal)
		return rl
	}
	return nil
}

// CheckRequestID is the request_id rule of every idempotent call.
func CheckRequestID(id string) *Error { return checkRequestID(id) }

// RequestIDReused is the refusal of a request_id that answered another
// request.
func RequestIDReused() *Error { return requestIDReused() }

// RequestHash is what a stored answer is matched with: the method and the
// request's parts, length-prefixed.
func RequestHash(method string, parts ...[]byte) []byte { return requestHash(method, parts...) }
