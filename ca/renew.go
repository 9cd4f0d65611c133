package ca

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/signet-ca/signet/ca/proof"
	"github.com/signet-ca/signet/store"
)

// The gRPC methods proofs are bound to, so that a renewal proof cannot be
// replayed as a revocation.
const (
	MethodRenew  = "/signet.v1.EnrollmentService/RenewCertificate"
	MethodRevoke = "/signet.v1.EnrollmentService/RevokeCertificate"
)

// RenewalWindow is how long before notAfter renewal opens (DESIGN.md).
const RenewalWindow = 30 * 24 * time.Hour

// RenewRequest is 갱신: a new key's CSR and a proof signed by the current
// certificate's key.
type RenewRequest struct {
	RequestID string
	CSR       []byte
	Proof     string
	Holder    Holder
	Actor     string
}

// Renew issues the successor of a certificate from 30 days before its
// notAfter until notAfter; the new notAfter is the old one plus the
// profile's validity, so remaining days carry over.
func (a *Authority) Renew(ctx context.Context, req RenewRequest) (*Record, error) {
	at := &attempt{action: "renew", actor: req.Actor, requestID: req.RequestID}
	csr, keyType, rerr := checkIssuing(req.RequestID, req.CSR)
	if rerr != nil {
		return nil, a.refused(ctx, at, rerr)
	}
	vid, rerr := req.Holder.vid()
	if rerr != nil {
		return nil, a.refused(ctx, at, rerr)
	}
	hash := requestHash("renew", req.CSR, []byte(req.Proof), vid)
	spki, err := spkiHash(csr.PublicKey)
	if err != nil {
		return nil, a.refused(ctx, at, internal(err))
	}
	is := &issuance{at: at, hash: hash}
	var replay *Record
	var p *proof.Verified
	err = a.run(ctx, at, func(tx *store.Tx) error {
		// A retry gets its first answer before the proof's freshness is
		// judged: a client that lost the answer must still get its
		// certificate after the proof's five minutes.
		if err := tx.LockKey(ctx, "request:"+req.RequestID); err != nil {
			return err
		}
		if rec, err := a.replay(ctx, tx, req.RequestID, "renew", hash); err != nil || rec != nil {
			replay = rec
			return err
		}
		old, verified, rerr := a.verifyProof(ctx, tx, at, req.Proof, MethodRenew)
		if rerr != nil {
			return rerr
		}
		p = verified
		if p.Claims.Binding != proof.BindCSR(req.CSR) {
			return refuse(KindUnauthorized, "proof_binding", "proof is not bound to this CSR: sign the proof with binding = hex SHA-256 of the new CSR")
		}
		now := a.now().UTC().Truncate(time.Second)
		if rerr := renewable(old, now); rerr != nil {
			return rerr
		}
		if rerr := req.Holder.provePrevious(p.Certificate); rerr != nil {
			return rerr
		}
		if used, err := tx.EvidenceUsed(ctx, []string{proofID(old.Serial, p)}); err != nil || used {
			if used {
				return refuse(KindUnauthorized, "proof_replayed", "this proof was already used: sign a new one")
			}
			return err
		}
		profile, rerr := a.Profile(old.Profile)
		if rerr != nil {
			return rerr
		}
		if rerr := checkKeyFresh(ctx, tx, spki); rerr != nil {
			return rerr
		}
		tmpl, err := profile.render(csr, subjectData{})
		if err != nil {
			return err
		}
		// Renewal changes the key, not the holder: keep the exact subject.
		tmpl.RawSubject = p.Certificate.RawSubject
		if err := identifyData(tmpl, realNameOf(p.Certificate), vid); err != nil {
			return fmt.Errorf("profile %s: %w", profile.Name, err)
		}
		is.old = old
		is.row = &store.Certificate{
			SubjectRef: old.SubjectRef, Profile: old.Profile, SPKISHA256: spki, KeyType: keyType,
			Operation: "renew", RequestID: req.RequestID, CreatedAt: now,
			PhoneMasked: old.PhoneMasked, AccountMasked: old.AccountMasked, Bank: old.Bank,
		}
		return a.prepare(ctx, tx, is, tmpl, csr, now, profile.Validity.NotAfter(old.NotAfter))
	})
	if err != nil || replay != nil {
		return replay, err
	}
	cert, err := a.sign(ctx, is)
	if err != nil {
		return nil, err
	}
	return a.finalize(ctx, is, cert, &store.Delivery{Evidence: map[string]string{proofID(is.old.Serial, p): "proof"}},
		refuse(KindUnauthorized, "proof_replayed", "this proof was already used: sign a new one"))
}

