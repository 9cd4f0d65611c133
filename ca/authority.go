// Package ca is Signet's domain core: profiles, key and evidence policy, the
// life cycle rules of DESIGN.md, and signing through a smallstep CAS. It
// speaks neither gRPC nor SQL; it decides, and records each decision through
// package store in one transaction.
package ca

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/google/uuid"

	"github.com/signet-ca/signet/ca/evidence"
	"github.com/signet-ca/signet/ca/signer"
	"github.com/signet-ca/signet/store"
)

// Config is the policy part of Signet's configuration.
type Config struct {
	// Audience is this Signet's name in evidence "aud" and proof "aud".
	Audience string
	// SubjectKey is the HMAC key that turns a CI into a subject_ref; it
	// must be at least 32 bytes and stay stable for the database's life.
	SubjectKey []byte
	// Organization is the O= of subscriber subjects and the NPKI folder's CA name.
	Organization string
	Profiles     []*Profile
	// CRLBaseURL and OCSPURL go into issued certificates (CRL DP and AIA).
	// CRLBaseURL + "/<issuer-id>.crl" is the distribution point.
	CRLBaseURL string
	OCSPURL    string
	// IssuerURL, if set, is the caIssuers AIA entry.
	IssuerURL string
	// RecoverAfter is how long a signature reservation may stay open before
	// recovery marks it abandoned (0: AbandonAfter).
	RecoverAfter time.Duration
	// SubjectLimit bounds each subject's identity-checked requests (off
	// when Max is 0); the count is kept by the Store if it is a
	// SubjectCounter.
	SubjectLimit SubjectLimit
	// Observer is told how each request ended and how long each CA
	// signature took (package metrics); nil: nobody.
	Observer Observer
}

// Observer receives the life cycle's outcomes. action is the audit
// action (issue, reissue, renew, revoke, ...), profile a configured
// profile's name or "" when the request named none or an unknown one, and
// outcome "ok", "refused" or "error": labels with a bounded set of values.
type Observer interface {
	Outcome(action, profile, outcome string)
	Signed(took time.Duration, err error)
}

type noObserver struct{}

func (noObserver) Outcome(string, string, string) {}
func (noObserver) Signed(time.Duration, error)    {}

// EnrollmentTTL is how long a nonce stays usable: evidence is fresh for 10
// minutes (DESIGN.md "Identity evidence"), and so is the enrollment.
const EnrollmentTTL = 10 * time.Minute

// Store is what the core needs of the database, declared here by its
// consumer (Boulder's narrow interfaces); *store.DB implements it. The
// rules are tested against a real PostgreSQL, never a fake: the interface
// names the dependency, it is not a seam for mocks.
type Store interface {
	InTx(ctx context.Context, fn func(*store.Tx) error) error
	Enrollment(ctx context.Context, id string) (*store.Enrollment, error)
	CreateEnrollment(ctx context.Context, e *store.Enrollment) error
	CertificateBySerial(ctx context.Context, serial string) (*store.Certificate, error)
	Deliver(ctx context.Context, d *store.Delivery) error
	AbandonOpenSignatures(ctx context.Context, olderThan time.Duration, now time.Time, limit int) (int, error)
}

var _ Store = (*store.DB)(nil)

// Authority runs the certificate life cycle.
type Authority struct {
	cfg      Config
	db       Store
	signer   *signer.Signer
	verifier *evidence.Verifier
	profiles map[string]*Profile
	now      func() time.Time
	log      *slog.Logger
	subjects SubjectCounter // nil: no per-subject limit
}

