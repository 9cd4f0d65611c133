package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// selfSigned writes a self-signed certificate for "signet" to dir/name.pem
// and returns it as a tls.Certificate.
func selfSigned(t *testing.T, dir, name string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"signet"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, p
}

func TestProbe(t *testing.T) {
	dir := t.TempDir()
	cert, caFile := selfSigned(t, dir, "server")
	_, otherCA := selfSigned(t, dir, "other")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(g, hs)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	addr := lis.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ready := Options{Addr: addr, CAFile: caFile, ServerName: "signet"}
	live := ready
	live.Live = true

	if _, err := Probe(ctx, ready); err != nil {
		t.Fatalf("SERVING: %v", err)
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if _, err := Probe(ctx, ready); err == nil {
		t.Error("readiness passed on NOT_SERVING")
	}
	if st, err := Probe(ctx, live); err != nil || st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("liveness on NOT_SERVING: %v, %v", st, err)
	}
	for name, o := range map[string]Options{
		"another CA":      {Addr: addr, CAFile: otherCA, ServerName: "signet", Live: true},
		"another name":    {Addr: addr, CAFile: caFile, ServerName: "elsewhere", Live: true},
		"no CA":           {Addr: addr, ServerName: "signet", Live: true},
		"unknown service": {Addr: addr, CAFile: caFile, ServerName: "signet", Service: "nope"},
	} {
		if _, err := Probe(ctx, o); err == nil {
			t.Errorf("%s: passed", name)
		}
	}
	g.Stop()
	short, cancelShort := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancelShort()
	if _, err := Probe(short, live); err == nil {
		t.Error("liveness passed with the server gone")
	}
}