// renewable applies DESIGN.md's renewal rules to the current certificate.
func renewable(c *store.Certificate, now time.Time) *Error {
	switch c.Status {
	case "revoked":
		return refuse(KindPrecondition, "revoked", "certificate %s is revoked and cannot be renewed: issue a new certificate", c.Serial)
	case "suspended":
		return refuse(KindPrecondition, "suspended", "certificate %s is suspended and cannot be renewed: resume it first", c.Serial)
	case "expired":
		return refuse(KindPrecondition, "expired", "certificate %s expired: a new issue is needed", c.Serial)
	}
	if !now.Before(c.NotAfter) {
		return refuse(KindPrecondition, "expired", "certificate %s expired at %s: renewal is no longer possible, issue a new certificate", c.Serial, kstDate(c.NotAfter))
	}
	if opens := c.NotAfter.Add(-RenewalWindow); now.Before(opens) {
		return refuse(KindPrecondition, "outside_renewal_window", "renewal of %s opens at %s (30 days before expiry at %s): try again then", c.Serial, kstDate(opens), kstDate(c.NotAfter))
	}
	return nil
}

// verifyProof checks a key-possession proof and locks the certificate it
// was made with; the signing certificate must be byte-for-byte the one
// Signet issued.
func (a *Authority) verifyProof(ctx context.Context, tx *store.Tx, at *attempt, token, method string) (*store.Certificate, *proof.Verified, *Error) {
	p, err := proof.Verify(token, a.cfg.Audience, method, a.now())
	if err != nil {
		return nil, nil, refuse(KindUnauthorized, "bad_proof", "%s", err.Error())
	}
	serial := p.Claims.Serial
	at.serial = serial
	c, err := tx.CertificateBySerial(ctx, serial)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, refuse(KindNotFound, "unknown_serial", "no certificate with serial %s was issued by this Signet", serial)
	}
	if err != nil {
		return nil, nil, internal(err)
	}
	at.subjectRef, at.profile = c.SubjectRef, c.Profile
	if !bytes.Equal(c.DER, p.Certificate.Raw) {
		return nil, nil, refuse(KindUnauthorized, "bad_proof", "the certificate in the proof's x5c is not the one Signet issued with serial %s", serial)
	}
	return c, p, nil
}

// proofID is a proof's key in used_evidence.
func proofID(serial string, p *proof.Verified) string { return "proof/" + serial + "/" + p.Claims.JTI }

// spendProof makes a proof single use (DESIGN.md invariant 4).
func (a *Authority) spendProof(ctx context.Context, tx *store.Tx, serial string, p *proof.Verified, now time.Time) error {
	err := tx.UseEvidence(ctx, "", now, map[string]string{proofID(serial, p): "proof"})
	if errors.Is(err, store.ErrEvidenceUsed) {
		return refuse(KindUnauthorized, "proof_replayed", "this proof was already used: sign a new one")
	}
	return err
}

// normalizeSerial accepts upper case and leading zeros from people.
func normalizeSerial(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "0x")
	s = strings.ReplaceAll(s, ":", "")
	if t := strings.TrimLeft(s, "0"); t != "" {
		return t
	}
	return s
}