// New checks the configuration and wires the core.
func New(cfg Config, db Store, signer *signer.Signer, verifier *evidence.Verifier, now func() time.Time, log *slog.Logger) (*Authority, error) {
	switch {
	case db == nil || signer == nil || verifier == nil || now == nil:
		return nil, errors.New("ca: database, signer, evidence verifier and clock are all required")
	case cfg.Audience == "":
		return nil, errors.New("ca: audience is required")
	case len(cfg.SubjectKey) < 32:
		return nil, errors.New("ca: subject key must be at least 32 bytes")
	case cfg.Organization == "":
		return nil, errors.New("ca: organization is required")
	case len(cfg.Profiles) == 0:
		return nil, errors.New("ca: at least one profile is required")
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	a := &Authority{cfg: cfg, db: db, signer: signer, verifier: verifier, profiles: map[string]*Profile{}, now: now, log: log}
	a.subjects, _ = db.(SubjectCounter)
	for _, p := range cfg.Profiles {
		if err := p.Validate(); err != nil {
			return nil, err
		}
		if _, dup := a.profiles[p.Name]; dup {
			return nil, fmt.Errorf("ca: profile %s defined twice", p.Name)
		}
		a.profiles[p.Name] = p
	}
	return a, nil
}

// Audience returns the name evidence and proofs must be addressed to.
func (a *Authority) Audience() string { return a.cfg.Audience }

// Organization returns the CA name used in subjects and NPKI folders.
func (a *Authority) Organization() string { return a.cfg.Organization }

// Signer returns the issuing CA.
func (a *Authority) Signer() *signer.Signer { return a.signer }

// Now is the authority's clock, for readers that judge status as of now
// (effective status, expiring windows) by the same clock as the rules.
func (a *Authority) Now() time.Time { return a.now() }

// Profile returns a configured profile.
func (a *Authority) Profile(name string) (*Profile, *Error) {
	p, ok := a.profiles[name]
	if !ok {
		return nil, refuse(KindInvalid, "unknown_profile", "unknown profile %q: use one of %s", name, a.profileNames())
	}
	return p, nil
}

func (a *Authority) profileNames() string {
	var s string
	for _, p := range a.cfg.Profiles {
		if s != "" {
			s += ", "
		}
		s += p.Name
	}
	return s
}

// Enrollment is a started enrollment as returned to the client.
type Enrollment struct {
	ID        string
	Nonce     string
	ExpiresAt time.Time
	Audience  string
}

// Purposes an enrollment may authorize.
const (
	PurposeIssue   = "issue"
	PurposeReissue = "reissue"
	PurposeRevoke  = "revoke"
	PurposeSuspend = "suspend"
	PurposeResume  = "resume"
)

// StartEnrollment hands out a nonce that the identity providers must bind
// their evidence to, so that evidence cannot be replayed into another
// request.
func (a *Authority) StartEnrollment(ctx context.Context, profile, purpose, actor string) (*Enrollment, error) {
	if _, rerr := a.Profile(profile); rerr != nil {
		a.auditRefusal(ctx, &attempt{action: "start_enrollment", actor: actor, profile: profile}, rerr)
		return nil, rerr
	}
	switch purpose {
	case PurposeIssue, PurposeReissue, PurposeRevoke, PurposeSuspend, PurposeResume:
	default:
		rerr := refuse(KindInvalid, "bad_purpose", "purpose is required: one of issue, reissue, revoke, suspend or resume (ENROLLMENT_PURPOSE_ISSUE, _REISSUE, _REVOKE, _SUSPEND, _RESUME)")
		a.auditRefusal(ctx, &attempt{action: "start_enrollment", actor: actor, profile: profile}, rerr)
		return nil, rerr
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, err
	}
	now := a.now().UTC()
	e := &store.Enrollment{
		ID: uuid.NewString(), Nonce: base64.RawURLEncoding.EncodeToString(raw[:]),
		Purpose: purpose, Profile: profile, CreatedAt: now, ExpiresAt: now.Add(EnrollmentTTL),
	}
	if err := a.db.CreateEnrollment(ctx, e); err != nil {
		return nil, err
	}
	return &Enrollment{ID: e.ID, Nonce: e.Nonce, ExpiresAt: e.ExpiresAt, Audience: a.cfg.Audience}, nil
}

// Record is a certificate as the core reports it, with its effective
// status. It is its own type, not a store row: the answer says what the
// rules decided, in the core's terms.
type Record struct {
	Serial    string
	Profile   string
	SubjectDN string
	Status    Status
	NotBefore time.Time
	NotAfter  time.Time
	// RevokedAt and RevocationReason are set for a revoked or suspended
	// certificate (RFC 5280 reason codes).
	RevokedAt        *time.Time
	RevocationReason *int
	Replaces         string
	ReplacedBy       string
	DER              []byte
	Chain            []*x509.Certificate
	// ReplacedSerial is the certificate this request's reissue or renewal
	// superseded.
	ReplacedSerial string
}

func (a *Authority) record(c *store.Certificate, replaced string) *Record {
	return &Record{
		Serial: c.Serial, Profile: c.Profile, SubjectDN: c.SubjectDN, Status: StatusAt(c, a.now()),
		NotBefore: c.NotBefore, NotAfter: c.NotAfter, RevokedAt: c.RevokedAt, RevocationReason: c.RevocationReason,
		Replaces: c.Replaces, ReplacedBy: c.ReplacedBy, DER: c.DER, Chain: a.signer.Chain(), ReplacedSerial: replaced,
	}
}

// Record reports a stored certificate with its effective status.
func (a *Authority) Record(c *store.Certificate) *Record { return a.record(c, "") }

// SubjectRefOf turns a CI into the subject_ref it is stored under, so that
// an auditor can find a person's certificates without Signet keeping CIs.
func (a *Authority) SubjectRefOf(ci string) (string, error) {
	if err := evidence.ValidCI(ci); err != nil {
		return "", refuse(KindInvalid, "bad_ci", "ci: %v", err)
	}
	return evidence.SubjectRef(a.cfg.SubjectKey, ci)
}

// GetCertificate returns a certificate by serial.
func (a *Authority) GetCertificate(ctx context.Context, serial string) (*Record, error) {
	serial = normalizeSerial(serial)
	if !serialPattern.MatchString(serial) {
		return nil, refuse(KindInvalid, "bad_serial", "serial %q is not lower-case hex: give the serial as printed by `signet status`", serial)
	}
	c, err := a.db.CertificateBySerial(ctx, serial)
	if errors.Is(err, store.ErrNotFound) {
		return nil, refuse(KindNotFound, "unknown_serial", "no certificate with serial %s", serial)
	}
	if err != nil {
		return nil, err
	}
	return a.record(c, ""), nil
}

var (
	serialPattern    = regexp.MustCompile(`^[0-9a-f]{1,64}$`)
	requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{8,128}$`)
)

// attempt collects what is known about a mutating call so that a refusal
// can be audited with as much context as was established.
type attempt struct {
	action     string
	actor      string
	requestID  string
	serial     string
	subjectRef string
	profile    string
	details    map[string]any
	hash       []byte // of the request, for request-id replays
}

// result is what a request id remembers (DESIGN.md invariant 6): the
// serials, not the bytes, so that a retry sees the certificate's current
// status.
type result struct {
	Serial   string `json:"serial"`
	Replaced string `json:"replaced,omitempty"`
}

func requestHash(method string, parts ...[]byte) []byte {
	h := sha256.New()
	h.Write([]byte(method))
	for _, p := range parts {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	return h.Sum(nil)
}

func checkRequestID(id string) *Error {
	if !requestIDPattern.MatchString(id) {
		return refuse(KindInvalid, "bad_request_id",
			"request_id must be 8 to 128 characters of letters, digits and . _ : - (a UUID is ideal); retries must reuse it")
	}
	return nil
}

// replay returns the first answer to a request id, or nil if there is none.
// Callers hold the lock that serializes retries of one request.
func (a *Authority) replay(ctx context.Context, tx *store.Tx, requestID, method string, hash []byte) (*Record, error) {
	stored, err := tx.StoredResponse(ctx, requestID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return a.replayStored(ctx, tx, stored, method, hash)
}

// replayStored is the first answer to a request id, or request_id_reused
// if the id answered another request.
func (a *Authority) replayStored(ctx context.Context, tx *store.Tx, stored *store.StoredResponse, method string, hash []byte) (*Record, error) {
	if stored.Method != method || string(stored.RequestHash) != string(hash) {
		return nil, requestIDReused()
	}
	var r result
	if err := json.Unmarshal(stored.Response, &r); err != nil {
		return nil, err
	}
	// Read through tx: a second pool connection while holding this one
	// could exhaust the pool under contention and deadlock.
	c, err := tx.CertificateBySerial(ctx, r.Serial)
	if err != nil {
		return nil, err
	}
	return a.record(c, r.Replaced), nil
}

// requestIDReused refuses a request whose id already answered another.
func requestIDReused() *Error {
	return refuse(KindConflict, "request_id_reused",
		"request_id was already used for a different request: generate a new request_id for a new request")
}

// saveResult stores the answer to requestID. Its callers hold the request
// id's lock and found no answer under it, so an id recorded meanwhile was
// recorded by a delivery, which takes no such lock: an issuance, renewal
// or reissue, that is another request.
func (a *Authority) saveResult(ctx context.Context, tx *store.Tx, requestID, method string, hash []byte, r result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	err = tx.SaveResponse(ctx, requestID, &store.StoredResponse{Method: method, RequestHash: hash, Response: b})
	if errors.Is(err, store.ErrDuplicateRequest) {
		return requestIDReused()
	}
	return err
}

// run executes one state change. A refusal rolls everything back and is
// then audited on its own, so that a refused attempt leaves exactly one
// trace (DESIGN.md invariant 2) and spends no evidence.
func (a *Authority) run(ctx context.Context, at *attempt, fn func(tx *store.Tx) error) error {
	// A subject known before any lock is one whose evidence was verified:
	// its attempts count against its limit (issue 8 item 11).
	if rl := a.limitSubject(ctx, at); rl != nil {
		a.auditRefusal(ctx, at, rl.Refusal)
		return rl
	}
	err := a.db.InTx(ctx, fn)
	if err == nil {
		return nil
	}
	rerr, ok := AsError(err)
	if !ok {
		a.log.Error("state change failed", "action", at.action, "request_id", at.requestID, "err", err)
		a.observe(at, "error")
		return err
	}
	a.auditRefusal(ctx, at, rerr)
	return rerr
}

func (a *Authority) auditRefusal(ctx context.Context, at *attempt, rerr *Error) {
	a.observe(at, "refused")
	// The refusal is recorded even if the caller has gone away.
	ctx = context.WithoutCancel(ctx)
	err := a.db.InTx(ctx, func(tx *store.Tx) error {
		return tx.AppendAudit(ctx, at.event(a.now(), "refused", rerr))
	})
	if err != nil {
		a.log.Error("audit refusal", "action", at.action, "err", err)
	}
}

// observe reports how an attempt ended, with its profile only if it is
// one of ours: a request may name any string.
func (a *Authority) observe(at *attempt, outcome string) {
	profile := at.profile
	if _, ok := a.profiles[profile]; !ok {
		profile = ""
	}
	a.cfg.Observer.Outcome(at.action, profile, outcome)
}

// AuditAdmin records one admin API call, reads included, with the staff
// member as actor (issue "Admin audit": every admin call is audited).
func (a *Authority) AuditAdmin(ctx context.Context, actor, method, outcome, reason string, details map[string]any) error {
	ev := &store.AuditEvent{At: a.now().UTC(), Actor: actor, Action: "admin:" + method, Outcome: outcome, Reason: reason, Details: details}
	if s, ok := details["serial"].(string); ok {
		ev.Serial = s
	}
	return a.db.InTx(context.WithoutCancel(ctx), func(tx *store.Tx) error { return tx.AppendAudit(ctx, ev) })
}

// AuditTransportRefusal records a call that gRPC refused before any
// handler ran, such as an oversized message, so that even those attempts
// leave a trace.
func (a *Authority) AuditTransportRefusal(ctx context.Context, method, actor, reason, msg string) {
	at := &attempt{action: method, actor: actor}
	a.auditRefusal(ctx, at, &Error{Kind: KindInvalid, Reason: reason, Msg: msg})
}

// AuditEdgeRefusal records a refusal made at the edge, before the core
// ran (a malformed field, a missing authorization, a rate limit, an admin
// certificate without a valid role): every refused attempt leaves one
// trace (DESIGN.md invariant 2), whoever refused it.
func (a *Authority) AuditEdgeRefusal(ctx context.Context, action, actor, requestID string, rerr *Error, details map[string]any) {
	a.auditRefusal(ctx, &attempt{action: action, actor: actor, requestID: requestID, details: details}, rerr)
}

func (at *attempt) event(now time.Time, outcome string, rerr *Error) *store.AuditEvent {
	ev := &store.AuditEvent{
		At: now.UTC(), Actor: at.actor, Action: at.action, Outcome: outcome, Serial: at.serial,
		SubjectRef: at.subjectRef, Profile: at.profile, RequestID: at.requestID, Details: at.details,
	}
	if rerr != nil {
		ev.Code = kindName(rerr.Kind)
		ev.Reason = rerr.Reason
		if ev.Details == nil {
			ev.Details = map[string]any{}
		}
		ev.Details["message"] = rerr.Msg
	}
	return ev
}

func kindName(k Kind) string {
	names := [...]string{"internal", "invalid", "not_found", "conflict", "precondition", "unauthorized", "forbidden"}
	switch {
	case k == KindExhausted:
		return "resource_exhausted"
	case k == KindUnavailable:
		return "unavailable"
	case int(k) >= 0 && int(k) < len(names):
		return names[k]
	}
	return fmt.Sprintf("kind_%d", k)
}

func (at *attempt) detail(k string, v any) {
	if at.details == nil {
		at.details = map[string]any{}
	}
	at.details[k] = v
}
