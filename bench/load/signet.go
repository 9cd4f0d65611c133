package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// signetTarget drives signetd --dev over gRPC/TLS the way cmd/signet
// enroll does (identity.go checkIdentity, enroll.go enrollOrReissue):
// StartEnrollment, the phone check, the account check, IssueCertificate.
type signetTarget struct {
	cfg     *config
	conns   []*grpc.ClientConn
	enroll  []signetv1.EnrollmentServiceClient
	dev     []signetv1.DevIdentityServiceClient
	people  []person
	csrs    [][]byte
	ready   []readyIssue // -mode issue: made by prepare
	request []string     // request ids, one per certificate
}

// readyIssue is what IssueCertificate needs besides the CSR.
type readyIssue struct {
	enrollmentID string
	evidence     *signetv1.IdentityEvidence
	holder       *signetv1.HolderIdentity
}

var _ target = (*signetTarget)(nil)

func newSignetTarget(cfg *config) (*signetTarget, error) {
	// Several replicas: -addr a,b,c. Certificate i goes to replica i mod n
	// with all of its calls (round robin per certificate): dev replicas each
	// sign evidence with their own simulated providers' keys.
	addrs := strings.Split(cfg.addr, ",")
	t := &signetTarget{cfg: cfg}
	for range cfg.conns {
		for _, addr := range addrs {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				t.close()
				return nil, fmt.Errorf("-addr %q: give host:port, e.g. 127.0.0.1:9443, or several separated by commas", addr)
			}
			tlsCfg, err := tlsConfig(cfg.caFile, host, "signetd --dev writes it as STATE_DIR/root.pem, var/signet/root.pem for `make run`")
			if err != nil {
				t.close()
				return nil, err
			}
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
			if err != nil {
				t.close()
				return nil, fmt.Errorf("-addr %s: %w", addr, err)
			}
			t.conns = append(t.conns, conn)
			t.enroll = append(t.enroll, signetv1.NewEnrollmentServiceClient(conn))
			t.dev = append(t.dev, signetv1.NewDevIdentityServiceClient(conn))
		}
	}
	// A fresh seed per run: people must not repeat earlier runs' people.
	t.people = newPeople(mrand.New(mrand.NewPCG(mrand.Uint64(), mrand.Uint64())), cfg.n)
	t.request = make([]string, cfg.n)
	for i := range t.request {
		t.request[i] = uuid.NewString()
	}
	return t, nil
}

// tlsConfig trusts only the PEM certificates in caFile, as cmd/signet does.
func tlsConfig(caFile, host, where string) (*tls.Config, error) {
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("reading the trust anchor -ca-file: %w; %s", err, where)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("-ca-file %s holds no PEM certificate; %s", caFile, where)
	}
	return &tls.Config{RootCAs: roots, ServerName: host, MinVersion: tls.VersionTLS12}, nil
}

func (t *signetTarget) close() {
	for _, c := range t.conns {
		_ = c.Close()
	}
}

func (t *signetTarget) describe(s *summary) {
	s.Target, s.Mode, s.Protocol = "signet", t.cfg.mode, "gRPC"
}

// csrTemplate is what cmd/signet sends (keys.go requestFor): CN=name; the
// CA sets the real NPKI subject from the verified identity.
func (t *signetTarget) csrTemplate(i int) *x509.CertificateRequest {
	return &x509.CertificateRequest{Subject: pkix.Name{CommonName: t.people[i].name}}
}

func (t *signetTarget) preflight(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, t.cfg.timeout)
	defer cancel()
	_, err := healthpb.NewHealthClient(t.conns[0]).Check(cctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("signetd at %s does not answer (%v): is signetd running? start it with `make run`, or give -addr and -ca-file of the one you started", t.cfg.addr, status.Convert(err).Message())
	}
	// One StartEnrollment finds a wrong profile before thousands of calls.
	_, err = t.enroll[0].StartEnrollment(cctx, &signetv1.StartEnrollmentRequest{
		Profile: t.cfg.profile, Purpose: signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_ISSUE})
	if err != nil {
		return fmt.Errorf("StartEnrollment for -profile %s: %s: %s", t.cfg.profile, status.Code(err), status.Convert(err).Message())
	}
	return nil
}

func (t *signetTarget) prepare(ctx context.Context, csrs [][]byte, stage func(string, int) *progress) error {
	t.csrs = csrs
	if t.cfg.mode != "issue" {
		return nil
	}
	// Evidence and enrollments expire 10 minutes after this (devprovider
	// TokenTTL, ca.EnrollmentTTL): made per run, right before the timer.
	t.ready = make([]readyIssue, t.cfg.n)
	p := stage("enrollments+evidence", t.cfg.n)
	err := forEach(ctx, t.cfg.n, max(t.cfg.c, 32), p, func(i int) error {
		r, err := t.identify(ctx, i)
		if err != nil {
			return err
		}
		t.ready[i] = r
		return nil
	})
	p.finish()
	return err
}

