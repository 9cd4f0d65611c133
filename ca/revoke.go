package ca

import (
	"context"
	"errors"
	"time"

	"github.com/signet-ca/signet/ca/crlreason"
	"github.com/signet-ca/signet/ca/proof"
	"github.com/signet-ca/signet/store"
)

// The gRPC methods holder proofs are bound to.
const (
	MethodSuspend = "/signet.v1.EnrollmentService/SuspendCertificate"
	MethodResume  = "/signet.v1.EnrollmentService/ResumeCertificate"
)

// HolderRequest acts on one certificate on behalf of its holder, who
// proves it either with a proof signed by the certificate's key or, when
// the key is lost, with fresh identity evidence of the same subject.
type HolderRequest struct {
	RequestID    string
	Serial       string
	Proof        string
	EnrollmentID string
	Evidence     Evidence
	Actor        string
	// ByOperator marks a call from the admin API by an operator whose
	// client certificate the admin listener verified; Actor names them.
	// It replaces the holder's proof or evidence.
	ByOperator bool
	Comment    string
}

// RevokeRequest is 폐지 with an RFC 5280 reason.
type RevokeRequest struct {
	HolderRequest
	Reason int
}

// Revoke revokes a certificate for good. The revocation time is recorded
// exactly, because signatures made before it stay valid (DESIGN.md).
func (a *Authority) Revoke(ctx context.Context, req RevokeRequest) (*Record, error) {
	name := crlreason.Name(req.Reason)
	act := holderAction{
		action: "revoke", method: MethodRevoke, purpose: PurposeRevoke, binding: proof.BindReason(name),
		check: func() *Error {
			if req.ByOperator {
				if req.Reason == crlreason.CertificateHold || req.Reason == crlreason.RemoveFromCRL {
					return refuse(KindInvalid, "bad_reason", "reason %s is not a revocation: suspend or resume instead", name)
				}
				return nil
			}
			if !crlreason.BySubscriber(req.Reason) {
				return refuse(KindInvalid, "bad_reason", "reason %s cannot be given by a subscriber: use keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn or unspecified (suspension is SuspendCertificate)", name)
			}
			return nil
		},
		apply: func(ctx context.Context, tx *store.Tx, c *store.Certificate, now time.Time) error {
			if c.Status == "revoked" {
				return refuse(KindPrecondition, "already_revoked", "certificate %s was already revoked at %s (%s)", c.Serial, c.RevokedAt.Format(time.RFC3339), crlreason.Name(*c.RevocationReason))
			}
			if err := tx.Revoke(ctx, c.Serial, now, req.Reason, ""); err != nil {
				return err
			}
			if req.Reason == crlreason.KeyCompromise {
				return tx.BlockKey(ctx, c.SPKISHA256, c.Serial, now)
			}
			return nil
		},
	}
	return a.actAsHolder(ctx, req.HolderRequest, act, []byte(name))
}

// SuspensionLimit is how long a hold may last before the certificate is
// revoked for good (DESIGN.md: resumable within 6 months).
const SuspensionLimit = 6 // months

// Suspend is 효력정지: the certificate is on hold (certificateHold) until
// resumed; its validity does not change.
func (a *Authority) Suspend(ctx context.Context, req HolderRequest) (*Record, error) {
	return a.actAsHolder(ctx, req, holderAction{
		action: "suspend", method: MethodSuspend, purpose: PurposeSuspend, binding: "suspend",
		apply: func(ctx context.Context, tx *store.Tx, c *store.Certificate, now time.Time) error {
			switch c.Status {
			case "suspended":
				return refuse(KindPrecondition, "already_suspended", "certificate %s is already suspended since %s", c.Serial, kstDate(*c.RevokedAt))
			case "revoked":
				return refuse(KindPrecondition, "revoked", "certificate %s is revoked; it cannot be suspended", c.Serial)
			}
			return tx.Suspend(ctx, c.Serial, now)
		},
	}, nil)
}

