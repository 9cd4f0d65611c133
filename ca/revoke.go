package ca

import (
	"context"
	"github.com/signet-ca/signet/ca/crlreason"
	"time"

	"github.com/signet-ca/signet/ca/proof"
	"github.com/signet-ca/signet/store"
)

// RevokeRequest is 폐지, authorized either by a proof signed with the
// certificate's key or, when the key is lost, by fresh identity evidence
// of the same subject.
type RevokeRequest struct {
	RequestID    string
	Serial       string
	Reason       int
	Proof        string
	EnrollmentID string
	Evidence     Evidence
	Actor        string
}

// Revoke revokes a certificate for good. The revocation time is recorded
// exactly, because signatures made before it stay valid (DESIGN.md).
func (a *Authority) Revoke(ctx context.Context, req RevokeRequest) (*Record, error) {
	serial := normalizeSerial(req.Serial)
	at := &attempt{action: "revoke", actor: req.Actor, requestID: req.RequestID, serial: serial}
	at.detail("reason", crlreason.Name(req.Reason))
	hash := requestHash("revoke", []byte(serial), []byte(crlreason.Name(req.Reason)), []byte(req.Proof),
		[]byte(req.EnrollmentID), []byte(req.Evidence.PhoneToken), []byte(req.Evidence.AccountToken))
	var out *Record
	err := a.run(ctx, at, func(tx *store.Tx) error {
		if rerr := checkRequestID(req.RequestID); rerr != nil {
			return rerr
		}
		if !serialPattern.MatchString(serial) {
			return refuse(KindInvalid, "bad_serial", "serial %q is not hex: give the serial as printed by `signet status`", req.Serial)
		}
		if !crlreason.BySubscriber(req.Reason) {
			return refuse(KindInvalid, "bad_reason", "reason %s cannot be given by a subscriber: use keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn or unspecified", crlreason.Name(req.Reason))
		}
		c, rerr := a.authorizeHolder(ctx, tx, at, serial, req.Proof, MethodRevoke, proof.BindReason(crlreason.Name(req.Reason)),
			req.EnrollmentID, PurposeRevoke, req.Evidence, req.RequestID, "revoke", hash)
		if rerr != nil {
			return rerr
		}
		if c.replay != nil {
			out = c.replay
			return nil
		}
		now := a.now().UTC()
		switch {
		case c.cert.Status == "revoked":
			return refuse(KindPrecondition, "already_revoked", "certificate %s was already revoked at %s (%s)", serial, c.cert.RevokedAt.Format(time.RFC3339), crlreason.Name(*c.cert.RevocationReason))
		case !now.Before(c.cert.NotAfter) || c.cert.Status == "expired":
			return refuse(KindPrecondition, "expired", "certificate %s expired at %s: there is nothing left to revoke", serial, kstDate(c.cert.NotAfter))
		}
		if err := c.spend(ctx, tx, now); err != nil {
			return err
		}
		if err := tx.Revoke(ctx, serial, now, req.Reason, ""); err != nil {
			return err
		}
		if err := tx.NotifyStatus(ctx, serial); err != nil {
			return err
		}
		if req.Reason == crlreason.KeyCompromise {
			if err := tx.BlockKey(ctx, c.cert.SPKISHA256, serial, now); err != nil {
				return err
			}
		}
		if err := tx.AppendAudit(ctx, at.event(now, "ok", nil)); err != nil {
			return err
		}
		if err := a.saveResult(ctx, tx, req.RequestID, "revoke", hash, result{Serial: serial}); err != nil {
			return err
		}
		c.cert.Status, c.cert.RevokedAt, c.cert.RevocationReason = "revoked", &now, &req.Reason
		out = a.record(c.cert, "")
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// holder is a certificate whose holder proved control of it.
type holder struct {
	cert   *store.Certificate
	replay *Record
	spend  func(context.Context, *store.Tx, time.Time) error
}

// authorizeHolder accepts either a key proof bound to binding, or identity
// evidence of the certificate's own subject, and locks the certificate.
func (a *Authority) authorizeHolder(ctx context.Context, tx *store.Tx, at *attempt, serial, token, method, binding,
	enrollmentID, purpose string, ev Evidence, requestID, action string, hash []byte) (*holder, *Error) {
	if token != "" {
		c, p, rerr := a.verifyProof(ctx, tx, at, token, method)
		if rerr != nil {
			return nil, rerr
		}
		if c.Serial != serial {
			return nil, refuse(KindForbidden, "proof_serial", "the proof was signed by certificate %s, not %s: sign with the certificate you are acting on", c.Serial, serial)
		}
		if rec, err := a.replay(ctx, tx, requestID, action, hash); err != nil || rec != nil {
			return &holder{replay: rec}, asRefusal(err)
		}
		if p.Claims.Binding != binding {
			return nil, refuse(KindUnauthorized, "proof_binding", "proof binding is %q, want %q: sign a proof for this exact request", p.Claims.Binding, binding)
		}
		return &holder{cert: c, spend: func(ctx context.Context, tx *store.Tx, now time.Time) error {
			return a.spendProof(ctx, tx, serial, p, now)
		}}, nil
	}
	if enrollmentID == "" {
		return nil, refuse(KindInvalid, "no_authorization", "give either a proof signed by the certificate's key or identity evidence with an enrollment")
	}
	id, rerr := a.verifyIdentity(ctx, tx, at, enrollmentID, purpose, ev, requestID, hash)
	if rerr != nil {
		return nil, rerr
	}
	if id.replay != nil {
		return &holder{replay: id.replay}, nil
	}
	c, err := tx.CertificateBySerial(ctx, serial)
	if err != nil {
		return nil, a.notFound(err, serial)
	}
	at.profile = c.Profile
	if c.SubjectRef != id.subjectRef || c.Profile != id.profile.Name {
		return nil, refuse(KindForbidden, "not_holder", "the identity evidence does not belong to the holder of certificate %s (or the enrollment is for another profile)", serial)
	}
	return &holder{cert: c, spend: id.spend}, nil
}

func (a *Authority) notFound(err error, serial string) *Error {
	if err == store.ErrNotFound {
		return refuse(KindNotFound, "unknown_serial", "no certificate with serial %s", serial)
	}
	return internal(err)
}