// identify is StartEnrollment and the dev phone and account checks for
// person i: five calls.
func (t *signetTarget) identify(ctx context.Context, i int) (readyIssue, error) {
	k := i % len(t.conns)
	en, dev, p := t.enroll[k], t.dev[k], &t.people[i]
	var r readyIssue
	e, err := call(ctx, t.cfg.timeout, func(ctx context.Context) (*signetv1.StartEnrollmentResponse, error) {
		return en.StartEnrollment(ctx, &signetv1.StartEnrollmentRequest{Profile: t.cfg.profile, Purpose: signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_ISSUE})
	})
	if err != nil {
		return r, step("StartEnrollment", err)
	}
	ps, err := call(ctx, t.cfg.timeout, func(ctx context.Context) (*signetv1.StartPhoneCheckResponse, error) {
		return dev.StartPhoneCheck(ctx, &signetv1.StartPhoneCheckRequest{Nonce: e.GetNonce(), Name: p.name, Birth: p.birth, Phone: p.phone, Carrier: p.carrier})
	})
	if err != nil {
		return r, step("StartPhoneCheck", err)
	}
	pc, err := call(ctx, t.cfg.timeout, func(ctx context.Context) (*signetv1.ConfirmPhoneCheckResponse, error) {
		return dev.ConfirmPhoneCheck(ctx, &signetv1.ConfirmPhoneCheckRequest{CheckId: ps.GetCheckId(), Code: ps.GetCode()})
	})
	if err != nil {
		return r, step("ConfirmPhoneCheck", err)
	}
	as, err := call(ctx, t.cfg.timeout, func(ctx context.Context) (*signetv1.StartAccountCheckResponse, error) {
		return dev.StartAccountCheck(ctx, &signetv1.StartAccountCheckRequest{Nonce: e.GetNonce(), Bank: p.bank, Account: p.account, HolderName: p.name, HolderBirth: p.birth})
	})
	if err != nil {
		return r, step("StartAccountCheck", err)
	}
	ac, err := call(ctx, t.cfg.timeout, func(ctx context.Context) (*signetv1.ConfirmAccountCheckResponse, error) {
		return dev.ConfirmAccountCheck(ctx, &signetv1.ConfirmAccountCheckRequest{CheckId: as.GetCheckId(), Code: as.GetCode()})
	})
	if err != nil {
		return r, step("ConfirmAccountCheck", err)
	}
	r.enrollmentID = e.GetEnrollmentId()
	r.evidence = &signetv1.IdentityEvidence{PhoneToken: pc.GetToken(), AccountToken: ac.GetToken()}
	tp := evidencetest.Person{Birth: p.birth}
	r.holder = &signetv1.HolderIdentity{Idn: tp.IDN(), RandomNum: tp.RandomNum()}
	return r, nil
}

func (t *signetTarget) issue(ctx context.Context, i int) error {
	var r readyIssue
	if t.cfg.mode == "issue" {
		r = t.ready[i]
	} else {
		var err error
		if r, err = t.identify(ctx, i); err != nil {
			return err
		}
	}
	en := t.enroll[i%len(t.conns)]
	resp, err := call(ctx, t.cfg.timeout, func(ctx context.Context) (*signetv1.IssueCertificateResponse, error) {
		return en.IssueCertificate(ctx, &signetv1.IssueCertificateRequest{
			RequestId: t.request[i], EnrollmentId: r.enrollmentID, Csr: t.csrs[i], Evidence: r.evidence, Holder: r.holder})
	})
	if err != nil {
		return step("IssueCertificate", err)
	}
	if len(resp.GetCertificate().GetDer()) == 0 {
		return status.Error(codes.Internal, "IssueCertificate answered without a certificate")
	}
	if t.cfg.saveCert != "" {
		firstCert.keep(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: resp.GetCertificate().GetDer()}))
	}
	return nil
}

func call[T any](ctx context.Context, timeout time.Duration, fn func(context.Context) (T, error)) (T, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return fn(cctx)
}

// step names the call that failed, keeping the gRPC status for errorCode.
func step(name string, err error) error {
	st := status.Convert(err)
	return status.Error(st.Code(), name+": "+st.Message())
}

// errorCode is the short class of a failed unit for the report: the gRPC
// code name, "HTTP nnn", "timeout" or "network".
func errorCode(err error) string {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return fmt.Sprintf("HTTP %d", he.status)
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	if st, ok := status.FromError(err); ok {
		return st.Code().String()
	}
	return "network"
}
