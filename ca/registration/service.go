package registration

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/ca/crlreason"
	"github.com/signet-ca/signet/ca/evidence"
	"github.com/signet-ca/signet/ca/identity"
	"github.com/signet-ca/signet/ca/proof"
	"github.com/signet-ca/signet/store"
)

// Status is a certificate's live status at its issuing CA.
type Status struct {
	Status    string // good, revoked, unknown
	RevokedAt time.Time
	Reason    int
	Source    string // ocsp, crl
	URL       string
}

// Errors a StatusChecker returns, matched with errors.Is.
var (
	// ErrUnreachable: the CA's OCSP responder and CRL could not be fetched.
	ErrUnreachable = errors.New("registration: the issuing CA's status service cannot be reached")
	// ErrNoStatusSource: the certificate names no OCSP URL or CRL.
	ErrNoStatusSource = errors.New("registration: the certificate names no OCSP responder or CRL")
)

// StatusChecker asks the issuing CA (package revcheck, behind an adapter).
type StatusChecker interface {
	Check(ctx context.Context, cert, issuer *x509.Certificate) (Status, error)
}

// Options wire a Service.
type Options struct {
	Authority *ca.Authority
	DB        *store.DB
	Trust     *TrustList
	Status    StatusChecker
	Now       func() time.Time
	Log       *slog.Logger
	// RecheckAfter is how old an active registration's last status check
	// may be before the recheck job asks its CA again (default 1h).
	RecheckAfter time.Duration
}

// Service registers, unregisters, lists and judges registrations.
type Service struct {
	a            *ca.Authority
	db           *store.DB
	trust        *TrustList
	status       StatusChecker
	now          func() time.Time
	log          *slog.Logger
	recheckAfter time.Duration
}

