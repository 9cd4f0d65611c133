package crl

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"go.step.sm/crypto/pemutil"

	"github.com/signet-ca/signet/ca/devca"
	"github.com/signet-ca/signet/ca/lint"
	"github.com/signet-ca/signet/ca/signer"
	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

// pki is one dev CA for the package: RSA key generation is the slow part.
var pki devca.Files

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "signet-crl-pki-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pki, err = devca.Ensure(dir, "Signet", []string{"127.0.0.1"}, devca.RSA2048)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// clock is a settable time source.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.Set(t)
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type env struct {
	t      testing.TB
	db     *store.DB
	url    string
	signer *signer.Signer
	caKey  crypto.Signer // the issuing key, to make test certificates without the ledger
}

func newEnv(t testing.TB) *env {
	t.Helper()
	db, u := storetest.Open(t)
	k, err := pemutil.Read(pki.IntermediateKey)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: db, url: u, signer: newSigner(t), caKey: k.(crypto.Signer)}
	iss := e.signer.Issuer()
	if err := db.UpsertIssuer(context.Background(), e.signer.ID(), iss.Subject.String(), iss.Raw); err != nil {
		t.Fatal(err)
	}
	return e
}

// newSigner is the production signing path: softkms key, softcas backend.
func newSigner(t testing.TB) *signer.Signer {
	t.Helper()
	linter, err := lint.New()
	if err != nil {
		t.Fatal(err)
	}
	s, err := signer.New(context.Background(), signer.Config{Chain: pki.Intermediate, KMS: "softkms:", Key: pki.IntermediateKey}, linter)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testLog sends a component's log lines to the test's log.
func testLog(t testing.TB, name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, nil)).With("replica", name)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// issue signs a throwaway leaf under the dev intermediate, so that openssl
// can check it, and records it as an active certificate.
func (e *env) issue(notAfter time.Time) *x509.Certificate {
	e.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	var raw [20]byte
	_, _ = rand.Read(raw[:])
	raw[0] &= 0x7f
	raw[0] |= 0x01 // positive, 20 bytes, never zero
	serial := new(big.Int).SetBytes(raw[:])
	notBefore := time.Now().Add(-time.Hour)
	if notAfter.Before(notBefore) {
		notBefore = notAfter.Add(-time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "홍길동()" + serial.Text(16)[:12], Country: []string{"KR"}},
		NotBefore:    notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, e.signer.Issuer(), key.Public(), e.caKey)
	if err != nil {
		e.t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		e.t.Fatal(err)
	}
	spki := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	row := &store.Certificate{Serial: serial.Text(16), SubjectRef: "sr_" + serial.Text(16), Profile: "personal-banking",
		SubjectDN: cert.Subject.String(), NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, SPKISHA256: spki[:],
		KeyType: "ecdsa-p256", DER: der, IssuerID: e.signer.ID(), Operation: "issue",
		RequestID: "req-" + serial.Text(16), CreatedAt: time.Now()}
	ctx := context.Background()
	if err := e.db.InTx(ctx, func(tx *store.Tx) error { return tx.InsertCertificate(ctx, row) }); err != nil {
		e.t.Fatal(err)
	}
	return cert
}

// revoke revokes c the way the life cycle does: the change and its
// notification in one transaction.
func (e *env) revoke(c *x509.Certificate, at time.Time, reason int) {
	e.t.Helper()
	ctx := context.Background()
	serial := c.SerialNumber.Text(16)
	err := e.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.Revoke(ctx, serial, at, reason, ""); err != nil {
			return err
		}
		return tx.NotifyStatus(ctx, serial)
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) suspend(c *x509.Certificate, at time.Time) {
	e.t.Helper()
	ctx := context.Background()
	serial := c.SerialNumber.Text(16)
	err := e.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.Suspend(ctx, serial, at); err != nil {
			return err
		}
		return tx.NotifyStatus(ctx, serial)
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// parse checks a CRL's signature against the issuer and returns it.
func (e *env) parse(der []byte) *x509.RevocationList {
	e.t.Helper()
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		e.t.Fatalf("parse CRL: %v", err)
	}
	if err := rl.CheckSignatureFrom(e.signer.Issuer()); err != nil {
		e.t.Fatalf("CRL signature: %v", err)
	}
	if !bytes.Equal(rl.AuthorityKeyId, e.signer.Issuer().SubjectKeyId) {
		e.t.Fatalf("CRL authorityKeyIdentifier %x, want the issuer's subjectKeyIdentifier %x", rl.AuthorityKeyId, e.signer.Issuer().SubjectKeyId)
	}
	if !bytes.Equal(rl.RawIssuer, e.signer.Issuer().RawSubject) {
		e.t.Fatal("CRL issuer is not the issuing CA's subject")
	}
	return rl
}

// numbers returns every stored CRL number of the issuer, in order, with
// their thisUpdate.
func (e *env) numbers() (nums []int64, thisUpdates []time.Time) {
	e.t.Helper()
	conn := e.conn()
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT number, this_update FROM crls WHERE issuer_id = $1 ORDER BY number`, e.signer.ID())
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var n int64
		var tu time.Time
		if err := rows.Scan(&n, &tu); err != nil {
			e.t.Fatal(err)
		}
		nums = append(nums, n)
		thisUpdates = append(thisUpdates, tu)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return nums, thisUpdates
}

func (e *env) conn() *pgx.Conn {
	e.t.Helper()
	c, err := pgx.Connect(context.Background(), e.url)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// eventually polls cond until it holds or the time is up.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
