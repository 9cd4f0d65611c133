package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// defaultPort is signetd's gRPC port, used when --server names only a host.
const defaultPort = "9443"

// client is a TLS connection to signetd and the services a command uses.
type client struct {
	conn    *grpc.ClientConn
	enroll  signetv1.EnrollmentServiceClient
	dev     signetv1.DevIdentityServiceClient
	timeout time.Duration
}

// dial prepares a connection to --server. It is always TLS with --ca-file
// as the only trust anchor: the subscriber talks to exactly one CA, and a
// system root store would let any public CA impersonate it. grpc.NewClient
// connects on the first call, so dial fails only on local problems.
func dial(g *globals) (*client, error) {
	if g.timeout <= 0 {
		return nil, fmt.Errorf("--timeout %s: give a positive duration such as 30s", g.timeout)
	}
	addr, host, err := serverAddr(g.server)
	if err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(g.caFile)
	if err != nil {
		return nil, fmt.Errorf("reading the trust anchor (--ca-file): %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca-file %s holds no PEM certificate: give signetd's root certificate (root.pem)", g.caFile)
	}
	cfg := &tls.Config{RootCAs: roots, ServerName: host, MinVersion: tls.VersionTLS12}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		return nil, fmt.Errorf("--server %s: %w", g.server, err)
	}
	return &client{
		conn:    conn,
		enroll:  signetv1.NewEnrollmentServiceClient(conn),
		dev:     signetv1.NewDevIdentityServiceClient(conn),
		timeout: g.timeout,
	}, nil
}

func (c *client) Close() { _ = c.conn.Close() }

// serverAddr splits --server into the dial address and the TLS server name,
// adding the default port when only a host is given.
func serverAddr(server string) (addr, host string, err error) {
	if server == "" {
		return "", "", errors.New("--server is empty: give signetd's host:port, e.g. 127.0.0.1:9443")
	}
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		// No port (or a bare IPv6 address): treat the whole value as the host.
		host, port = server, defaultPort
	}
	if host == "" {
		return "", "", fmt.Errorf("--server %q has no host: give host:port, e.g. 127.0.0.1:9443", server)
	}
	return net.JoinHostPort(host, port), host, nil
}

// once makes one call with the per-call time limit. Reads and calls that
// only start something (StartEnrollment) are not retried: a retry would
// not be safe or would not help.
func once[T any](ctx context.Context, timeout time.Duration, call func(context.Context) (T, error)) (T, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return call(cctx)
}

// maxRetries is how often a mutating call is repeated after a transient
// failure. Each mutating call carries a request_id, so a repeat returns the
// first result instead of acting twice (DESIGN.md, invariant 6).
const maxRetries = 3

// retryDelay is the pause before retry n (0-based); a variable so tests
// need not sleep.
var retryDelay = func(n int) time.Duration { return 500 * time.Millisecond << n }

// retry makes a mutating call and repeats it, unchanged, when the answer was
// lost in transit (Unavailable) or came too late (DeadlineExceeded): in both
// cases the server may or may not have acted, and only a repeat with the
// same request_id finds out safely.
func retry[T any](ctx context.Context, timeout time.Duration, call func(context.Context) (T, error)) (T, error) {
	for n := 0; ; n++ {
		v, err := once(ctx, timeout, call)
		if err == nil || n == maxRetries || !transient(err) || ctx.Err() != nil {
			return v, err
		}
		t := time.NewTimer(retryDelay(n))
		select {
		case <-ctx.Done():
			t.Stop()
			return v, err
		case <-t.C:
		}
	}
}

func transient(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// getCertificate asks for a certificate's public status.
func (c *client) getCertificate(ctx context.Context, serial string) (*signetv1.Certificate, error) {
	resp, err := once(ctx, c.timeout, func(ctx context.Context) (*signetv1.GetCertificateResponse, error) {
		return c.enroll.GetCertificate(ctx, &signetv1.GetCertificateRequest{Serial: serial})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetCertificate(), nil
}

// startEnrollment gets the nonce (and audience) for one operation.
func (c *client) startEnrollment(ctx context.Context, profile string, purpose signetv1.EnrollmentPurpose) (*signetv1.StartEnrollmentResponse, error) {
	return once(ctx, c.timeout, func(ctx context.Context) (*signetv1.StartEnrollmentResponse, error) {
		return c.enroll.StartEnrollment(ctx, &signetv1.StartEnrollmentRequest{Profile: profile, Purpose: purpose})
	})
}

// audience returns the name a key-possession proof must be addressed to.
// The server announces it only in StartEnrollment, so unless --audience
// gives it, this looks up the certificate's profile and starts a REVOKE
// enrollment that is then left to expire unused.
func (c *client) audience(ctx context.Context, given, serial string) (string, error) {
	if given != "" {
		return given, nil
	}
	cert, err := c.getCertificate(ctx, serial)
	if err != nil {
		return "", wrapCall("looking up the certificate's profile", err)
	}
	en, err := c.startEnrollment(ctx, cert.GetProfile(), signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_REVOKE)
	if err != nil {
		return "", wrapCall("learning the server's audience (or give --audience)", err)
	}
	if en.GetAudience() == "" {
		return "", errors.New("the server announced no audience: give --audience")
	}
	return en.GetAudience(), nil
}

// wrapCall says what the client was doing when a call failed, keeping the
// gRPC status for the exit message.
func wrapCall(op string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", op, err)
	}
	if strings.HasPrefix(st.Message(), op+":") {
		op = "" // the server already said it
	}
	return &callError{op: op, st: st}
}