// New checks the wiring.
func New(o Options) (*Service, error) {
	if o.Authority == nil || o.DB == nil || o.Status == nil || o.Now == nil {
		return nil, errors.New("registration: authority, database, status checker and clock are required")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.RecheckAfter <= 0 {
		o.RecheckAfter = time.Hour
	}
	return &Service{a: o.Authority, db: o.DB, trust: o.Trust, status: o.Status, now: o.Now, log: o.Log, recheckAfter: o.RecheckAfter}, nil
}

// Challenge starts a challenge for one registration request.
func (s *Service) Challenge(ctx context.Context, purpose, actor string) (*ca.Enrollment, error) {
	return s.a.StartChallenge(ctx, purpose, actor)
}

// Registration is a registration as the service reports it.
type Registration struct {
	ID, SubjectRef, Serial, Issuer, Subject, TrustCA string
	Status, Reason                                   string
	NotBefore, NotAfter                              time.Time
	CheckedAt                                        time.Time
	CheckStatus, CheckSource                         string
	CreatedAt                                        time.Time
	DER                                              []byte
	// Implicit marks one of Signet's own certificates, registered for its
	// holder without a separate step (no row).
	Implicit bool
}

func fromRow(r *store.Registration) *Registration {
	return &Registration{ID: r.ID, SubjectRef: r.SubjectRef, Serial: r.Serial, Issuer: r.IssuerDN, Subject: r.SubjectDN,
		TrustCA: r.TrustCA, Status: r.Status, Reason: r.Reason, NotBefore: r.NotBefore, NotAfter: r.NotAfter,
		CheckedAt: r.CheckedAt, CheckStatus: r.CheckStatus, CheckSource: r.CheckSource, CreatedAt: r.CreatedAt, DER: r.DER}
}

// signetID names the implicit registration of one of Signet's own
// certificates, for Unregister and AdminUnregister.
func signetID(serial string) string { return "signet:" + serial }

// RegisterRequest is 등록.
type RegisterRequest struct {
	// RequestID, if set, makes a retry get the first answer back after the
	// challenge and the evidence are spent.
	RequestID   string
	ChallengeID string
	Proof       string
	Evidence    ca.Evidence
	// IDN and R prove the certificate is the person's (its VID). Memory only.
	IDN string
	R   []byte
	// Chain are intermediates the caller sent besides the trust list's.
	Chain [][]byte
	Actor string
}

// attempt collects an audit event's fields as a request is judged.
type attempt struct{ ev store.AuditEvent }

func newAttempt(action, actor string) *attempt {
	return &attempt{ev: store.AuditEvent{Action: action, Actor: actor, Details: map[string]any{}}}
}

// refused audits a refusal and returns it.
func (s *Service) refused(ctx context.Context, at *attempt, err error) error {
	if _, limited := ca.AsRateLimited(err); limited {
		return err // audited where it was counted
	}
	rerr, ok := ca.AsError(err)
	if !ok {
		if !store.IsUnavailable(err) {
			s.log.ErrorContext(ctx, "registration failed", "action", at.ev.Action, "err", err)
		}
		return err
	}
	if rerr.Kind == ca.KindInternal {
		s.log.ErrorContext(ctx, "registration failed", "action", at.ev.Action, "err", rerr.Err)
		return rerr
	}
	s.a.AuditRefusal(ctx, &at.ev, rerr)
	return rerr
}

// Register registers a certificate for the person the evidence proves.
func (s *Service) Register(ctx context.Context, req RegisterRequest) (*Registration, error) {
	at := newAttempt("register", req.Actor)
	out, err := s.register(ctx, req, at)
	if err != nil {
		return nil, s.refused(ctx, at, err)
	}
	return out, nil
}

func (s *Service) register(ctx context.Context, req RegisterRequest, at *attempt) (*Registration, error) {
	var hash []byte
	if req.RequestID != "" {
		if rerr := ca.CheckRequestID(req.RequestID); rerr != nil {
			return nil, rerr
		}
		// idn and R stay out of the hash: they are never stored, even
		// hashed, and the proof and the single-use evidence already pin
		// the request.
		hash = ca.RequestHash(MethodRegister, []byte(req.ChallengeID), []byte(req.Proof), []byte(req.Evidence.PhoneToken),
			[]byte(req.Evidence.AccountToken), bytes.Join(req.Chain, []byte{0}))
		// The stored answer wins over the challenge's freshness, as for
		// issuance (issue 8): a client that lost the answer gets it.
		var first *Registration
		if err := s.db.InTx(ctx, func(tx *store.Tx) error {
			r, err := s.answered(ctx, tx, req.RequestID, hash)
			first = r
			return err
		}); err != nil || first != nil {
			return first, err
		}
	}
	ch, rerr := s.a.OpenChallenge(ctx, req.ChallengeID, ca.PurposeRegister)
	if rerr != nil {
		return nil, rerr
	}
	at.ev.Details["challenge_id"] = ch.ID
	person, rerr := s.a.VerifyPerson(ch, req.Evidence)
	if rerr != nil {
		return nil, rerr
	}
	at.ev.SubjectRef = person.SubjectRef
	if err := s.a.LimitPerson(ctx, at.ev.Action, at.ev.Actor, person); err != nil {
		return nil, err
	}
	now := s.now()
	p, rerr := keyProof(at, s.a.Audience(), req.Proof, MethodRegister, BindRegister(ch.Nonce), now,
		"the proof does not sign challenge %s: sign the nonce StartRegistration returned", ch.ID)
	if rerr != nil {
		return nil, rerr
	}
	cert := p.Certificate
	if rerr := checkHolder(cert, person, req.IDN, req.R); rerr != nil {
		return nil, rerr
	}
	row, rerr := s.judge(ctx, cert, person.SubjectRef, req.Chain, now)
	if rerr != nil {
		return nil, rerr
	}
	at.ev.Details["trust_ca"] = row.TrustCA
	var out *Registration
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if req.RequestID != "" {
			if err := tx.LockKey(ctx, "request:"+req.RequestID); err != nil {
				return err
			}
			if r, err := s.answered(ctx, tx, req.RequestID, hash); err != nil || r != nil {
				out = r
				return err
			}
		}
		existing, err := tx.ActiveRegistrationForUpdate(ctx, row.CertSHA256)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if existing != nil && existing.SubjectRef != person.SubjectRef {
			return ca.Refuse(ca.KindConflict, "registered_to_another", "certificate %s is registered here for another person: it must be unregistered first (by its holder or an operator)", row.Serial)
		}
		if err := s.a.SpendChallenge(ctx, tx, ch, person, proofID(row.CertSHA256, p), now); err != nil {
			return err
		}
		if existing != nil {
			// Registering again is a no-op for the same person.
			at.ev.Details["registration_id"] = existing.ID
			at.ev.Details["already_registered"] = true
			out = fromRow(existing)
		} else {
			if err := tx.InsertRegistration(ctx, row); err != nil {
				if errors.Is(err, store.ErrRegisteredElsewhere) {
					return ca.Refuse(ca.KindConflict, "registered_to_another", "certificate %s was registered by a concurrent request: list your registrations, or unregister it first", row.Serial)
				}
				return err
			}
			at.ev.Details["registration_id"] = row.ID
			out = fromRow(row)
		}
		if req.RequestID != "" {
			answer, err := json.Marshal(storedRegistration{RegistrationID: out.ID})
			if err != nil {
				return err
			}
			err = tx.SaveResponse(ctx, req.RequestID, &store.StoredResponse{Method: MethodRegister, RequestHash: hash, Response: answer})
			if errors.Is(err, store.ErrDuplicateRequest) {
				return ca.RequestIDReused()
			}
			if err != nil {
				return err
			}
		}
		at.ev.At, at.ev.Outcome = now.UTC(), "ok"
		return tx.AppendAudit(ctx, &at.ev)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// storedRegistration is Register's stored answer: which registration.
type storedRegistration struct {
	RegistrationID string `json:"registration_id"`
}

// answered is the first answer to requestID, as the registration is now,
// nil if there is none, or request_id_reused if the id answered another
// request.
func (s *Service) answered(ctx context.Context, tx *store.Tx, requestID string, hash []byte) (*Registration, error) {
	stored, err := tx.StoredResponse(ctx, requestID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if stored.Method != MethodRegister || !bytes.Equal(stored.RequestHash, hash) {
		return nil, ca.RequestIDReused()
	}
	var r storedRegistration
	if err := json.Unmarshal(stored.Response, &r); err != nil {
		return nil, err
	}
	row, err := tx.RegistrationForUpdate(ctx, r.RegistrationID)
	if err != nil {
		return nil, err
	}
	return fromRow(row), nil
}

// keyProof verifies a key proof for method and its binding to the
// challenge, and names the certificate in the audit event; mismatch is the
// message of a proof that signs something else.
func keyProof(at *attempt, audience, token, method, binding string, now time.Time, mismatch string, args ...any) (*proof.Verified, *ca.Error) {
	p, err := proof.Verify(token, audience, method, now)
	if err != nil {
		return nil, ca.Refuse(ca.KindUnauthorized, "bad_proof", "%s", err.Error())
	}
	at.ev.Serial = p.Claims.Serial
	if p.Claims.Binding != binding {
		return nil, ca.Refuse(ca.KindUnauthorized, "proof_binding", mismatch, args...)
	}
	return p, nil
}

// proofID makes a key proof single use (DESIGN.md invariant 4), keyed by
// the certificate since another CA's serial may equal one of Signet's.
func proofID(fp []byte, p *proof.Verified) map[string]string {
	return map[string]string{"proof/reg/" + hex.EncodeToString(fp) + "/" + p.Claims.JTI: "proof"}
}

// checkHolder is "the certificate is theirs": the resident number agrees
// with the evidence's birth date, the certificate's VID is the one idn
// and R make, and its realName is the evidence's name. idn and R are
// never quoted in a message.
func checkHolder(cert *x509.Certificate, person *ca.Person, idn string, r []byte) *ca.Error {
	if err := identity.CheckIDN(idn); err != nil {
		return ca.Refuse(ca.KindInvalid, "bad_idn", "holder_identity.idn: %v", err)
	}
	if len(r) != identity.RandomNumSize {
		return ca.Refuse(ca.KindInvalid, "bad_random_num", "holder_identity.random_num must be the %d-byte R from the certificate's key file (signPri.key), got %d bytes", identity.RandomNumSize, len(r))
	}
	if err := identity.CheckIDNBirth(idn, person.Birth); err != nil {
		return ca.Refuse(ca.KindForbidden, "idn_not_person", "the resident number does not belong to the person the identity evidence proves (%v): send the holder's own number", err)
	}
	serial := cert.SerialNumber.Text(16)
	d, err := identity.FromCertificate(cert)
	if err == nil {
		err = d.Match(idn, r)
	}
	switch {
	case errors.Is(err, identity.ErrNoIdentifyData):
		return ca.Refuse(ca.KindInvalid, "no_identify_data", "certificate %s carries no identifyData (VID), so it cannot be matched to a person: register a personal joint certificate", serial)
	case errors.Is(err, identity.ErrMismatch):
		return ca.Refuse(ca.KindForbidden, "vid_mismatch", "the resident number and the key file's R do not match certificate %s's VID: check the number, and send R from this certificate's own signPri.key", serial)
	case err != nil:
		return ca.Refuse(ca.KindInvalid, "bad_identify_data", "certificate %s has an identifyData extension that cannot be read: %v", serial, err)
	}
	if evidence.NormalizeName(d.RealName) != person.Name {
		return ca.Refuse(ca.KindForbidden, "name_mismatch", "certificate %s is in another name than the identity evidence's: register your own certificate", serial)
	}
	return nil
}

// judge checks that cert may be registered now for subjectRef and returns
// the row to store: Signet's own certificates by Signet's records, other
// CAs' by the trust list, the validity, the key usage and the live status
// at the issuing CA.
func (s *Service) judge(ctx context.Context, cert *x509.Certificate, subjectRef string, chain [][]byte, now time.Time) (*store.Registration, *ca.Error) {
	serial := cert.SerialNumber.Text(16)
	at := now.UTC()
	row := &store.Registration{ID: uuid.NewString(), SubjectRef: subjectRef, CertSHA256: Fingerprint(cert), DER: cert.Raw,
		Serial: serial, IssuerDN: cert.Issuer.String(), IssuerSKI: cert.AuthorityKeyId, SubjectDN: ca.SubjectString(cert),
		NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, Status: StatusActive, CheckedAt: at, CreatedAt: at, UpdatedAt: at}
	own, err := s.signetCertificate(ctx, cert)
	if err != nil {
		return nil, ca.Internal(err)
	}
	if own != nil {
		if own.SubjectRef != subjectRef {
			return nil, ca.Refuse(ca.KindForbidden, "not_holder", "certificate %s was issued by this Signet to another person", serial)
		}
		if rerr := signetStatus(own, now); rerr != nil {
			return nil, rerr
		}
		row.TrustCA, row.CheckStatus, row.CheckSource = SignetCA, "good", "signet"
		return row, nil
	}
	if rerr := checkPeriod(cert, now); rerr != nil {
		return nil, rerr
	}
	var extra []*x509.Certificate
	for i, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, ca.Refuse(ca.KindInvalid, "bad_chain", "chain[%d] is not a DER certificate: send the intermediates as DER, or none", i)
		}
		extra = append(extra, c)
	}
	name, issuer, err := s.trust.Chain(cert, extra, now)
	if err != nil {
		return nil, untrusted(cert)
	}
	if rerr := checkKeyUsage(cert); rerr != nil {
		return nil, rerr
	}
	st, rerr := s.liveStatus(ctx, cert, issuer, name)
	if rerr != nil {
		return nil, rerr
	}
	if st.Status != "good" {
		return nil, statusRefusal(cert, name, st)
	}
	row.TrustCA, row.CheckStatus, row.CheckSource = name, st.Status, st.Source
	return row, nil
}

func untrusted(cert *x509.Certificate) *ca.Error {
	return ca.Refuse(ca.KindForbidden, "untrusted_issuer", "certificate %s was issued by %q, which is not on this Signet's list of trusted CAs (or its chain does not verify): use a joint certificate from a listed CA", cert.SerialNumber.Text(16), cert.Issuer.String())
}

// statusRefusal refuses a certificate that its CA does not call good.
func statusRefusal(cert *x509.Certificate, caName string, st Status) *ca.Error {
	serial := cert.SerialNumber.Text(16)
	if st.Status == "revoked" {
		return ca.Refuse(ca.KindPrecondition, "revoked_at_ca", "certificate %s was revoked by %s at %s (reason %s, per its %s): it cannot be used; get a new certificate at its bank",
			serial, caName, st.RevokedAt.UTC().Format(time.RFC3339), crlreason.Name(st.Reason), strings.ToUpper(st.Source))
	}
	return ca.Refuse(ca.KindPrecondition, "status_unknown", "%s does not know certificate %s (its %s answered unknown): check that it is a certificate %s issued", caName, serial, strings.ToUpper(st.Source), caName)
}

// liveStatus asks the issuing CA, mapping what cannot be asked to a
// refusal the caller can act on.
func (s *Service) liveStatus(ctx context.Context, cert, issuer *x509.Certificate, caName string) (Status, *ca.Error) {
	st, err := s.status.Check(ctx, cert, issuer)
	switch {
	case err == nil:
		return st, nil
	case errors.Is(err, ErrNoStatusSource):
		return Status{}, ca.Refuse(ca.KindPrecondition, "no_status_source", "certificate %s names no OCSP responder or CRL, so its status at %s cannot be checked: it cannot be registered", cert.SerialNumber.Text(16), caName)
	case errors.Is(err, ErrUnreachable):
		return Status{}, ca.Refuse(ca.KindUnavailable, "ca_unreachable", "the status service of %s (%s) cannot be reached right now: retry in a minute; if it persists, %s is down", caName, cert.Issuer.String(), caName)
	}
	return Status{}, ca.Internal(err)
}

// signetCertificate returns Signet's record of cert if Signet issued it.
func (s *Service) signetCertificate(ctx context.Context, cert *x509.Certificate) (*store.Certificate, error) {
	c, err := s.db.CertificateBySerial(ctx, cert.SerialNumber.Text(16))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(c.DER, cert.Raw) {
		return nil, nil
	}
	return c, nil
}

// signetStatus refuses one of Signet's own certificates that is not active.
func signetStatus(c *store.Certificate, now time.Time) *ca.Error {
	switch ca.StatusAt(c, now) {
	case ca.Revoked:
		return ca.Refuse(ca.KindPrecondition, "revoked", "certificate %s is revoked: it cannot be used", c.Serial)
	case ca.Suspended:
		return ca.Refuse(ca.KindPrecondition, "suspended", "certificate %s is suspended: resume it first", c.Serial)
	case ca.Expired:
		return ca.Refuse(ca.KindPrecondition, "expired", "certificate %s expired at %s: renew it or issue a new one", c.Serial, c.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// UnregisterRequest is 해제 by the holder: a key proof over the challenge
// and the reason, or identity evidence (a lost key) naming the registration.
type UnregisterRequest struct {
	ChallengeID    string
	Proof          string
	Evidence       ca.Evidence
	RegistrationID string
	Reason         string
	Actor          string
}

// Unregister ends a registration at its holder's request.
func (s *Service) Unregister(ctx context.Context, req UnregisterRequest) (*Registration, error) {
	at := newAttempt("unregister", req.Actor)
	at.ev.Details["reason"] = req.Reason
	out, err := s.unregister(ctx, req, at)
	if err != nil {
		return nil, s.refused(ctx, at, err)
	}
	return out, nil
}

func (s *Service) unregister(ctx context.Context, req UnregisterRequest, at *attempt) (*Registration, error) {
	if strings.TrimSpace(req.Reason) == "" {
		return nil, ca.Refuse(ca.KindInvalid, "bad_reason", "a reason is required to unregister (e.g. \"no longer used\")")
	}
	ch, rerr := s.a.OpenChallenge(ctx, req.ChallengeID, ca.PurposeUnregister)
	if rerr != nil {
		return nil, rerr
	}
	at.ev.Details["challenge_id"] = ch.ID
	now := s.now()
	var (
		person *ca.Person
		extra  map[string]string
		target target
	)
	switch {
	case req.Proof != "":
		bind := BindUnregister(ch.Nonce, req.Reason)
		p, rerr := keyProof(at, s.a.Audience(), req.Proof, MethodUnregister, bind, now,
			"the proof does not sign challenge %s with this reason: sign %q", ch.ID, bind)
		if rerr != nil {
			return nil, rerr
		}
		target.cert = p.Certificate
		extra = proofID(Fingerprint(p.Certificate), p)
	case req.Evidence.PhoneToken != "" || req.Evidence.AccountToken != "":
		if req.RegistrationID == "" {
			return nil, ca.Refuse(ca.KindInvalid, "no_registration_id", "with identity evidence, name the registration to end (registration_id from ListRegistrations)")
		}
		if person, rerr = s.a.VerifyPerson(ch, req.Evidence); rerr != nil {
			return nil, rerr
		}
		at.ev.SubjectRef = person.SubjectRef
		if err := s.a.LimitPerson(ctx, at.ev.Action, at.ev.Actor, person); err != nil {
			return nil, err
		}
		target.id = req.RegistrationID
	default:
		return nil, ca.Refuse(ca.KindInvalid, "no_authorization", "give either a proof signed by the certificate's key or identity evidence with the registration_id")
	}
	var out *Registration
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		row, err := s.locate(ctx, tx, target, now)
		if err != nil {
			return err
		}
		at.ev.Serial = row.Serial
		if person != nil && person.SubjectRef != row.SubjectRef {
			return ca.Refuse(ca.KindForbidden, "not_holder", "the identity evidence does not belong to the holder of registration %s", target.id)
		}
		at.ev.SubjectRef = row.SubjectRef
		if err := s.a.SpendChallenge(ctx, tx, ch, person, extra, now); err != nil {
			return err
		}
		out, err = s.end(ctx, tx, row, req.Reason, now, &at.ev)
		return err
	})
	return out, err
}

// AdminUnregister is 해제 by an operator, whom the admin listener verified.
func (s *Service) AdminUnregister(ctx context.Context, registrationID, reason, comment, actor string) (*Registration, error) {
	at := newAttempt("unregister", actor)
	at.ev.Details["reason"], at.ev.Details["by_operator"] = reason, true
	if comment != "" {
		at.ev.Details["comment"] = comment
	}
	now := s.now()
	var out *Registration
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if strings.TrimSpace(reason) == "" {
			return ca.Refuse(ca.KindInvalid, "bad_reason", "a reason is required to unregister")
		}
		row, err := s.locate(ctx, tx, target{id: registrationID}, now)
		if err != nil {
			return err
		}
		at.ev.Serial, at.ev.SubjectRef = row.Serial, row.SubjectRef
		out, err = s.end(ctx, tx, row, reason, now, &at.ev)
		return err
	})
	if err != nil {
		return nil, s.refused(ctx, at, err)
	}
	return out, nil
}

