package login_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/ca/login"
	"github.com/signet-ca/signet/ca/proof"
	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

const audience = "signet-login-test"

type env struct {
	t   *testing.T
	db  *store.DB
	url string
	now time.Time
	s   *login.Service
	ca  *x509.Certificate
	key crypto.Signer
	n   int64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, u := storetest.Open(t)
	if err := db.UpsertIssuer(context.Background(), "iss", "CN=Test CA", []byte{1}); err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(der)
	e := &env{t: t, db: db, url: u, now: time.Now().UTC(), ca: caCert, key: key}
	e.s, err = login.New(db, audience, func() time.Time { return e.now }, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// holder makes a subscriber certificate and its key; stored puts its row in
// the database with status.
func (e *env) holder(stored bool, status string) (*x509.Certificate, crypto.Signer) {
	e.t.Helper()
	e.n++
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x5100 + e.n), Subject: pkix.Name{CommonName: "홍길동()0000400000000000000"},
		NotBefore: e.now.Add(-time.Hour), NotAfter: e.now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, e.ca, key.Public(), e.key)
	if err != nil {
		e.t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	if !stored {
		return cert, key
	}
	spki := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	row := &store.Certificate{Serial: cert.SerialNumber.Text(16), SubjectRef: "sr1_holder" + cert.SerialNumber.Text(16), Profile: "personal-banking",
		SubjectDN: "CN=x", NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, SPKISHA256: spki[:], KeyType: "ecdsa-p256",
		DER: cert.Raw, IssuerID: "iss", Operation: "issue", RequestID: "req-" + cert.SerialNumber.Text(16), CreatedAt: e.now}
	ctx := context.Background()
	err = e.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.InsertCertificate(ctx, row); err != nil {
			return err
		}
		switch status {
		case "revoked":
			return tx.Revoke(ctx, row.Serial, e.now.Add(-time.Minute), 1, "")
		case "suspended":
			return tx.Suspend(ctx, row.Serial, e.now.Add(-time.Minute))
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return cert, key
}

func (e *env) sign(cert *x509.Certificate, key crypto.Signer, challenge, method string) string {
	e.t.Helper()
	tok, err := proof.Sign(cert, key, proof.Claims{Audience: audience, Method: method, Binding: challenge, IssuedAt: e.now.Unix()})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *env) audited(outcome, reason string) int {
	e.t.Helper()
	conn, err := pgx.Connect(context.Background(), e.url)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE action = 'login' AND outcome = $1 AND reason = $2`,
		outcome, reason).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestVerify_AnswersWhoSignedAndSpendsTheChallenge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cert, key := e.holder(true, "active")
	ch, err := e.s.Challenge(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tok := e.sign(cert, key, ch.Value, login.Method)
	id, err := e.s.Verify(context.Background(), ch.ID, tok, "bank")
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if id.Serial != cert.SerialNumber.Text(16) || id.SubjectRef != "sr1_holder"+cert.SerialNumber.Text(16) || id.Status != ca.Active || id.Registration != "signet" {
		t.Errorf("identity %+v", id)
	}
	if n := e.audited("ok", ""); n != 1 {
		t.Errorf("%d ok login events, want 1", n)
	}
	_, err = e.s.Verify(context.Background(), ch.ID, tok, "bank")
	if rerr, ok := ca.AsError(err); !ok || rerr.Reason != "challenge_replayed" {
		t.Fatalf("the same challenge again: %v, want challenge_replayed", err)
	}
}

func TestVerify_RefusesEachWayAndAuditsIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	good, goodKey := e.holder(true, "active")
	revoked, revokedKey := e.holder(true, "revoked")
	suspended, suspendedKey := e.holder(true, "suspended")
	unregistered, unregisteredKey := e.holder(false, "")
	for _, tc := range []struct {
		name   string
		make   func(ch *login.Challenge) (id, token string)
		later  time.Duration
		kind   ca.Kind
		reason string
	}{
		{"challenge id not a UUID", func(ch *login.Challenge) (string, string) { return "x", e.sign(good, goodKey, ch.Value, login.Method) }, 0, ca.KindInvalid, "bad_challenge_id"},
		{"unknown challenge", func(ch *login.Challenge) (string, string) {
			return "7d5e0d7b-6d2a-4bb4-9d49-3c8a3a0c0a11", e.sign(good, goodKey, ch.Value, login.Method)
		}, 0, ca.KindNotFound, "unknown_challenge"},
		{"tampered signature", func(ch *login.Challenge) (string, string) {
			tok := e.sign(good, goodKey, ch.Value, login.Method)
			return ch.ID, tok[:len(tok)-4] + "AAAA"
		}, 0, ca.KindUnauthorized, "bad_signature"},
		{"a renewal proof", func(ch *login.Challenge) (string, string) {
			return ch.ID, e.sign(good, goodKey, ch.Value, "/signet.v1.EnrollmentService/RenewCertificate")
		}, 0, ca.KindUnauthorized, "bad_signature"},
		{"another challenge signed", func(ch *login.Challenge) (string, string) { return ch.ID, e.sign(good, goodKey, "other", login.Method) }, 0, ca.KindUnauthorized, "challenge_mismatch"},
		{"challenge expired", func(ch *login.Challenge) (string, string) {
			return ch.ID, e.sign(good, goodKey, ch.Value, login.Method)
		}, 3 * time.Minute, ca.KindPrecondition, "challenge_expired"},
		{"unregistered certificate", func(ch *login.Challenge) (string, string) {
			return ch.ID, e.sign(unregistered, unregisteredKey, ch.Value, login.Method)
		}, 0, ca.KindNotFound, "unregistered"},
		{"revoked", func(ch *login.Challenge) (string, string) {
			return ch.ID, e.sign(revoked, revokedKey, ch.Value, login.Method)
		}, 0, ca.KindPrecondition, "revoked"},
		{"suspended", func(ch *login.Challenge) (string, string) {
			return ch.ID, e.sign(suspended, suspendedKey, ch.Value, login.Method)
		}, 0, ca.KindPrecondition, "suspended"},
	} {
		e.now = time.Now().UTC()
		ch, err := e.s.Challenge(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id, tok := tc.make(ch)
		e.now = e.now.Add(tc.later)
		_, err = e.s.Verify(ctx, id, tok, "bank")
		rerr, ok := ca.AsError(err)
		if !ok || rerr.Kind != tc.kind || rerr.Reason != tc.reason {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.reason)
			continue
		}
		if strings.TrimSpace(rerr.Msg) == "" {
			t.Errorf("%s: refusal without a message", tc.name)
		}
		if n := e.audited("refused", tc.reason); n < 1 {
			t.Errorf("%s: the refusal was not audited", tc.name)
		}
	}
	// A certificate past notAfter: expired, though its row still says active.
	e.now = time.Now().UTC().Add(48 * time.Hour)
	ch, err := e.s.Challenge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := proof.Sign(good, goodKey, proof.Claims{Audience: audience, Method: login.Method, Binding: ch.Value, IssuedAt: e.now.Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Verify(ctx, ch.ID, tok, "bank"); err == nil {
		t.Fatal("an expired certificate signed in")
	} else if rerr, _ := ca.AsError(err); rerr == nil || rerr.Reason != "expired" {
		t.Errorf("expired certificate: %v, want expired", err)
	}
}
