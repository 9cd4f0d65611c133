package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/signet-ca/signet/cmd/signet/internal/cli"
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
func dial(g *cli.Globals) (*client, error) {
	if g.Timeout <= 0 {
		return nil, fmt.Errorf("--timeout %s: give a positive duration such as 30s", g.Timeout)
	}
	addr, host, err := serverAddr(g.Server)
	if err != nil {
		return nil, err
	}
	roots, err := g.Roots()
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{RootCAs: roots, ServerName: host, MinVersion: tls.VersionTLS12}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		return nil, fmt.Errorf("--server %s: %w", g.Server, err)
	}
	return &client{
		conn:    conn,
		enroll:  signetv1.NewEnrollmentServiceClient(conn),
		dev:     signetv1.NewDevIdentityServiceClient(conn),
		timeout: g.Timeout,
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

// getCertificate asks for a certificate's public status.
func (c *client) getCertificate(ctx context.Context, serial string) (*signetv1.Certificate, error) {
	resp, err := cli.Once(ctx, c.timeout, func(ctx context.Context) (*signetv1.GetCertificateResponse, error) {
		return c.enroll.GetCertificate(ctx, &signetv1.GetCertificateRequest{Serial: serial})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetCertificate(), nil
}

// startEnrollment gets the nonce (and audience) for one operation.
func (c *client) startEnrollment(ctx context.Context, profile string, purpose signetv1.EnrollmentPurpose) (*signetv1.StartEnrollmentResponse, error) {
	return cli.Once(ctx, c.timeout, func(ctx context.Context) (*signetv1.StartEnrollmentResponse, error) {
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
		return "", cli.WrapCall("looking up the certificate's profile", err)
	}
	en, err := c.startEnrollment(ctx, cert.GetProfile(), signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_REVOKE)
	if err != nil {
		return "", cli.WrapCall("learning the server's audience (or give --audience)", err)
	}
	if en.GetAudience() == "" {
		return "", errors.New("the server announced no audience: give --audience")
	}
	return en.GetAudience(), nil
}
