package server

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.step.sm/crypto/pemutil"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/ca/registration"
	"github.com/signet-ca/signet/ca/revcheck"
	"github.com/signet-ca/signet/metrics"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
	"github.com/signet-ca/signet/store"
)

// OtherCAConfig is one entry of the trust list of other joint-certificate
// CAs whose certificates may be registered (otherCAs in the file).
type OtherCAConfig struct {
	Name string `json:"name"`
	// Roots and Intermediates are PEM files of one or more certificates.
	Roots         string `json:"roots"`
	Intermediates string `json:"intermediates,omitempty"`
}

// DevOtherCA is the dev "other bank's CA" (signetd --dev only): its gRPC
// service, its CRL and OCSP handler for /otherca/, and its trust entry.
type DevOtherCA struct {
	Service signetv1.DevOtherCAServiceServer
	Handler http.Handler
	Trust   registration.TrustedCA
}

// trustList reads and checks the configured other CAs, plus the dev one.
func (c *Config) trustList(now time.Time) (*registration.TrustList, error) {
	var cas []registration.TrustedCA
	for i, o := range c.OtherCAs {
		if o.Name == "" || o.Roots == "" {
			return nil, fmt.Errorf("config: otherCAs[%d] needs a name and a roots PEM file", i)
		}
		t := registration.TrustedCA{Name: o.Name}
		var err error
		if t.Roots, err = pemutil.ReadCertificateBundle(o.Roots); err != nil {
			return nil, fmt.Errorf("config: otherCAs %q roots: %w", o.Name, err)
		}
		if o.Intermediates != "" {
			if t.Intermediates, err = pemutil.ReadCertificateBundle(o.Intermediates); err != nil {
				return nil, fmt.Errorf("config: otherCAs %q intermediates: %w", o.Name, err)
			}
		}
		cas = append(cas, t)
	}
	if c.Dev != nil && c.Dev.OtherCA != nil {
		cas = append(cas, c.Dev.OtherCA.Trust)
	}
	return registration.NewTrustList(cas, now)
}

// statusChecker adapts package revcheck to the registration core and
// counts each answer.
type statusChecker struct {
	c       *revcheck.Checker
	observe func(source, outcome string)
}

func (s statusChecker) Check(ctx context.Context, cert, issuer *x509.Certificate) (registration.Status, error) {
	r, err := s.c.Check(ctx, cert, issuer)
	switch {
	case errors.Is(err, revcheck.ErrNoStatusSource):
		s.observe("", "no_source")
		return registration.Status{}, fmt.Errorf("%w: %v", registration.ErrNoStatusSource, err)
	case errors.Is(err, revcheck.ErrUnreachable), errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		s.observe("", "unreachable")
		return registration.Status{}, fmt.Errorf("%w: %v", registration.ErrUnreachable, err)
	case err != nil:
		s.observe("", "error")
		return registration.Status{}, err
	}
	s.observe(r.Source, string(r.Status))
	return registration.Status{Status: string(r.Status), RevokedAt: r.RevokedAt, Reason: r.Reason, Source: r.Source, URL: r.URL}, nil
}

// registrationService is RegistrationService: a thin mapping onto
// package registration.
type registrationService struct {
	signetv1.UnimplementedRegistrationServiceServer
	regs *registration.Service
	log  *slog.Logger
}

var registrationPurposes = map[signetv1.RegistrationPurpose]string{
	signetv1.RegistrationPurpose_REGISTRATION_PURPOSE_REGISTER:   ca.PurposeRegister,
	signetv1.RegistrationPurpose_REGISTRATION_PURPOSE_UNREGISTER: ca.PurposeUnregister,
	signetv1.RegistrationPurpose_REGISTRATION_PURPOSE_LIST:       ca.PurposeRegistrations,
}

func (s *registrationService) StartRegistration(ctx context.Context, req *signetv1.StartRegistrationRequest) (*signetv1.StartRegistrationResponse, error) {
	e, err := s.regs.Challenge(ctx, registrationPurposes[req.GetPurpose()], actor(ctx))
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &signetv1.StartRegistrationResponse{ChallengeId: e.ID, Nonce: e.Nonce, Audience: e.Audience, ExpiresAt: timestamppb.New(e.ExpiresAt)}, nil
}

func evidenceOf(e *signetv1.IdentityEvidence) ca.Evidence {
	return ca.Evidence{PhoneToken: e.GetPhoneToken(), AccountToken: e.GetAccountToken()}
}