// target names a registration by its certificate or by its id.
type target struct {
	cert *x509.Certificate
	id   string
}

// locate finds and locks the active registration a request names. One of
// Signet's own certificates with no row is registered implicitly: the row
// that ends it is made here.
func (s *Service) locate(ctx context.Context, tx *store.Tx, t target, now time.Time) (*store.Registration, error) {
	var own *store.Certificate
	switch {
	case t.cert != nil:
		row, err := tx.ActiveRegistrationForUpdate(ctx, Fingerprint(t.cert))
		if err == nil {
			return row, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if own, err = s.signetCertificate(ctx, t.cert); err != nil {
			return nil, err
		}
	case strings.HasPrefix(t.id, "signet:"):
		c, err := s.db.CertificateBySerial(ctx, strings.TrimPrefix(t.id, "signet:"))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		own = c
		if own != nil {
			cert, err := x509.ParseCertificate(own.DER)
			if err != nil {
				return nil, err
			}
			row, err := tx.ActiveRegistrationForUpdate(ctx, Fingerprint(cert))
			if err == nil {
				return row, nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
		}
	default:
		if _, err := uuid.Parse(t.id); err != nil {
			return nil, ca.Refuse(ca.KindInvalid, "bad_registration_id", "registration_id %q is not one ListRegistrations returned", t.id)
		}
		row, err := tx.RegistrationForUpdate(ctx, t.id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, ca.Refuse(ca.KindNotFound, "unknown_registration", "no registration %s: list them with ListRegistrations", t.id)
		}
		if err != nil {
			return nil, err
		}
		if row.Status != StatusActive {
			return nil, ca.Refuse(ca.KindPrecondition, "not_active", "registration %s is already %s: there is nothing to unregister", row.ID, row.Status)
		}
		return row, nil
	}
	if own == nil {
		return nil, ca.Refuse(ca.KindNotFound, "not_registered", "this certificate is not registered here: there is nothing to unregister")
	}
	cert, err := x509.ParseCertificate(own.DER)
	if err != nil {
		return nil, err
	}
	// A Signet certificate that was unregistered before has a row that is
	// not active; it is registered again only by Register.
	if latest, err := s.db.LatestRegistration(ctx, Fingerprint(cert)); err == nil && latest.Status != StatusActive {
		return nil, ca.Refuse(ca.KindPrecondition, "not_active", "certificate %s is already %s here: there is nothing to unregister", own.Serial, latest.Status)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	at := now.UTC()
	row := &store.Registration{ID: uuid.NewString(), SubjectRef: own.SubjectRef, CertSHA256: Fingerprint(cert), DER: own.DER,
		Serial: own.Serial, IssuerDN: cert.Issuer.String(), IssuerSKI: cert.AuthorityKeyId, SubjectDN: own.SubjectDN,
		NotBefore: own.NotBefore, NotAfter: own.NotAfter, Status: StatusActive, TrustCA: SignetCA,
		CheckedAt: at, CheckStatus: "good", CheckSource: "signet", CreatedAt: at, UpdatedAt: at}
	if err := tx.InsertRegistration(ctx, row); err != nil {
		return nil, err
	}
	return row, nil
}

// end marks a locked registration unregistered and audits it.
func (s *Service) end(ctx context.Context, tx *store.Tx, row *store.Registration, reason string, now time.Time, ev *store.AuditEvent) (*Registration, error) {
	row.Status, row.Reason, row.UpdatedAt = StatusUnregistered, reason, now.UTC()
	if err := tx.SetRegistrationStatus(ctx, row); err != nil {
		return nil, err
	}
	ev.Details["registration_id"] = row.ID
	ev.At, ev.Outcome = now.UTC(), "ok"
	if err := tx.AppendAudit(ctx, ev); err != nil {
		return nil, err
	}
	return fromRow(row), nil
}

// ListRequest is a person's listing, authenticated by a key proof with any
// of their usable certificates over the challenge, or by fresh evidence.
type ListRequest struct {
	ChallengeID string
	Proof       string
	Evidence    ca.Evidence
	Actor       string
}

// MaxListed bounds one listing: a person holds a handful of certificates.
const MaxListed = 100

// List returns a person's registrations, newest first, with Signet's own
// certificates that have no row as implicit registrations.
func (s *Service) List(ctx context.Context, req ListRequest) ([]*Registration, error) {
	at := newAttempt("list_registrations", req.Actor)
	out, err := s.list(ctx, req, at)
	if err != nil {
		return nil, s.refused(ctx, at, err)
	}
	return out, nil
}

func (s *Service) list(ctx context.Context, req ListRequest, at *attempt) ([]*Registration, error) {
	ch, rerr := s.a.OpenChallenge(ctx, req.ChallengeID, ca.PurposeRegistrations)
	if rerr != nil {
		return nil, rerr
	}
	now := s.now()
	var (
		person     *ca.Person
		extra      map[string]string
		subjectRef string
	)
	switch {
	case req.Proof != "":
		p, rerr := keyProof(at, s.a.Audience(), req.Proof, MethodList, BindList(ch.Nonce), now,
			"the proof does not sign challenge %s: sign the nonce StartRegistration returned", ch.ID)
		if rerr != nil {
			return nil, rerr
		}
		in, err := s.SignIn(ctx, p.Certificate, now)
		if err != nil {
			return nil, err
		}
		subjectRef = in.SubjectRef
		if in.TrustCA == SignetCA {
			own, err := s.signetCertificate(ctx, p.Certificate)
			if err != nil {
				return nil, err
			}
			if own == nil {
				return nil, untrusted(p.Certificate)
			}
			if rerr := signetStatus(own, now); rerr != nil {
				return nil, rerr
			}
			subjectRef = own.SubjectRef
		}
		extra = proofID(Fingerprint(p.Certificate), p)
	case req.Evidence.PhoneToken != "" || req.Evidence.AccountToken != "":
		if person, rerr = s.a.VerifyPerson(ch, req.Evidence); rerr != nil {
			return nil, rerr
		}
		if err := s.a.LimitPerson(ctx, at.ev.Action, at.ev.Actor, person); err != nil {
			return nil, err
		}
		subjectRef = person.SubjectRef
	default:
		return nil, ca.Refuse(ca.KindInvalid, "no_authorization", "give either a proof signed by one of your registered certificates' keys or identity evidence")
	}
	at.ev.SubjectRef = subjectRef
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := s.a.SpendChallenge(ctx, tx, ch, person, extra, now); err != nil {
			return err
		}
		at.ev.At, at.ev.Outcome = now.UTC(), "ok"
		return tx.AppendAudit(ctx, &at.ev)
	})
	if err != nil {
		return nil, err
	}
	return s.listOf(ctx, subjectRef)
}

func (s *Service) listOf(ctx context.Context, subjectRef string) ([]*Registration, error) {
	rows, err := s.db.RegistrationsOf(ctx, subjectRef, MaxListed)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []*Registration
	for _, r := range rows {
		if seen[string(r.CertSHA256)] {
			continue // an older row of a certificate listed already
		}
		seen[string(r.CertSHA256)] = true
		out = append(out, fromRow(r))
	}
	own, err := s.db.CertificatesOfSubject(ctx, subjectRef, MaxListed)
	if err != nil {
		return nil, err
	}
	now := s.now()
	for _, c := range own {
		cert, err := x509.ParseCertificate(c.DER)
		if err != nil || seen[string(Fingerprint(cert))] {
			continue
		}
		st := string(ca.StatusAt(c, now))
		out = append(out, &Registration{ID: signetID(c.Serial), SubjectRef: c.SubjectRef, Serial: c.Serial, Issuer: cert.Issuer.String(),
			Subject: c.SubjectDN, TrustCA: SignetCA, Status: st, NotBefore: c.NotBefore, NotAfter: c.NotAfter,
			CheckedAt: now, CheckStatus: st, CheckSource: "signet", CreatedAt: c.CreatedAt, DER: c.DER, Implicit: true})
	}
	return out, nil
}

// SignedIn is a registered other-CA certificate that may sign in.
type SignedIn struct {
	RegistrationID, SubjectRef, TrustCA, Serial string
	NotAfter                                    time.Time
}

// SignIn judges a certificate at sign-in with one read of its registration.
// A certificate with no registration that chains to no listed CA is left
// to Signet's own records (TrustCA SignetCA, RegistrationID SignetCA, no
// SubjectRef): the caller reads the certificate anyway. Another CA's must
// be within its validity, on the trust list, registered and active here,
// and good at its CA now (the checker caches answers by their own times).
// A revocation found here is recorded on the registration at once.
func (s *Service) SignIn(ctx context.Context, cert *x509.Certificate, now time.Time) (*SignedIn, error) {
	serial := cert.SerialNumber.Text(16)
	row, err := s.db.LatestRegistration(ctx, Fingerprint(cert))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if row != nil && row.TrustCA == SignetCA {
		// Its status is Signet's own record, which the caller judges
		// (package login, in the transaction that spends the challenge).
		if rerr := refusalFor(row.Status, serial, row.Reason); rerr != nil {
			return nil, rerr
		}
		return &SignedIn{RegistrationID: row.ID, SubjectRef: row.SubjectRef, TrustCA: SignetCA, Serial: serial, NotAfter: row.NotAfter}, nil
	}
	if rerr := checkPeriod(cert, now); rerr != nil {
		return nil, rerr
	}
	name, issuer, err := s.trust.Chain(cert, nil, now)
	if err != nil {
		if row != nil {
			return nil, untrusted(cert) // its CA left the trust list
		}
		return &SignedIn{RegistrationID: SignetCA, TrustCA: SignetCA, Serial: serial}, nil
	}
	if row == nil {
		return nil, ca.Refuse(ca.KindNotFound, "unregistered", "certificate %s (from %s) is not registered here: register it first with RegistrationService.Register", serial, name)
	}
	if rerr := refusalFor(row.Status, serial, row.Reason); rerr != nil {
		return nil, rerr
	}
	st, rerr := s.liveStatus(ctx, cert, issuer, name)
	if rerr != nil {
		return nil, rerr
	}
	if st.Status == "revoked" {
		if _, err := s.record(ctx, row.ID, st, now); err != nil {
			return nil, err
		}
		return nil, refusalFor(afterRevocation(st.Reason), serial, crlreason.Name(st.Reason))
	}
	if st.Status != "good" {
		return nil, statusRefusal(cert, name, st)
	}
	return &SignedIn{RegistrationID: row.ID, SubjectRef: row.SubjectRef, TrustCA: name, Serial: serial, NotAfter: row.NotAfter}, nil
}

// record writes a status change found at the CA on an active registration,
// with its audit event; changed is false if it was no longer active.
func (s *Service) record(ctx context.Context, id string, st Status, now time.Time) (changed bool, err error) {
	// What the CA said is recorded even if the caller has gone away.
	ctx = context.WithoutCancel(ctx)
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		row, err := tx.RegistrationForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if row.Status != StatusActive {
			return nil
		}
		from := row.Status
		row.CheckedAt, row.CheckStatus, row.CheckSource, row.UpdatedAt = now.UTC(), st.Status, st.Source, now.UTC()
		switch {
		case st.Status == "revoked":
			row.Status, row.Reason = afterRevocation(st.Reason), crlreason.Name(st.Reason)
			at := st.RevokedAt.UTC()
			row.RevokedAt = &at
		case st.Status == "expired":
			row.Status, row.Reason = StatusExpired, "notAfter passed"
		default:
			return tx.SetRegistrationStatus(ctx, row)
		}
		if err := tx.SetRegistrationStatus(ctx, row); err != nil {
			return err
		}
		changed = true
		details := map[string]any{"registration_id": row.ID, "from": from, "to": row.Status, "trust_ca": row.TrustCA}
		if st.Source != "" {
			details["source"] = st.Source
		}
		if row.RevokedAt != nil {
			details["revoked_at"] = row.RevokedAt.Format(time.RFC3339)
			details["ca_reason"] = row.Reason
		}
		return tx.AppendAudit(ctx, &store.AuditEvent{At: now.UTC(), Actor: "signet", Action: "registration_status", Outcome: "ok",
			Serial: row.Serial, SubjectRef: row.SubjectRef, Details: details})
	})
	return changed, err
}

