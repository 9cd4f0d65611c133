// Package login is signing in with a certificate (인증서 로그인 / 전자서명
// 확인): a bank's app asks for a single-use challenge, the device signs it
// with the certificate's key, and Signet answers who it is or why not. It
// is what a relying bank calls on every login, so every verification is
// audited.
package login

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/ca/proof"
	"github.com/signet-ca/signet/ca/registration"
	"github.com/signet-ca/signet/store"
)

// Method is the gRPC method a sign-in proof is bound to, so that a renewal
// or revocation proof is never accepted as a sign-in, nor the reverse.
const Method = "/signet.v1.AuthenticationService/Verify"

// ChallengeTTL is how long a challenge may be answered: long enough for a
// person to type a certificate password, short enough that a captured one
// is useless soon.
const ChallengeTTL = 2 * time.Minute

// Store is what sign-in needs of the database (*store.DB).
type Store interface {
	InTx(ctx context.Context, fn func(*store.Tx) error) error
	CreateLoginChallenge(ctx context.Context, c *store.LoginChallenge) error
	PurgeLoginChallenges(ctx context.Context, cutoff time.Time, limit int) (int64, error)
}

var _ Store = (*store.DB)(nil)

// Service answers sign-ins.
type Service struct {
	db       Store
	audience string
	now      func() time.Time
	log      *slog.Logger
	// regs judges registered certificates (other CAs' and the ended
	// registrations of Signet's own); nil: Signet's own certificates only.
	regs *registration.Service
}

// WithRegistrations lets registered other-CA certificates sign in.
func (s *Service) WithRegistrations(r *registration.Service) { s.regs = r }

