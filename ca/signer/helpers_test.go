package signer

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.step.sm/crypto/pemutil"

	"github.com/signet-ca/signet/ca/devca"
	"github.com/signet-ca/signet/ca/lint"
	"github.com/signet-ca/signet/store"
)

// devCA is a dev PKI on disk and its certificates, parsed.
type devCA struct {
	files        devca.Files
	root, issuer *x509.Certificate
	key          crypto.Signer // the intermediate's key
}

// newDevCA writes a dev PKI of keyType (devca.RSA2048 or devca.ECDSAP256)
// into a fresh directory.
func newDevCA(t testing.TB, keyType string) *devCA {
	t.Helper()
	f, err := devca.Ensure(t.TempDir(), "Signet", []string{"127.0.0.1", "localhost"}, keyType)
	if err != nil {
		t.Fatalf("devca.Ensure(%s): %v", keyType, err)
	}
	root, err := pemutil.ReadCertificate(f.Root)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := pemutil.ReadCertificate(f.Intermediate)
	if err != nil {
		t.Fatal(err)
	}
	k, err := pemutil.Read(f.IntermediateKey)
	if err != nil {
		t.Fatal(err)
	}
	return &devCA{files: f, root: root, issuer: issuer, key: k.(crypto.Signer)}
}

// verify checks cert against the dev root through the intermediate.
func (ca *devCA) verify(cert *x509.Certificate) error {
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ca.root)
	inters.AddCert(ca.issuer)
	_, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}

// realLinter is ca/lint's zlint linter; filtering the registries is
// costly, so the tests share one.
var realLinter = sync.OnceValues(lint.New)

func newLinter(t testing.TB) Linter {
	t.Helper()
	l, err := realLinter()
	if err != nil {
		t.Fatalf("lint.New: %v", err)
	}
	return l
}

// countingKey is the CA key with a count of its signatures, so that a test
// can say the key signed nothing.
type countingKey struct {
	crypto.Signer
	n atomic.Int64
}

func (k *countingKey) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	k.n.Add(1)
	return k.Signer.Sign(r, digest, opts)
}

// newCountingSigner is the dev CA's signer (softcas, as in production)
// over a key that counts its signatures, linted by l.
func newCountingSigner(t testing.TB, ca *devCA, l Linter) (*Signer, *countingKey) {
	t.Helper()
	key := &countingKey{Signer: ca.key}
	s, err := newSigner(context.Background(), "", []*x509.Certificate{ca.issuer}, key, l)
	if err != nil {
		t.Fatalf("newSigner: %v", err)
	}
	return s, key
}

// subscriberKey is the key the subscriber templates certify: RSA-2048,
// the NPKI norm. One key serves every test; nothing here needs distinct
// subscriber keys.
var subscriberKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

const subscriberCN = "홍길동()0000412345678901234"

// kst is Korea Standard Time: NPKI certificates end at 23:59:59 KST.
var kst = time.FixedZone("KST", 9*60*60)

var (
	oidCountry  = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidOrg      = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOrgUnit  = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidCN       = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidPolicies = asn1.ObjectIdentifier{2, 5, 29, 32}
	oidCPS      = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 2, 1}
	oidNotice   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 2, 2}
	oidPolicy   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 1, 1, 4}
	oidNoCheck  = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}
)