// RecheckBatch is how many registrations one recheck transaction looks at.
const RecheckBatch = 100

// Recheck asks the CAs about active registrations not checked for
// RecheckAfter, in batches, and records every change (revoked at its CA,
// replaced, expired). It returns how many registrations changed.
func (s *Service) Recheck(ctx context.Context) (int, error) {
	changed := 0
	now := s.now()
	for {
		rows, err := s.db.RegistrationsToCheck(ctx, now.Add(-s.recheckAfter), RecheckBatch)
		if err != nil {
			return changed, err
		}
		for _, row := range rows {
			if ctx.Err() != nil {
				return changed, ctx.Err()
			}
			st := s.recheckOne(ctx, row, now)
			ok, err := s.record(ctx, row.ID, st, now)
			if err != nil {
				return changed, err
			}
			if ok {
				changed++
			}
		}
		if len(rows) < RecheckBatch {
			return changed, nil
		}
	}
}

// recheckOne is one registration's status now. What cannot be asked is
// recorded as checked (status "unreachable" or "untrusted") so that the
// batch moves on; sign-in still asks the CA live.
func (s *Service) recheckOne(ctx context.Context, row *store.Registration, now time.Time) Status {
	if !now.Before(row.NotAfter) {
		return Status{Status: "expired"}
	}
	cert, err := x509.ParseCertificate(row.DER)
	if err != nil {
		return Status{Status: "unreadable"}
	}
	if row.TrustCA == SignetCA {
		own, err := s.signetCertificate(ctx, cert)
		if err != nil || own == nil {
			return Status{Status: "unknown", Source: "signet"}
		}
		switch ca.StatusAt(own, now) {
		case ca.Revoked:
			reason := 0
			if own.RevocationReason != nil {
				reason = *own.RevocationReason
			}
			at := now
			if own.RevokedAt != nil {
				at = *own.RevokedAt
			}
			return Status{Status: "revoked", Reason: reason, RevokedAt: at, Source: "signet"}
		case ca.Expired:
			return Status{Status: "expired", Source: "signet"}
		}
		return Status{Status: "good", Source: "signet"}
	}
	_, issuer, err := s.trust.Chain(cert, nil, now)
	if err != nil {
		return Status{Status: "untrusted"}
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := s.status.Check(cctx, cert, issuer)
	if err != nil {
		s.log.WarnContext(ctx, "recheck a registration's status at its CA", "registration", row.ID, "trust_ca", row.TrustCA, "err", err)
		return Status{Status: "unreachable"}
	}
	return st
}

// RunRecheck re-checks registrations every interval until ctx ends; the
// caller runs it on the one replica that leads the recheck.
func (s *Service) RunRecheck(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := s.Recheck(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "recheck registrations", "err", err)
		} else if n > 0 {
			s.log.InfoContext(ctx, "registrations changed at their CAs", "changed", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// String names a registration for logs: never personal data.
func (r *Registration) String() string {
	return fmt.Sprintf("registration %s (%s, %s)", r.ID, r.Serial, r.Status)
}