func (s *registrationService) Register(ctx context.Context, req *signetv1.RegisterRequest) (*signetv1.RegisterResponse, error) {
	r, err := s.regs.Register(ctx, registration.RegisterRequest{RequestID: req.GetRequestId(), ChallengeID: req.GetChallengeId(), Proof: req.GetProof(),
		Evidence: evidenceOf(req.GetEvidence()), IDN: req.GetHolderIdentity().GetIdn(), R: req.GetHolderIdentity().GetRandomNum(),
		Chain: req.GetChain(), Actor: actor(ctx)})
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &signetv1.RegisterResponse{Registration: registrationProto(r)}, nil
}

func (s *registrationService) Unregister(ctx context.Context, req *signetv1.UnregisterRequest) (*signetv1.UnregisterResponse, error) {
	r, err := s.regs.Unregister(ctx, registration.UnregisterRequest{ChallengeID: req.GetChallengeId(), Proof: req.GetProof(),
		Evidence: evidenceOf(req.GetEvidence()), RegistrationID: req.GetRegistrationId(), Reason: req.GetReason(), Actor: actor(ctx)})
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &signetv1.UnregisterResponse{Registration: registrationProto(r)}, nil
}

func (s *registrationService) ListRegistrations(ctx context.Context, req *signetv1.ListRegistrationsRequest) (*signetv1.ListRegistrationsResponse, error) {
	rs, err := s.regs.List(ctx, registration.ListRequest{ChallengeID: req.GetChallengeId(), Proof: req.GetProof(),
		Evidence: evidenceOf(req.GetEvidence()), Actor: actor(ctx)})
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	out := &signetv1.ListRegistrationsResponse{}
	for _, r := range rs {
		out.Registrations = append(out.Registrations, registrationProto(r))
	}
	return out, nil
}

// registrationAdminService is RegistrationAdminService on the admin
// listener, behind adminAuth (mutual TLS, role, audit).
type registrationAdminService struct {
	signetv1.UnimplementedRegistrationAdminServiceServer
	regs *registration.Service
	log  *slog.Logger
}

func (s *registrationAdminService) AdminUnregister(ctx context.Context, req *signetv1.AdminUnregisterRequest) (*signetv1.AdminUnregisterResponse, error) {
	r, err := s.regs.AdminUnregister(ctx, req.GetRegistrationId(), req.GetReason(), req.GetComment(), identityFrom(ctx).Actor())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &signetv1.AdminUnregisterResponse{Registration: registrationProto(r)}, nil
}

func registrationProto(r *registration.Registration) *signetv1.Registration {
	return &signetv1.Registration{RegistrationId: r.ID, Serial: r.Serial, Issuer: r.Issuer, Subject: r.Subject, TrustCa: r.TrustCA,
		Status: r.Status, Reason: r.Reason, NotBefore: timestamppb.New(r.NotBefore), NotAfter: timestamppb.New(r.NotAfter),
		RegisteredAt: timestamppb.New(r.CreatedAt), CheckedAt: timestamppb.New(r.CheckedAt), CheckStatus: r.CheckStatus,
		CheckSource: r.CheckSource, Der: r.DER}
}

// runRecheck re-checks registered certificates at their CAs on the one
// replica that leads the recheck.
func (b *Built) runRecheck(ctx context.Context) {
	if b.Registrations == nil {
		return
	}
	l := &store.Leadership{Name: "registration recheck", Retry: store.LeaderRetry, Log: b.log,
		Try: func(ctx context.Context) (*store.LeaderLock, error) {
			return b.DB.TryRegistrationRecheck(ctx, store.LeaderRetry)
		}}
	l.Run(ctx, func(ctx context.Context, lock *store.LeaderLock) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-lock.Lost():
				cancel()
			case <-ctx.Done():
			}
		}()
		// A quarter of the recheck age, so that a registration is asked
		// again about recheckEvery after its last check, not up to twice that.
		b.Registrations.RunRecheck(ctx, max(b.recheckEvery/4, time.Second))
	})
}

// newRegistrations wires the registration core: the trust list (checked
// now, so that a bad otherCAs entry stops the start), live status through
// revcheck, and the recheck schedule.
func newRegistrations(c *Config, a *ca.Authority, db *store.DB, now func() time.Time, log *slog.Logger, m *metrics.Metrics) (*registration.Service, error) {
	trust, err := c.trustList(now())
	if err != nil {
		return nil, err
	}
	if c.RegistrationRecheck <= 0 {
		c.RegistrationRecheck = Duration(time.Hour)
	}
	checker := revcheck.New(revcheck.Options{Timeout: c.StatusTimeout.Duration(), Now: now})
	return registration.New(registration.Options{Authority: a, DB: db, Trust: trust, Status: statusChecker{c: checker, observe: m.OtherCAStatus},
		Now: now, Log: log, RecheckAfter: c.RegistrationRecheck.Duration()})
}
