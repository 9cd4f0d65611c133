// Command signet-healthprobe asks signetd's gRPC listener for its health
// (grpc.health.v1) over TLS and exits 0 or 1. It exists because the runtime
// image is distroless (no shell, no curl) and because a probe must speak TLS:
// signetd's gRPC port has no plaintext mode, and the kubelet's native gRPC
// probe connects in plaintext unless the GRPCContainerProbeTLS feature gate
// is on.
//
//	signet-healthprobe -addr 127.0.0.1:9443 -ca /etc/signet/tls/ca.crt -server-name signetd          readiness
//	signet-healthprobe -addr 127.0.0.1:9443 -ca /etc/signet/tls/ca.crt -server-name signetd -live    liveness
//
// Readiness wants SERVING: signetd reports NOT_SERVING while PostgreSQL does
// not answer (server.watchHealth), and a replica that cannot record must get
// no traffic. Liveness accepts any answer over TLS: a database outage is not
// cured by restarting every replica, but a process that no longer answers is.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "signet-healthprobe:", err)
		os.Exit(1)
	}
}

// Options are the probe's flags.
type Options struct {
	Addr       string
	CAFile     string
	ServerName string
	Service    string
	Live       bool
	Timeout    time.Duration
}

func run(args []string) error {
	var o Options
	fs := flag.NewFlagSet("signet-healthprobe", flag.ContinueOnError)
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:9443", "signetd's gRPC listener")
	fs.StringVar(&o.CAFile, "ca", "", "PEM file of the CA that issued signetd's TLS certificate (required)")
	fs.StringVar(&o.ServerName, "server-name", "", "name to verify in signetd's certificate (default: the host in -addr)")
	fs.StringVar(&o.Service, "service", "", `health service to ask about ("" is the whole server)`)
	fs.BoolVar(&o.Live, "live", false, "liveness: any health answer over TLS passes, NOT_SERVING included")
	fs.DurationVar(&o.Timeout, "timeout", 3*time.Second, "deadline for connecting and asking")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	st, err := Probe(ctx, o)
	if err != nil {
		return err
	}
	fmt.Println(st)
	return nil
}

// Probe asks for the health of o.Service and returns the status it got, or
// an error when the status does not pass (see Options.Live).
func Probe(ctx context.Context, o Options) (healthpb.HealthCheckResponse_ServingStatus, error) {
	if o.CAFile == "" {
		return 0, errors.New("-ca is required: the probe verifies signetd's certificate")
	}
	pem, err := os.ReadFile(o.CAFile)
	if err != nil {
		return 0, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return 0, fmt.Errorf("%s holds no PEM certificate", o.CAFile)
	}
	creds := credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: o.ServerName, MinVersion: tls.VersionTLS12})
	conn, err := grpc.NewClient(o.Addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: o.Service})
	if err != nil {
		return 0, fmt.Errorf("health check of %s: %w", o.Addr, err)
	}
	st := resp.GetStatus()
	if st != healthpb.HealthCheckResponse_SERVING && !o.Live {
		return st, fmt.Errorf("%s is %s", o.Addr, st)
	}
	return st, nil
}