// Resume is 효력회복, allowed to the same subject within 6 months of the
// suspension; after that the certificate is revoked by RevokeLapsedSuspensions.
func (a *Authority) Resume(ctx context.Context, req HolderRequest) (*Record, error) {
	return a.actAsHolder(ctx, req, holderAction{
		action: "resume", method: MethodResume, purpose: PurposeResume, binding: "resume",
		apply: func(ctx context.Context, tx *store.Tx, c *store.Certificate, now time.Time) error {
			if c.Status != "suspended" {
				return refuse(KindPrecondition, "not_suspended", "certificate %s is %s, not suspended: there is nothing to resume", c.Serial, c.Status)
			}
			if deadline := c.RevokedAt.AddDate(0, SuspensionLimit, 0); !now.Before(deadline) {
				return refuse(KindPrecondition, "suspension_lapsed", "certificate %s was suspended on %s, more than 6 months ago: it can no longer be resumed, issue a new certificate", c.Serial, kstDate(*c.RevokedAt))
			}
			return tx.Resume(ctx, c.Serial, now)
		},
	}, nil)
}

// holderAction describes one status change a holder may ask for.
type holderAction struct {
	action, method, purpose, binding string
	check                            func() *Error // stateless checks of the request
	// apply changes the locked, live certificate, or refuses.
	apply func(ctx context.Context, tx *store.Tx, c *store.Certificate, now time.Time) error
}

