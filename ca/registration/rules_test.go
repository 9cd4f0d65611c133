package registration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/ca/crlreason"
	"github.com/signet-ca/signet/ca/otherca"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func openCA(t *testing.T) *otherca.CA {
	t.Helper()
	c, err := otherca.Open(t.TempDir(), "http://127.0.0.1:1", func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func person() *ca.Person { return &ca.Person{SubjectRef: "ref", Name: "홍길동", Birth: "19900101"} }

const idn = "9001011234567"

func issued(t *testing.T, c *otherca.CA, r []byte, nb, na time.Time) *x509.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := c.Issue(k.Public(), "홍길동", idn, r, "088", nb, na)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func refusal(t *testing.T, err *ca.Error, kind ca.Kind, reason string) {
	t.Helper()
	if err == nil || err.Kind != kind || err.Reason != reason {
		t.Fatalf("got %+v, want %s/%s", err, kind.Name(), reason)
	}
}

func TestTrustList_ChainsOnlyToListedCAs(t *testing.T) {
	a, b := openCA(t), openCA(t)
	l, err := NewTrustList([]TrustedCA{{Name: "a", Roots: a.Roots(), Intermediates: a.Intermediates()}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	r := make([]byte, 20)
	good := issued(t, a, r, t0.Add(-time.Hour), t0.AddDate(1, 0, 0))
	name, issuer, err := l.Chain(good, nil, t0)
	if err != nil || name != "a" || issuer.Subject.String() != a.Intermediates()[0].Subject.String() {
		t.Fatalf("chain: %q %v", name, err)
	}
	if _, _, err := l.Chain(issued(t, b, r, t0.Add(-time.Hour), t0.AddDate(1, 0, 0)), nil, t0); err == nil {
		t.Fatal("a certificate of an unlisted CA chained")
	}
	// Roots only: the caller may bring the intermediate.
	l2, err := NewTrustList([]TrustedCA{{Name: "a", Roots: a.Roots()}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l2.Chain(good, nil, t0); err == nil {
		t.Fatal("chained without the intermediate")
	}
	if _, _, err := l2.Chain(good, a.Intermediates(), t0); err != nil {
		t.Fatalf("chain with the caller's intermediate: %v", err)
	}
}

func TestNewTrustList_RefusesBadEntries(t *testing.T) {
	a, b := openCA(t), openCA(t)
	leaf := issued(t, a, make([]byte, 20), t0.Add(-time.Hour), t0.AddDate(1, 0, 0))
	for name, cas := range map[string][]TrustedCA{
		"no name":                   {{Roots: a.Roots()}},
		"twice":                     {{Name: "a", Roots: a.Roots()}, {Name: "a", Roots: b.Roots()}},
		"no root":                   {{Name: "a"}},
		"a leaf as root":            {{Name: "a", Roots: []*x509.Certificate{leaf}}},
		"an intermediate as root":   {{Name: "a", Roots: a.Intermediates()}},
		"another CA's intermediate": {{Name: "a", Roots: a.Roots(), Intermediates: b.Intermediates()}},
		"a leaf as intermediate":    {{Name: "a", Roots: a.Roots(), Intermediates: []*x509.Certificate{leaf}}},
	} {
		if _, err := NewTrustList(cas, t0); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCheckPeriod(t *testing.T) {
	c := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: t0, NotAfter: t0.Add(time.Hour)}
	refusal(t, checkPeriod(c, t0.Add(-time.Second)), ca.KindPrecondition, "not_yet_valid")
	if err := checkPeriod(c, t0); err != nil {
		t.Fatal(err)
	}
	refusal(t, checkPeriod(c, t0.Add(time.Hour)), ca.KindPrecondition, "expired")
}

func TestCheckKeyUsage(t *testing.T) {
	c := &x509.Certificate{SerialNumber: big.NewInt(1), KeyUsage: x509.KeyUsageDigitalSignature}
	refusal(t, checkKeyUsage(c), ca.KindInvalid, "bad_key_usage")
	c.KeyUsage |= x509.KeyUsageContentCommitment
	if err := checkKeyUsage(c); err != nil {
		t.Fatal(err)
	}
	c.KeyUsage = x509.KeyUsageKeyEncipherment | x509.KeyUsageContentCommitment
	refusal(t, checkKeyUsage(c), ca.KindInvalid, "bad_key_usage")
}

func TestAfterRevocation_SupersededIsReplaced(t *testing.T) {
	if afterRevocation(crlreason.Superseded) != StatusReplaced || afterRevocation(crlreason.KeyCompromise) != StatusRevoked ||
		afterRevocation(crlreason.Unspecified) != StatusRevoked {
		t.Fatal("a superseded certificate is replaced, every other revocation revoked")
	}
}

func TestRefusalFor(t *testing.T) {
	want := map[string]string{StatusUnregistered: "unregistered", StatusRevoked: "revoked", StatusReplaced: "replaced", StatusExpired: "expired"}
	for st, reason := range want {
		if r := refusalFor(st, "ab", "x"); r == nil || r.Reason != reason {
			t.Errorf("%s: %+v", st, r)
		}
	}
	if refusalFor(StatusActive, "ab", "") != nil {
		t.Error("an active registration is refused")
	}
}

func TestBindings_DifferPerOperationAndReason(t *testing.T) {
	if BindUnregister("n", "a") == BindUnregister("n", "b") || BindUnregister("n", "a") == BindRegister("n") {
		t.Fatal("an unregistration proof must bind its reason")
	}
}

func TestCheckHolder(t *testing.T) {
	c := openCA(t)
	r := make([]byte, 20)
	r[0] = 7
	cert := issued(t, c, r, t0.Add(-time.Hour), t0.AddDate(1, 0, 0))
	if err := checkHolder(cert, person(), idn, r); err != nil {
		t.Fatalf("the holder: %v", err)
	}
	refusal(t, checkHolder(cert, person(), "900101123456", r), ca.KindInvalid, "bad_idn")
	refusal(t, checkHolder(cert, person(), idn, r[:19]), ca.KindInvalid, "bad_random_num")
	refusal(t, checkHolder(cert, person(), "9001013234567", r), ca.KindForbidden, "idn_not_person")
	refusal(t, checkHolder(cert, person(), "9001011234568", r), ca.KindForbidden, "vid_mismatch")
	other := make([]byte, 20)
	refusal(t, checkHolder(cert, person(), idn, other), ca.KindForbidden, "vid_mismatch")
	p := person()
	p.Name = "김철수"
	refusal(t, checkHolder(cert, p, idn, r), ca.KindForbidden, "name_mismatch")
	// A certificate without identifyData cannot be matched to anyone.
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "x"}, NotBefore: t0, NotAfter: t0.Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	bare, _ := x509.ParseCertificate(der)
	refusal(t, checkHolder(bare, person(), idn, r), ca.KindInvalid, "no_identify_data")
}