// New returns a Service for proofs addressed to audience.
func New(db Store, audience string, now func() time.Time, log *slog.Logger) (*Service, error) {
	if db == nil || audience == "" || now == nil {
		return nil, errors.New("login: a database, an audience and a clock are required")
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{db: db, audience: audience, now: now, log: log}, nil
}

// Challenge is what the device signs.
type Challenge struct {
	ID, Value, Audience string
	ExpiresAt           time.Time
}

// Challenge hands out a fresh challenge.
func (s *Service) Challenge(ctx context.Context) (*Challenge, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	c := &store.LoginChallenge{ID: uuid.NewString(), Challenge: base64.RawURLEncoding.EncodeToString(raw[:]),
		CreatedAt: now, ExpiresAt: now.Add(ChallengeTTL)}
	if err := s.db.CreateLoginChallenge(ctx, c); err != nil {
		return nil, err
	}
	return &Challenge{ID: c.ID, Value: c.Challenge, Audience: s.audience, ExpiresAt: c.ExpiresAt}, nil
}

// Identity is who signed in.
type Identity struct {
	SubjectRef, Serial, Profile string
	Status                      ca.Status
	NotAfter                    time.Time
	// Registration says why the certificate is accepted: "signet" for one
	// Signet issued, registered for its holder without a separate step;
	// "registered" for another CA's certificate registered here.
	Registration string
	// RegistrationID is the registration's id ("signet" when implicit),
	// TrustCA the issuing CA's trust list name, Certificate its DER.
	RegistrationID, TrustCA string
	Certificate             []byte
}

func refuse(kind ca.Kind, reason, format string, args ...any) *ca.Error {
	return &ca.Error{Kind: kind, Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// Verify checks a proof over a challenge and answers who signed it. The
// challenge is spent by the verification that accepts it.
func (s *Service) Verify(ctx context.Context, challengeID, token, actor string) (*Identity, error) {
	ev := &store.AuditEvent{Actor: actor, Action: "login", Details: map[string]any{"challenge_id": challengeID}}
	var out *Identity
	err := s.verify(ctx, challengeID, token, ev, &out)
	if err == nil {
		return out, nil
	}
	rerr, ok := ca.AsError(err)
	if !ok {
		s.log.Error("login failed", "err", err)
		return nil, err
	}
	ev.At, ev.Outcome, ev.Code, ev.Reason = s.now().UTC(), "refused", rerr.Kind.Name(), rerr.Reason
	ev.Details["message"] = rerr.Msg
	if aerr := s.db.InTx(context.WithoutCancel(ctx), func(tx *store.Tx) error { return tx.AppendAudit(ctx, ev) }); aerr != nil {
		s.log.Error("audit a refused login", "err", aerr)
	}
	return nil, rerr
}

func (s *Service) verify(ctx context.Context, challengeID, token string, ev *store.AuditEvent, out **Identity) error {
	if _, err := uuid.Parse(challengeID); err != nil {
		return refuse(ca.KindInvalid, "bad_challenge_id", "challenge_id is not a UUID: call Challenge first")
	}
	now := s.now()
	p, err := proof.Verify(token, s.audience, Method, now)
	if err != nil {
		return refuse(ca.KindUnauthorized, "bad_signature", "the signature over the challenge does not verify: %v", err)
	}
	ev.Serial = p.Claims.Serial
	regID := registration.SignetCA
	var other *registration.SignedIn
	if s.regs != nil {
		// Before the transaction: another CA's status may take an HTTP
		// fetch (cached), which must not hold the challenge's lock.
		in, err := s.regs.SignIn(ctx, p.Certificate, now)
		if err != nil {
			return err
		}
		ev.SubjectRef = in.SubjectRef
		ev.Details["registration_id"], ev.Details["trust_ca"] = in.RegistrationID, in.TrustCA
		if in.TrustCA == registration.SignetCA {
			regID = in.RegistrationID
		} else {
			other = in
		}
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		ch, err := tx.LoginChallenge(ctx, challengeID)
		if errors.Is(err, store.ErrNotFound) {
			return refuse(ca.KindNotFound, "unknown_challenge", "challenge %s does not exist (or expired long ago): call Challenge again", challengeID)
		}
		if err != nil {
			return err
		}
		switch {
		case ch.UsedAt != nil:
			return refuse(ca.KindUnauthorized, "challenge_replayed", "challenge %s was already used: every sign-in needs a new challenge", challengeID)
		case !now.Before(ch.ExpiresAt):
			return refuse(ca.KindPrecondition, "challenge_expired", "challenge %s expired at %s: call Challenge again and sign within %s", challengeID, ch.ExpiresAt.Format(time.RFC3339), ChallengeTTL)
		case p.Claims.Binding != ch.Challenge:
			return refuse(ca.KindUnauthorized, "challenge_mismatch", "the proof signs another challenge than %s: sign the challenge this call returned", challengeID)
		}
		// accept spends the challenge and audits the sign-in with it.
		accept := func(id *Identity) error {
			at := now.UTC()
			if err := tx.UseLoginChallenge(ctx, ch.ID, at); err != nil {
				return err
			}
			ev.At, ev.Outcome = at, "ok"
			if err := tx.AppendAudit(ctx, ev); err != nil {
				return err
			}
			*out = id
			return nil
		}
		if other != nil {
			return accept(&Identity{SubjectRef: other.SubjectRef, Serial: other.Serial, Status: ca.Active, NotAfter: other.NotAfter,
				Registration: "registered", RegistrationID: other.RegistrationID, TrustCA: other.TrustCA, Certificate: p.Certificate.Raw})
		}
		c, err := tx.CertificateBySerial(ctx, p.Claims.Serial)
		if s.regs != nil && (errors.Is(err, store.ErrNotFound) || err == nil && string(c.DER) != string(p.Certificate.Raw)) {
			return refuse(ca.KindForbidden, "untrusted_issuer", "certificate %s was issued by %q, which is neither this Signet nor a CA on its trust list: use a joint certificate from a listed CA", p.Claims.Serial, p.Certificate.Issuer.String())
		}
		if errors.Is(err, store.ErrNotFound) {
			return refuse(ca.KindNotFound, "unregistered", "certificate %s was not issued by this Signet and is not registered here: register it first", p.Claims.Serial)
		}
		if err != nil {
			return err
		}
		ev.SubjectRef, ev.Profile = c.SubjectRef, c.Profile
		if string(c.DER) != string(p.Certificate.Raw) {
			return refuse(ca.KindUnauthorized, "unknown_certificate", "the certificate in the proof is not the one Signet issued with serial %s", c.Serial)
		}
		switch st := ca.StatusAt(c, now); st {
		case ca.Revoked:
			return refuse(ca.KindPrecondition, "revoked", "certificate %s is revoked: it cannot sign in; issue a new certificate", c.Serial)
		case ca.Suspended:
			return refuse(ca.KindPrecondition, "suspended", "certificate %s is suspended: resume it before signing in", c.Serial)
		case ca.Expired:
			return refuse(ca.KindPrecondition, "expired", "certificate %s expired at %s: renew or issue a new certificate", c.Serial, c.NotAfter.Format(time.RFC3339))
		}
		return accept(&Identity{SubjectRef: c.SubjectRef, Serial: c.Serial, Profile: c.Profile, Status: ca.Active,
			NotAfter: c.NotAfter, Registration: "signet", RegistrationID: regID, TrustCA: registration.SignetCA, Certificate: c.DER})
	})
}

// PurgeExpired deletes challenges that expired more than a day ago, in
// batches; it returns how many.
func (s *Service) PurgeExpired(ctx context.Context) (int64, error) {
	cutoff := s.now().Add(-24 * time.Hour)
	var total int64
	for {
		n, err := s.db.PurgeLoginChallenges(ctx, cutoff, 5000)
		total += n
		if err != nil || n < 5000 {
			return total, err
		}
	}
}
