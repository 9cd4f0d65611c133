package ca

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/signet-ca/signet/ca/evidence"
	"github.com/signet-ca/signet/store"
)

// Evidence is the pair of identity tokens a request carries.
type Evidence struct {
	PhoneToken   string
	AccountToken string
}

// IdentityRequest is an issue or a reissue: a new key proved by a CSR and
// a person proved by fresh phone and account evidence.
type IdentityRequest struct {
	RequestID    string
	EnrollmentID string
	CSR          []byte
	Evidence     Evidence
	Holder       Holder
	Actor        string
}

// Issue is 발급: a first certificate for (subject, profile). It is refused
// while the subject holds a live certificate for that profile, with a
// pointer to reissue or renew (DESIGN.md "Life cycle rules").
func (a *Authority) Issue(ctx context.Context, req IdentityRequest) (*Record, error) {
	return a.identityIssue(ctx, PurposeIssue, req)
}

// Reissue is 재발급 after a lost key or forgotten password: fresh identity
// evidence, a new key, the old notAfter kept, and the old certificate
// revoked as superseded in the same transaction.
func (a *Authority) Reissue(ctx context.Context, req IdentityRequest) (*Record, error) {
	return a.identityIssue(ctx, PurposeReissue, req)
}

func (a *Authority) identityIssue(ctx context.Context, purpose string, req IdentityRequest) (*Record, error) {
	at := &attempt{action: purpose, actor: req.Actor, requestID: req.RequestID}

	// Everything that needs no lock comes first: the request id, the CSR
	// and its key, the holder's VID, and the evidence's signatures.
	csr, keyType, rerr := checkIssuing(req.RequestID, req.CSR)
	if rerr != nil {
		return nil, a.refused(ctx, at, rerr)
	}
	vid, rerr := req.Holder.vid()
	if rerr != nil {
		return nil, a.refused(ctx, at, rerr)
	}
	// The VID, not idn and R, goes into the stored request hash: it is
	// already public in the certificate.
	hash := requestHash(purpose, []byte(req.EnrollmentID), req.CSR, []byte(req.Evidence.PhoneToken), []byte(req.Evidence.AccountToken), vid)
	id, rerr := a.checkEvidence(ctx, at, req.EnrollmentID, req.Evidence)
	if rerr != nil {
		// A retry after the evidence went stale still gets its first
		// answer: the stored answer wins over freshness.
		if rec, rrerr := a.answered(ctx, req.RequestID, purpose, hash); rec != nil {
			return rec, nil
		} else if rrerr != nil {
			rerr = rrerr
		}
		return nil, a.refused(ctx, at, rerr)
	}
	if rerr := req.Holder.matchBirth(id.ident.Birth); rerr != nil {
		return nil, a.refused(ctx, at, rerr)
	}
	spki, err := spkiHash(csr.PublicKey)
	if err != nil {
		return nil, a.refused(ctx, at, internal(err))
	}

	is := &issuance{at: at, hash: hash}
	var replay *Record
	err = a.run(ctx, at, func(tx *store.Tx) error {
		now := a.now().UTC().Truncate(time.Second)
		st, err := tx.IssuanceState(ctx, store.IssuanceQuery{EnrollmentID: id.enrollment.ID, RequestID: req.RequestID,
			EvidenceIDs: id.ident.JTIs, SubjectRef: id.subjectRef, Profile: id.profile.Name, SPKI: spki, Now: now})
		if errors.Is(err, store.ErrNotFound) {
			return refuse(KindNotFound, "unknown_enrollment", "enrollment %s does not exist (any more): call StartEnrollment first", id.enrollment.ID)
		}
		if err != nil {
			return err
		}
		// Certificates that just lapsed are marked expired whatever this
		// request's outcome, each with its audit event.
		if err := a.auditExpired(ctx, tx, st.Expired, id.subjectRef, id.profile.Name, now); err != nil {
			return err
		}
		if st.Stored != nil {
			rec, err := a.replayStored(ctx, tx, st.Stored, purpose, hash)
			replay = rec
			return err
		}
		if rerr := a.usable(st.Enrollment, purpose, st.EvidenceUsed); rerr != nil {
			return rerr
		}
		id.enrollment = st.Enrollment
		live := st.Live
		if purpose == PurposeReissue && live == nil {
			// Under READ COMMITTED a delivery that replaced the live
			// certificate while this read waited for its row lock hides
			// both the old row and the new one: read again.
			c, err := tx.LiveCertificate(ctx, id.subjectRef, id.profile.Name)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			live = c
		}
		var notAfter time.Time
		switch {
		case purpose == PurposeIssue && live != nil:
			at.serial = live.Serial
			return refuse(KindConflict, "already_active",
				"you already hold an active %s certificate (serial %s, valid until %s): use ReissueCertificate if the key is lost, or RenewCertificate from 30 days before expiry",
				id.profile.Name, live.Serial, kstDate(live.NotAfter))
		case purpose == PurposeReissue && live == nil:
			return refuse(KindPrecondition, "nothing_to_reissue",
				"no valid %s certificate to reissue (none was issued, or it expired or was revoked): issue a new certificate with IssueCertificate", id.profile.Name)
		case purpose == PurposeReissue && live.Status == store.StatusSuspended:
			at.serial = live.Serial
			return refuse(KindPrecondition, "suspended",
				"certificate %s is suspended: resume it before reissuing", live.Serial)
		case purpose == PurposeReissue:
			at.serial = live.Serial
			// A reissue replaces the certificate that was live when its
			// enrollment was started, never one made since: of concurrent
			// reissues for one person exactly one wins, instead of each
			// replacing the one before (issue 8).
			since, err := tx.ReplacedSinceEnrollment(ctx, id.enrollment.ID, live.IssuerID, live.Serial)
			if err != nil {
				return err
			}
			if since {
				return refuse(KindPrecondition, "replaced_since_enrollment",
					"certificate %s was issued after enrollment %s was started (by another reissue or a renewal), so this request never saw it: check it with `signet status`, and to replace it start a new enrollment",
					live.Serial, id.enrollment.ID)
			}
			notAfter = live.NotAfter // the reissued certificate keeps the old expiry
			is.old = live
		default:
			notAfter = id.profile.Validity.NotAfter(now)
		}
		if rerr := keyFresh(st.KeyCertified, st.KeyCompromised); rerr != nil {
			return rerr
		}
		tmpl, err := id.profile.render(csr, subjectData{
			CommonName:   fmt.Sprintf("%s()%s", id.ident.Name, raNumber(id.ident.Bank)),
			ProfileOU:    id.profile.OU,
			BankOU:       bankName(id.ident.Bank),
			Organization: a.cfg.Organization,
		})
		if err != nil {
			return err
		}
		if err := identifyData(tmpl, id.ident.Name, vid); err != nil {
			return fmt.Errorf("profile %s: %w", id.profile.Name, err)
		}
		is.row = &store.Certificate{
			SubjectRef: id.subjectRef, Profile: id.profile.Name, SPKISHA256: spki, KeyType: keyType,
			Operation: purpose, RequestID: req.RequestID, CreatedAt: now,
			PhoneMasked: evidence.MaskPhone(id.ident.Phone), AccountMasked: evidence.MaskAccount(id.ident.Account), Bank: id.ident.Bank,
		}
		return a.prepare(ctx, tx, is, tmpl, csr, now, notAfter)
	})
	if err != nil || replay != nil {
		return replay, err
	}
	cert, err := a.sign(ctx, is)
	if err != nil {
		return nil, err
	}
	// The enrollment and the evidence are spent only at delivery, so that a
	// request that fails before can be retried as it was.
	return a.finalize(ctx, is, cert, &store.Delivery{EnrollmentID: id.enrollment.ID, Evidence: id.evidenceIDs()},
		refuse(KindUnauthorized, "evidence_replayed",
			"this identity evidence was used by another request while this one was being signed: run the phone and account checks again"))
}