// subscriberTemplate is a personal-banking certificate as the NPKI profile
// has it (DESIGN.md "Certificate profiles"), valid for a year from now, so
// that the real linter accepts it as a subscriber certificate.
func subscriberTemplate(t testing.TB) *x509.Certificate {
	t.Helper()
	// cn=…,ou=KB,ou=personal4IB,o=Signet,c=KR, one attribute per RDN:
	// pkix.Name would put both OUs into one RDN.
	var rdns pkix.RDNSequence
	for _, a := range []struct {
		oid asn1.ObjectIdentifier
		v   string
	}{{oidCountry, "KR"}, {oidOrg, "Signet"}, {oidOrgUnit, "personal4IB"}, {oidOrgUnit, "KB"}, {oidCN, subscriberCN}} {
		rdns = append(rdns, pkix.RelativeDistinguishedNameSET{{Type: a.oid, Value: a.v}})
	}
	subject, err := asn1.Marshal(rdns)
	if err != nil {
		t.Fatal(err)
	}
	cps, err := asn1.MarshalWithParams("https://signet.example/cps", "ia5")
	if err != nil {
		t.Fatal(err)
	}
	notice, err := asn1.Marshal(struct {
		ExplicitText string `asn1:"utf8"`
	}{"이 인증서는 은행/신용카드/보험용 공동인증서입니다"})
	if err != nil {
		t.Fatal(err)
	}
	type qualifier struct {
		ID    asn1.ObjectIdentifier
		Value asn1.RawValue
	}
	policies, err := asn1.Marshal([]struct {
		Policy     asn1.ObjectIdentifier
		Qualifiers []qualifier
	}{{oidPolicy, []qualifier{{oidCPS, asn1.RawValue{FullBytes: cps}}, {oidNotice, asn1.RawValue{FullBytes: notice}}}}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	end := now.AddDate(1, 0, 0).In(kst)
	return &x509.Certificate{
		RawSubject:            subject,
		PublicKey:             subscriberKey().Public(),
		NotBefore:             now,
		NotAfter:              time.Date(end.Year(), end.Month(), end.Day(), 23, 59, 59, 0, kst).UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		BasicConstraintsValid: true,
		CRLDistributionPoints: []string{"http://signet.example/crl/1.crl"},
		OCSPServer:            []string{"http://signet.example/ocsp"},
		IssuingCertificateURL: []string{"http://signet.example/ca.cer"},
		ExtraExtensions:       []pkix.Extension{{Id: oidPolicies, Value: policies}},
	}
}

// shapeOCSPResponder is what the OCSP responder asks of its delegated
// certificate (ocsp/delegate.go, RFC 6960 4.2.2.2).
func shapeOCSPResponder(t *x509.Certificate) {
	t.Subject.CommonName = "Signet Dev CA Class 2 OCSP Responder"
	t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}
	t.ExtraExtensions = []pkix.Extension{{Id: oidNoCheck, Value: []byte{0x05, 0x00}}}
}

// responderTemplate is a delegated OCSP responder's certificate as
// Delegates builds it, valid for a day from now.
func responderTemplate(issuer *x509.Certificate, now time.Time) *x509.Certificate {
	tmpl := &x509.Certificate{
		Subject:   pkix.Name{Country: issuer.Subject.Country, Organization: issuer.Subject.Organization},
		NotBefore: now.Truncate(time.Second), NotAfter: now.Add(24 * time.Hour).Truncate(time.Second),
		PublicKey: subscriberKey().Public(), KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}
	shapeOCSPResponder(tmpl)
	return tmpl
}

// ledger is every row the test database holds for issuerID, newest first.
func ledger(t testing.TB, db *store.DB, issuerID string) []*store.Signature {
	t.Helper()
	rows, _, err := db.ListSignatures(context.Background(), store.SignatureFilter{IssuerID: issuerID, PageSize: store.MaxPageSize})
	if err != nil {
		t.Fatalf("ListSignatures: %v", err)
	}
	return rows
}

// auditEvent is the part of an audit_events row the ledger writes.
type auditEvent struct {
	Actor, Serial, RequestID, SubjectRef string
	LedgerID                             int64
	Details                              map[string]any
}

// auditEvents reads the audit events of action straight from the test
// database, in order.
func auditEvents(t testing.TB, dbURL, action string) []auditEvent {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT actor, coalesce(serial, ''), coalesce(request_id, ''), coalesce(subject_ref, ''),
		(details->>'ledger_id')::bigint, details FROM audit_events WHERE action = $1 ORDER BY id`, action)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auditEvent, error) {
		var ev auditEvent
		err := r.Scan(&ev.Actor, &ev.Serial, &ev.RequestID, &ev.SubjectRef, &ev.LedgerID, &ev.Details)
		return ev, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}