// actAsHolder authorizes the holder, applies act to the certificate, then
// audits, notifies CRL and OCSP on commit, and remembers the answer, all in
// one transaction.
func (a *Authority) actAsHolder(ctx context.Context, req HolderRequest, act holderAction, extra []byte) (*Record, error) {
	serial := normalizeSerial(req.Serial)
	at := &attempt{action: act.action, actor: req.Actor, requestID: req.RequestID, serial: serial}
	if extra != nil {
		at.detail("reason", string(extra))
	}
	if req.Comment != "" {
		at.detail("comment", req.Comment)
	}
	var operator []byte
	if req.ByOperator {
		operator = []byte(req.Actor)
	}
	hash := requestHash(act.action, []byte(serial), extra, operator, []byte(req.Comment), []byte(req.Proof),
		[]byte(req.EnrollmentID), []byte(req.Evidence.PhoneToken), []byte(req.Evidence.AccountToken))
	at.hash = hash
	// Identity evidence is verified before any lock is taken.
	var id *verifiedIdentity
	if !req.ByOperator && req.Proof == "" && req.EnrollmentID != "" {
		var rerr *Error
		if id, rerr = a.checkEvidence(ctx, at, req.EnrollmentID, req.Evidence); rerr != nil {
			// A retry after the evidence went stale still gets its first
			// answer: the stored answer wins over freshness.
			if rec, rrerr := a.answered(ctx, req.RequestID, act.action, hash); rec != nil {
				return rec, nil
			} else if rrerr != nil {
				rerr = rrerr
			}
			return nil, a.refused(ctx, at, rerr)
		}
	}
	var out *Record
	err := a.run(ctx, at, func(tx *store.Tx) error {
		if rerr := checkRequestID(req.RequestID); rerr != nil {
			return rerr
		}
		// Retries of one request are ordered by its id, and a retry gets
		// its first answer before any proof's freshness is judged, for as
		// long as the request id is kept (RequestIDRetention).
		if err := tx.LockKey(ctx, "request:"+req.RequestID); err != nil {
			return err
		}
		if rec, err := a.replay(ctx, tx, req.RequestID, act.action, hash); err != nil || rec != nil {
			out = rec
			return err
		}
		if !serialPattern.MatchString(serial) {
			return refuse(KindInvalid, "bad_serial", "serial %q is not hex: give the serial as printed by `signet status`", req.Serial)
		}
		if act.check != nil {
			if rerr := act.check(); rerr != nil {
				return rerr
			}
		}
		h, rerr := a.authorizeHolder(ctx, tx, at, serial, req, act, id)
		if rerr != nil {
			return rerr
		}
		now := a.now().UTC()
		if c := h.cert; c.Status == "expired" || !now.Before(c.NotAfter) {
			return refuse(KindPrecondition, "expired", "certificate %s expired at %s: there is nothing left to %s", serial, kstDate(c.NotAfter), act.action)
		}
		if err := act.apply(ctx, tx, h.cert, now); err != nil {
			return err
		}
		if err := h.spend(ctx, tx, now); err != nil {
			return err
		}
		if err := tx.NotifyStatus(ctx, serial); err != nil {
			return err
		}
		if err := tx.AppendAudit(ctx, at.event(now, "ok", nil)); err != nil {
			return err
		}
		if err := a.saveResult(ctx, tx, req.RequestID, act.action, hash, result{Serial: serial}); err != nil {
			return err
		}
		c, err := tx.CertificateBySerial(ctx, serial)
		if err != nil {
			return err
		}
		out = a.record(c, "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	a.observe(at, "ok")
	return out, nil
}

// holder is a certificate whose holder proved control of it.
type holder struct {
	cert  *store.Certificate
	spend func(context.Context, *store.Tx, time.Time) error
}

// authorizeHolder accepts either a key proof for act, or identity evidence
// of the certificate's own subject, and locks the certificate. The caller
// has already answered a retry from the stored answer.
func (a *Authority) authorizeHolder(ctx context.Context, tx *store.Tx, at *attempt, serial string, req HolderRequest,
	act holderAction, id *verifiedIdentity) (*holder, *Error) {
	if req.ByOperator {
		c, err := tx.CertificateBySerial(ctx, serial)
		if errors.Is(err, store.ErrNotFound) {
			return nil, refuse(KindNotFound, "unknown_serial", "no certificate with serial %s", serial)
		}
		if err != nil {
			return nil, internal(err)
		}
		at.subjectRef, at.profile = c.SubjectRef, c.Profile
		return &holder{cert: c, spend: func(context.Context, *store.Tx, time.Time) error { return nil }}, nil
	}
	if req.Proof != "" {
		c, p, rerr := a.verifyProof(ctx, tx, at, req.Proof, act.method)
		if rerr != nil {
			return nil, rerr
		}
		if c.Serial != serial {
			return nil, refuse(KindForbidden, "proof_serial", "the proof was signed by certificate %s, not %s: sign with the certificate you are acting on", c.Serial, serial)
		}
		if p.Claims.Binding != act.binding {
			return nil, refuse(KindUnauthorized, "proof_binding", "proof binding is %q, want %q: sign a proof for this exact request", p.Claims.Binding, act.binding)
		}
		return &holder{cert: c, spend: func(ctx context.Context, tx *store.Tx, now time.Time) error {
			return a.spendProof(ctx, tx, serial, p, now)
		}}, nil
	}
	if id == nil {
		return nil, refuse(KindInvalid, "no_authorization", "give either a proof signed by the certificate's key or identity evidence with an enrollment")
	}
	rec, rerr := a.lockEnrollment(ctx, tx, id, req.RequestID, act.purpose, at.hash)
	if rerr != nil {
		return nil, rerr
	}
	if rec != nil {
		// Unreachable while the caller holds the request id's lock, which
		// every holder action takes before it looks for a stored answer;
		// never act twice under one request id all the same.
		return nil, requestIDReused()
	}
	c, err := tx.CertificateBySerial(ctx, serial)
	if errors.Is(err, store.ErrNotFound) {
		return nil, refuse(KindNotFound, "unknown_serial", "no certificate with serial %s", serial)
	}
	if err != nil {
		return nil, internal(err)
	}
	at.profile = c.Profile
	if c.SubjectRef != id.subjectRef || c.Profile != id.profile.Name {
		return nil, refuse(KindForbidden, "not_holder", "the identity evidence does not belong to the holder of certificate %s (or the enrollment is for another profile)", serial)
	}
	return &holder{cert: c, spend: func(ctx context.Context, tx *store.Tx, now time.Time) error {
		err := id.spend(ctx, tx, now)
		if errors.Is(err, store.ErrEvidenceUsed) || errors.Is(err, errEnrollmentUsed) {
			return refuse(KindUnauthorized, "evidence_replayed", "this identity evidence was already used: run the phone and account checks again")
		}
		return err
	}}, nil
}