// auditExpired writes the "expire" event of each certificate that lapsed.
func (a *Authority) auditExpired(ctx context.Context, tx *store.Tx, serials []string, subjectRef, profile string, now time.Time) error {
	for _, serial := range serials {
		ev := &store.AuditEvent{At: now, Actor: "signet", Action: "expire", Outcome: "ok", Serial: serial, SubjectRef: subjectRef, Profile: profile}
		if err := tx.AppendAudit(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}

// usable applies the enrollment rules, in the order a person should fix
// them: purpose, freshness, evidence not spent, enrollment not used.
func (a *Authority) usable(e *store.Enrollment, purpose string, evidenceUsed bool) *Error {
	if e.Purpose != purpose {
		return refuse(KindInvalid, "wrong_purpose", "enrollment %s was started for %s, not %s: start a new enrollment with purpose %s", e.ID, e.Purpose, purpose, purpose)
	}
	if !a.now().Before(e.ExpiresAt) {
		return refuse(KindPrecondition, "enrollment_expired", "enrollment %s expired at %s: start a new enrollment and run the identity checks again", e.ID, e.ExpiresAt.Format(time.RFC3339))
	}
	if evidenceUsed {
		return refuse(KindUnauthorized, "evidence_replayed", "this identity evidence was already used: run the phone and account checks again")
	}
	if e.UsedAt != nil {
		return refuse(KindPrecondition, "enrollment_used", "enrollment %s was already used: start a new enrollment", e.ID)
	}
	return nil
}

// verifiedIdentity is the outcome of an enrollment's evidence check.
type verifiedIdentity struct {
	enrollment *store.Enrollment
	profile    *Profile
	ident      *evidence.Identity
	subjectRef string
}

var errEnrollmentUsed = errors.New("ca: enrollment already used")

// evidenceIDs are the two tokens' ids as spent.
func (v *verifiedIdentity) evidenceIDs() map[string]string {
	return map[string]string{v.ident.JTIs[0]: string(evidence.KindPhone), v.ident.JTIs[1]: string(evidence.KindAccount)}
}

// spend marks the enrollment and both evidence tokens used.
func (v *verifiedIdentity) spend(ctx context.Context, tx *store.Tx, now time.Time) error {
	used, err := tx.UseEnrollmentOnce(ctx, v.enrollment.ID, now)
	if err != nil {
		return err
	}
	if used {
		return errEnrollmentUsed
	}
	return tx.UseEvidence(ctx, v.enrollment.ID, now, v.evidenceIDs())
}

// checkEvidence verifies an enrollment's evidence (DESIGN.md "Identity
// evidence") before any lock is taken: the signatures, audience,
// freshness, nonce and same-person rules. Single use is checked under the
// enrollment's lock (lockEnrollment) and enforced when the evidence is
// spent.
func (a *Authority) checkEvidence(ctx context.Context, at *attempt, enrollmentID string, ev Evidence) (*verifiedIdentity, *Error) {
	if _, err := uuid.Parse(enrollmentID); err != nil {
		return nil, refuse(KindInvalid, "bad_enrollment_id", "enrollment_id %q is not a UUID: call StartEnrollment first", enrollmentID)
	}
	e, err := a.db.Enrollment(ctx, enrollmentID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, refuse(KindNotFound, "unknown_enrollment", "enrollment %s does not exist: call StartEnrollment first", enrollmentID)
	}
	if err != nil {
		return nil, internal(err)
	}
	at.profile = e.Profile
	profile, rerr := a.Profile(e.Profile)
	if rerr != nil {
		return nil, rerr
	}
	// Checked again under the enrollment's lock; here so that a stale
	// enrollment is named as such rather than as stale evidence.
	if !a.now().Before(e.ExpiresAt) {
		return nil, refuse(KindPrecondition, "enrollment_expired", "enrollment %s expired at %s: start a new enrollment and run the identity checks again", e.ID, e.ExpiresAt.Format(time.RFC3339))
	}
	ident, err := a.verifier.Verify(ev.PhoneToken, ev.AccountToken, e.Nonce)
	if err != nil {
		return nil, evidenceRefusal(err)
	}
	subjectRef, err := evidence.SubjectRef(a.cfg.SubjectKey, ident.CI)
	if err != nil {
		return nil, internal(err)
	}
	at.subjectRef = subjectRef
	return &verifiedIdentity{enrollment: e, profile: profile, ident: ident, subjectRef: subjectRef}, nil
}

// lockEnrollment locks the enrollment, which orders retries of one
// request: the second sees the first's stored answer, returned as the
// record. Otherwise it checks that the enrollment is for this purpose,
// fresh and unused, and that the evidence was never spent.
func (a *Authority) lockEnrollment(ctx context.Context, tx *store.Tx, id *verifiedIdentity, requestID, purpose string, hash []byte) (*Record, *Error) {
	e, err := tx.Enrollment(ctx, id.enrollment.ID)
	if err != nil {
		return nil, internal(err)
	}
	if rec, err := a.replay(ctx, tx, requestID, purpose, hash); err != nil || rec != nil {
		return rec, asRefusal(err)
	}
	used, err := tx.EvidenceUsed(ctx, id.ident.JTIs)
	if err != nil {
		return nil, internal(err)
	}
	if rerr := a.usable(e, purpose, used); rerr != nil {
		return nil, rerr
	}
	id.enrollment = e
	return nil, nil
}

// keyFresh enforces invariant 5: no key certified twice, and a key
// revoked for keyCompromise blocked forever.
func keyFresh(certified, compromised bool) *Error {
	if compromised {
		return refuse(KindInvalid, "compromised_key", "this public key was reported compromised and can never be certified: generate a new key")
	}
	if certified {
		return refuse(KindInvalid, "reused_key", "this public key is already certified: generate a new key for every certificate")
	}
	return nil
}

// checkKeyFresh is keyFresh with the key's status read in tx.
func checkKeyFresh(ctx context.Context, tx *store.Tx, spki []byte) *Error {
	certified, compromised, err := tx.KeyStatus(ctx, spki)
	if err != nil {
		return internal(err)
	}
	return keyFresh(certified, compromised)
}

// SubjectString renders the subject from its raw RDN sequence: pkix.Name
// folds repeated OUs into one multi-valued RDN when printed, which would
// misstate NPKI's separate OU=<bank>,OU=<profile> RDNs.
func SubjectString(cert *x509.Certificate) string {
	var rdns pkix.RDNSequence
	if _, err := asn1.Unmarshal(cert.RawSubject, &rdns); err != nil {
		return cert.Subject.String()
	}
	return rdns.String()
}

// raNumber is the RA-assigned unique number after "()" in an NPKI common
// name: "00", the 3-digit bank code, then 15 random digits.
func raNumber(bank string) string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	digits := make([]byte, len(b))
	for i, v := range b {
		digits[i] = '0' + v%10
	}
	return "00" + bank + string(digits)
}

func kstDate(t time.Time) string { return t.In(kst).Format("2006-01-02 15:04:05 KST") }

func internal(err error) *Error {
	return &Error{Kind: KindInternal, Reason: "internal", Msg: err.Error(), Err: err}
}

func asRefusal(err error) *Error {
	if err == nil {
		return nil
	}
	if rerr, ok := AsError(err); ok {
		return rerr
	}
	return internal(err)
}

// storeRefusal turns a constraint violation that lost a race into the same
// refusal the code check would have given.
func (a *Authority) storeRefusal(err error) error {
	switch {
	case errors.Is(err, store.ErrLiveExists):
		return refuse(KindConflict, "already_active", "a live certificate for this subject and profile was issued concurrently: use ReissueCertificate or RenewCertificate")
	case errors.Is(err, store.ErrKeyCertified):
		return refuse(KindInvalid, "reused_key", "this public key is already certified: generate a new key for every certificate")
	}
	return err
}

// evidenceRefusal maps an evidence check failure to a refusal.
func evidenceRefusal(err error) *Error {
	var e *evidence.Error
	if !errors.As(err, &e) {
		return internal(err)
	}
	kind := KindUnauthorized
	switch e.Reason {
	case evidence.ReasonMalformed:
		kind = KindInvalid
	case evidence.ReasonMismatch:
		kind = KindForbidden
	}
	return &Error{Kind: kind, Reason: "evidence_" + string(e.Reason), Msg: e.Msg}
}

// refused audits a refusal made before any transaction and returns it.
func (a *Authority) refused(ctx context.Context, at *attempt, rerr *Error) error {
	a.auditRefusal(ctx, at, rerr)
	return rerr
}

// asError keeps a nil *Error a nil error.
func asError(rerr *Error) error {
	if rerr == nil {
		return nil
	}
	return rerr
}
