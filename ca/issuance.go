package ca

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"time"

	"github.com/signet-ca/signet/ca/signer"
	"github.com/signet-ca/signet/internal/failpoint"
	"github.com/signet-ca/signet/store"
)

// issuance is one new subscriber certificate on its way through Boulder's
// order (package signer): checked and reserved in one short transaction,
// signed outside any transaction, then finalized in another. A failure
// after signing leaves the certificate in the ledger as undelivered.
type issuance struct {
	at      *attempt
	hash    []byte
	row     *store.Certificate // what will be inserted; DER etc. after signing
	old     *store.Certificate // the certificate it supersedes, if any
	pending *signer.Pending
}

// prepare completes and lints the certificate of is (serial, validity,
// revocation and issuer URLs) and records it in the ledger, in the
// caller's transaction.
func (a *Authority) prepare(ctx context.Context, tx *store.Tx, is *issuance, tmpl *x509.Certificate,
	csr *x509.CertificateRequest, notBefore, notAfter time.Time) error {
	tmpl.NotBefore = notBefore
	tmpl.NotAfter = notAfter
	if a.cfg.CRLBaseURL != "" {
		tmpl.CRLDistributionPoints = []string{a.cfg.CRLBaseURL + "/" + a.signer.ID() + ".crl"}
	}
	if a.cfg.OCSPURL != "" {
		tmpl.OCSPServer = []string{a.cfg.OCSPURL}
	}
	if a.cfg.IssuerURL != "" {
		tmpl.IssuingCertificateURL = []string{a.cfg.IssuerURL}
	}
	p, err := a.signer.Prepare(signer.Subscriber, tmpl, csr)
	if err != nil {
		if errors.Is(err, signer.ErrLint) {
			// A profile or template bug, never the caller's: refuse loudly.
			a.log.Error("ALERT: pre-issuance lint refused a certificate; nothing was signed", "action", is.at.action,
				"profile", is.row.Profile, "err", err)
			return &Error{Kind: KindInternal, Reason: "lint_failed", Msg: err.Error()}
		}
		return err
	}
	is.pending = p
	is.at.serial = p.Serial()
	// Recorded at the certificate's own instant, so that its "sign" event
	// and the change's event read in order in a history.
	return a.signer.Reserve(ctx, tx, p, signer.Reason{Purpose: is.at.action, RequestID: is.row.RequestID,
		SubjectRef: is.row.SubjectRef, Actor: is.at.actor}, notBefore)
}

// sign makes the CA signature over a committed reservation. On failure the
// ledger row is settled, so that it does not look like a crash.
func (a *Authority) sign(ctx context.Context, is *issuance) (*x509.Certificate, error) {
	failpoint.Hit("after-reserve")
	start := time.Now()
	cert, err := a.signer.Sign(is.pending)
	a.cfg.Observer.Signed(time.Since(start), err)
	if err != nil {
		a.settleFailed(ctx, is, cert, err)
		a.observe(is.at, "error")
		a.log.Error("CA signature failed", "action", is.at.action, "serial", is.pending.Serial(), "err", err)
		return nil, err
	}
	failpoint.Hit("after-sign")
	return cert, nil
}

// finalize delivers a signed certificate: d (the enrollment and evidence
// or proof to spend) is completed with the certificate, the certificate it
// supersedes (which must still be live), the audit event, the stored
// answer and the ledger row to settle, and written in one transaction. The
// certificate is handed out only after that commits (DESIGN.md invariant
// 1). replayed is the refusal for evidence or a proof spent concurrently.
func (a *Authority) finalize(ctx context.Context, is *issuance, cert *x509.Certificate, d *store.Delivery, replayed *Error) (*Record, error) {
	c := is.row
	c.Serial = cert.SerialNumber.Text(16)
	c.SubjectDN = SubjectString(cert)
	c.NotBefore = cert.NotBefore
	c.NotAfter = cert.NotAfter
	c.DER = cert.Raw
	c.IssuerID = a.signer.ID()
	if is.old != nil {
		d.Supersede = is.old.Serial
		is.at.detail("replaces", is.old.Serial)
	}
	is.at.serial = c.Serial
	is.at.detail("not_after", c.NotAfter)
	resp, err := json.Marshal(result{Serial: c.Serial, Replaced: d.Supersede})
	if err != nil {
		return nil, err
	}
	d.Cert = c
	d.Audit = is.at.event(c.CreatedAt, "ok", nil)
	d.Response = &store.StoredResponse{Method: is.at.action, RequestHash: is.hash, Response: resp}
	d.LedgerID = is.pending.LedgerID()
	err = a.db.Deliver(ctx, d)
	if err == nil {
		a.observe(is.at, "ok")
		return a.record(c, d.Supersede), nil
	}
	// A concurrent call with the same request_id may have delivered first
	// (a client's retry racing its first attempt): then its answer is this
	// one's, or request_id_reused if it was another request.
	if rec, rerr := a.answered(ctx, is.row.RequestID, is.at.action, is.hash); rec != nil || rerr != nil {
		if rerr != nil {
			a.settleFailed(ctx, is, cert, rerr)
			return nil, rerr
		}
		a.settleFailed(ctx, is, cert, errors.New("a concurrent call with the same request_id delivered its certificate first"))
		return rec, nil
	}
	switch {
	case errors.Is(err, store.ErrEvidenceUsed), errors.Is(err, store.ErrEnrollmentUsed):
		err = replayed
	case errors.Is(err, store.ErrNotLive):
		err = refuse(KindPrecondition, "state_changed",
			"certificate %s was revoked, suspended or replaced by another request while this one was being signed: check its status with GetCertificate", d.Supersede)
	case errors.Is(err, store.ErrLiveExists), errors.Is(err, store.ErrKeyCertified):
		err = a.storeRefusal(err)
	}
	a.settleFailed(ctx, is, cert, err)
	if rerr, ok := AsError(err); ok {
		return nil, rerr
	}
	a.log.Error("finalize failed after signing; the certificate is recorded as undelivered", "action", is.at.action,
		"serial", c.Serial, "err", err)
	a.observe(is.at, "error")
	return nil, err
}

// settleFailed records a reservation that will not be delivered, and the
// refusal that caused it, in one transaction. If the database is away, the
// open reservation is left for recovery (AbandonOpenSignatures).
func (a *Authority) settleFailed(ctx context.Context, is *issuance, cert *x509.Certificate, cause error) {
	state, der := store.SigAbandoned, []byte(nil)
	if cert != nil {
		state, der = store.SigUndelivered, cert.Raw
	}
	rerr, refused := AsError(cause)
	if refused {
		a.observe(is.at, "refused")
	}
	err := a.db.InTx(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		if err := tx.SettleSignature(ctx, is.pending.LedgerID(), state, der, cause.Error(), a.now().UTC()); err != nil {
			return err
		}
		if refused {
			return tx.AppendAudit(ctx, is.at.event(a.now(), "refused", rerr))
		}
		return nil
	})
	if err != nil {
		a.log.Error("settle an undelivered signature; recovery will", "ledger_id", is.pending.LedgerID(), "err", err)
	}
}

// answered returns the stored answer to requestID, or request_id_reused
// if it answered another request; nil and nil when there is none (or the
// database cannot tell now).
func (a *Authority) answered(ctx context.Context, requestID, method string, hash []byte) (*Record, *Error) {
	if checkRequestID(requestID) != nil {
		return nil, nil
	}
	var rec *Record
	var rerr *Error
	err := a.db.InTx(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		r, err := a.replay(ctx, tx, requestID, method, hash)
		if e, ok := AsError(err); ok {
			rerr = e
			return nil
		}
		rec = r
		return err
	})
	if err != nil {
		a.log.Error("look up a stored answer", "request_id", requestID, "err", err)
		return nil, nil
	}
	return rec, rerr
}

// AbandonAfter is how long a ledger reservation may stay open before
// recovery marks it abandoned: far beyond any signature (an HSM answers in
// milliseconds, the transaction timeout is 15 s), so a reservation still
// open then belongs to a process that stopped.
const AbandonAfter = 2 * time.Minute

// RecoverSignatures settles every reservation left open longer than
// AbandonAfter (or after, if positive), by the database's clock, by a
// process that stopped between recording and settling.
func (a *Authority) RecoverSignatures(ctx context.Context, after time.Duration) (int, error) {
	if after <= 0 {
		after = AbandonAfter
	}
	now := a.now().UTC()
	total := 0
	for {
		n, err := a.db.AbandonOpenSignatures(ctx, after, now, 500)
		total += n
		if err != nil || n < 500 {
			if total > 0 {
				a.log.Warn("open signature reservations abandoned", "count", total)
			}
			return total, err
		}
	}
}
