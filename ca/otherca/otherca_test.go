package otherca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/signet-ca/signet/ca/crlreason"
	"github.com/signet-ca/signet/ca/identity"
	"github.com/signet-ca/signet/ca/lint"
)

const testIDN = "9001011234567"

var testR = bytes.Repeat([]byte{0x5a}, identity.RandomNumSize)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// serve opens the CA in dir behind a real HTTP server whose URL is the
// CA's base URL, as signetd mounts it.
func serve(t *testing.T, dir string, now func() time.Time) (*CA, *httptest.Server) {
	t.Helper()
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	c, err := Open(dir, srv.URL, now)
	if err != nil {
		t.Fatal(err)
	}
	h = c.Handler()
	return c, srv
}

func issue(t *testing.T, c *CA, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	nb := c.now().Add(-time.Minute)
	cert, err := c.Issue(pub, "홍길동", testIDN, testR, "088", nb, nb.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestIssueNPKIShape(t *testing.T) {
	c, err := Open(t.TempDir(), "http://127.0.0.1:8080/", nil)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, pub := range []crypto.PublicKey{rsaKey.Public(), ecKey.Public()} {
		cert := issue(t, c, pub)
		// Round-trip through DER, as a relying party receives it.
		cert, err = x509.ParseCertificate(cert.Raw)
		if err != nil {
			t.Fatal(err)
		}
		roots, inters := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(c.Roots()[0])
		inters.AddCert(c.Intermediates()[0])
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Fatalf("chain: %v", err)
		}
		if err := identity.Verify(cert, testIDN, testR); err != nil {
			t.Fatalf("identity.Verify: %v", err)
		}
		if err := identity.Verify(cert, "9001011234568", testR); !errors.Is(err, identity.ErrMismatch) {
			t.Fatalf("identity.Verify with another idn: %v, want ErrMismatch", err)
		}
		d, err := identity.FromCertificate(cert)
		if err != nil || d.RealName != "홍길동" {
			t.Fatalf("identifyData: %+v, %v", d, err)
		}
		// The raw sequence, not cert.Subject: pkix.Name folds both OUs
		// into one RDN when it prints.
		var rdns pkix.RDNSequence
		if _, err := asn1.Unmarshal(cert.RawSubject, &rdns); err != nil {
			t.Fatal(err)
		}
		subj := rdns.String()
		if !strings.HasPrefix(subj, "CN=홍길동()00088") || !strings.HasSuffix(subj, ",OU=Shinhan,OU=personal4IB,O=OtherBank Dev,C=KR") || len(cert.Subject.CommonName) != len("홍길동()")+20 {
			t.Errorf("subject %s", subj)
		}
		if got := cert.Issuer.String(); got != "CN=OtherBank Dev CA Class 2,OU=AccreditedCA,O=OtherBank Dev,C=KR" {
			t.Errorf("issuer %s", got)
		}
		if cert.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment || cert.IsCA {
			t.Errorf("key usage %b, IsCA %v", cert.KeyUsage, cert.IsCA)
		}
		if len(cert.CRLDistributionPoints) != 1 || cert.CRLDistributionPoints[0] != "http://127.0.0.1:8080/otherca/crl" ||
			len(cert.OCSPServer) != 1 || cert.OCSPServer[0] != "http://127.0.0.1:8080/otherca/ocsp" {
			t.Errorf("CRL DP %v, OCSP %v", cert.CRLDistributionPoints, cert.OCSPServer)
		}
		if len(cert.Policies) != 1 || cert.Policies[0].String() != PolicyOID.String() {
			t.Errorf("policies %v", cert.Policies)
		}
		if len(cert.SubjectKeyId) != 20 || !bytes.Equal(cert.AuthorityKeyId, c.Intermediates()[0].SubjectKeyId) {
			t.Errorf("SKI %x, AKI %x", cert.SubjectKeyId, cert.AuthorityKeyId)
		}
		if cert.SerialNumber.Sign() <= 0 || cert.SerialNumber.BitLen() > 160 {
			t.Errorf("serial %x", cert.SerialNumber)
		}
	}
}

// Signet's own NPKI profile lints accept the other CA's certificates:
// they have the shape of a real joint certificate, so registration is
// tested against what banks will send.
func TestLintsLikeNPKI(t *testing.T) {
	c, err := Open(t.TempDir(), "http://127.0.0.1:8080", nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// notAfter at 23:59:59 KST, as NPKI CAs (and the lint) have it.
	cert, err := c.Issue(key.Public(), "홍길동", testIDN, testR, "088", time.Now(), time.Date(2027, 12, 1, 14, 59, 59, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	l, err := lint.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Subscriber(cert.Raw); err != nil {
		t.Error(err)
	}
	for _, ca := range append(c.Roots(), c.Intermediates()...) {
		if err := l.Infrastructure(ca.Raw); err != nil {
			t.Errorf("%s: %v", ca.Subject, err)
		}
	}
}

func TestIssueRefuses(t *testing.T) {
	c, err := Open(t.TempDir(), "http://127.0.0.1:8080", nil)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	good, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	nb := time.Now()
	for name, f := range map[string]func() error{
		"RSA-1024": func() error {
			_, err := c.Issue(small.Public(), "홍길동", testIDN, testR, "088", nb, nb.AddDate(1, 0, 0))
			return err
		},
		"bank code": func() error {
			_, err := c.Issue(good.Public(), "홍길동", testIDN, testR, "88", nb, nb.AddDate(1, 0, 0))
			return err
		},
		"idn": func() error {
			_, err := c.Issue(good.Public(), "홍길동", "900101-1234567", testR, "088", nb, nb.AddDate(1, 0, 0))
			return err
		},
		"no R": func() error {
			_, err := c.Issue(good.Public(), "홍길동", testIDN, nil, "088", nb, nb.AddDate(1, 0, 0))
			return err
		},
		"name": func() error {
			_, err := c.Issue(good.Public(), "", testIDN, testR, "088", nb, nb.AddDate(1, 0, 0))
			return err
		},
		"validity": func() error { _, err := c.Issue(good.Public(), "홍길동", testIDN, testR, "088", nb, nb); return err },
		"beyond the CA": func() error {
			_, err := c.Issue(good.Public(), "홍길동", testIDN, testR, "088", nb, nb.AddDate(30, 0, 0))
			return err
		},
	} {
		if err := f(); err == nil {
			t.Errorf("%s: issued", name)
		}
	}
	// An expired certificate, for relying parties' refusal tests.
	if _, err := c.Issue(good.Public(), "홍길동", testIDN, testR, "088", nb.AddDate(-2, 0, 0), nb.AddDate(-1, 0, 0)); err != nil {
		t.Errorf("expired certificate: %v", err)
	}
	if len(c.st.Certs) != 1 {
		t.Errorf("%d certificates recorded, want the expired one only", len(c.st.Certs))
	}
	if _, err := Open(t.TempDir(), "ftp://x", nil); err == nil {
		t.Error("Open accepted an ftp base URL")
	}
}

func TestOpenSSLReads(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not on PATH")
	}
	clk := &clock{t: time.Now()}
	c, srv := serve(t, t.TempDir(), clk.now)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cert := issue(t, c, key.Public())
	dir := t.TempDir()
	write := func(name string, certs ...*x509.Certificate) string {
		var b []byte
		for _, c := range certs {
			b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leaf := write("leaf.pem", cert)
	out, err := exec.Command(openssl, "x509", "-text", "-noout", "-in", leaf).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl x509: %v\n%s", err, out)
	}
	for _, want := range []string{
		"X509v3 Subject Alternative Name", "othername", "X509v3 CRL Distribution Points",
		"OCSP - URI:" + srv.URL + "/otherca/ocsp", "Digital Signature, Non Repudiation", PolicyOID.String(), CPSURI,
		"CA Issuers - URI:" + srv.URL + "/otherca/issuer.cer",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("openssl x509 -text lacks %q:\n%s", want, out)
		}
	}

	// openssl's own OCSP client, against the live responder, before and
	// after a revocation.
	issuer := write("issuer.pem", c.Intermediates()[0])
	root := write("root.pem", c.Roots()[0])
	ocspStatus := func() string {
		out, err := exec.Command(openssl, "ocsp", "-issuer", issuer, "-cert", leaf, "-url", srv.URL+"/otherca/ocsp",
			"-CAfile", root, "-no_nonce").CombinedOutput()
		if err != nil {
			t.Fatalf("openssl ocsp: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "Response verify OK") {
			t.Errorf("openssl ocsp did not verify the response:\n%s", out)
		}
		return string(out)
	}
	if out := ocspStatus(); !strings.Contains(out, leaf+": good") {
		t.Errorf("before revocation:\n%s", out)
	}
	if err := c.Revoke(cert.SerialNumber, crlreason.KeyCompromise, clk.now()); err != nil {
		t.Fatal(err)
	}
	if out := ocspStatus(); !strings.Contains(out, leaf+": revoked") || !strings.Contains(out, "keyCompromise") {
		t.Errorf("after revocation:\n%s", out)
	}

	// And openssl reads the CRL, checking its signature with the chain.
	crlPath := filepath.Join(dir, "crl.der")
	resp, err := http.Get(srv.URL + "/otherca/crl")
	if err != nil {
		t.Fatal(err)
	}
	der, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := os.WriteFile(crlPath, der, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(openssl, "crl", "-inform", "DER", "-in", crlPath, "-CAfile", write("chain.pem", c.Intermediates()[0], c.Roots()[0]), "-noout", "-text").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verify OK") || !strings.Contains(string(out), strings.ToUpper(cert.SerialNumber.Text(16))) {
		t.Errorf("openssl crl: %v\n%s", err, out)
	}
}

// ocspStatus asks the responder over HTTP and checks the answer is signed
// by the intermediate.
func ocspStatus(t *testing.T, c *CA, srvURL string, cert *x509.Certificate) *ocsp.Response {
	t.Helper()
	req, err := ocsp.CreateRequest(cert, c.Intermediates()[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(srvURL+"/otherca/ocsp", "application/ocsp-request", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r, err := ocsp.ParseResponseForCert(body, cert, c.Intermediates()[0])
	if err != nil {
		t.Fatalf("OCSP response: %v", err)
	}
	return r
}

func fetchCRL(t *testing.T, c *CA, srvURL string) *x509.RevocationList {
	t.Helper()
	resp, err := http.Get(srvURL + "/otherca/crl")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/pkix-crl" {
		t.Errorf("CRL Content-Type %q", ct)
	}
	der, _ := io.ReadAll(resp.Body)
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(c.Intermediates()[0]); err != nil {
		t.Fatalf("CRL signature: %v", err)
	}
	return crl
}

func listed(crl *x509.RevocationList, serial *big.Int) *x509.RevocationListEntry {
	for i, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(serial) == 0 {
			return &crl.RevokedCertificateEntries[i]
		}
	}
	return nil
}

func TestOCSPAndCRLReflectRevocation(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	c, srv := serve(t, t.TempDir(), clk.now)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, other := issue(t, c, key.Public()), issue(t, c, key.Public())

	if r := ocspStatus(t, c, srv.URL, cert); r.Status != ocsp.Good || !r.ThisUpdate.Equal(clk.now()) || !r.NextUpdate.Equal(clk.now().Add(ocspValidity)) {
		t.Fatalf("before revocation: status %d, %s..%s", r.Status, r.ThisUpdate, r.NextUpdate)
	}
	crl1 := fetchCRL(t, c, srv.URL)
	if listed(crl1, cert.SerialNumber) != nil || !crl1.NextUpdate.Equal(clk.now().Add(crlValidity)) {
		t.Fatalf("first CRL: %d entries, nextUpdate %s", len(crl1.RevokedCertificateEntries), crl1.NextUpdate)
	}
	// Unchanged, the same CRL is served until crlRefresh; then a new number.
	if again := fetchCRL(t, c, srv.URL); again.Number.Cmp(crl1.Number) != 0 {
		t.Errorf("CRL re-signed without cause: %v then %v", crl1.Number, again.Number)
	}
	clk.add(crlRefresh)
	crl2 := fetchCRL(t, c, srv.URL)
	if crl2.Number.Cmp(crl1.Number) <= 0 {
		t.Errorf("CRL number %v after %v", crl2.Number, crl1.Number)
	}

	at := clk.now().Add(-10 * time.Second)
	if err := c.Revoke(cert.SerialNumber, crlreason.KeyCompromise, at); err != nil {
		t.Fatal(err)
	}
	if err := c.Revoke(cert.SerialNumber, crlreason.Superseded, at); !errors.Is(err, ErrAlreadyRevoked) {
		t.Errorf("second revocation: %v", err)
	}
	if err := c.Revoke(big.NewInt(42), crlreason.Superseded, at); !errors.Is(err, ErrUnknownSerial) {
		t.Errorf("unknown serial: %v", err)
	}
	if err := c.Revoke(other.SerialNumber, crlreason.RemoveFromCRL, at); err == nil {
		t.Error("removeFromCRL accepted as a revocation reason")
	}

	// The revocation shows at once, without waiting for crlRefresh.
	r := ocspStatus(t, c, srv.URL, cert)
	if r.Status != ocsp.Revoked || !r.RevokedAt.Equal(at.Truncate(time.Second)) || r.RevocationReason != crlreason.KeyCompromise {
		t.Errorf("OCSP after revocation: status %d at %s reason %d", r.Status, r.RevokedAt, r.RevocationReason)
	}
	if r := ocspStatus(t, c, srv.URL, other); r.Status != ocsp.Good {
		t.Errorf("the other certificate: status %d", r.Status)
	}
	crl3 := fetchCRL(t, c, srv.URL)
	e := listed(crl3, cert.SerialNumber)
	if e == nil || e.ReasonCode != crlreason.KeyCompromise || !e.RevocationTime.Equal(at.Truncate(time.Second)) || crl3.Number.Cmp(crl2.Number) <= 0 {
		t.Errorf("CRL %v after revocation: entry %+v", crl3.Number, e)
	}
	if listed(crl3, other.SerialNumber) != nil {
		t.Error("the good certificate is on the CRL")
	}

	// A serial this CA never issued is unknown, not good.
	stranger := &x509.Certificate{SerialNumber: big.NewInt(7), RawIssuer: cert.RawIssuer}
	req, _ := ocsp.CreateRequest(stranger, c.Intermediates()[0], nil)
	resp, err := http.Post(srv.URL+"/otherca/ocsp", "application/ocsp-request", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if r, err := ocsp.ParseResponse(body, c.Intermediates()[0]); err != nil || r.Status != ocsp.Unknown {
		t.Errorf("unknown serial: %+v, %v", r, err)
	}
	// A request about another issuer is refused as unauthorized.
	req, _ = ocsp.CreateRequest(cert, c.Roots()[0], nil)
	resp, err = http.Post(srv.URL+"/otherca/ocsp", "application/ocsp-request", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(body, ocsp.UnauthorizedErrorResponse) {
		t.Errorf("request about another issuer answered %x", body)
	}
	// Garbage is malformed, still as an OCSP answer.
	resp, err = http.Post(srv.URL+"/otherca/ocsp", "application/ocsp-request", strings.NewReader("not DER"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, ocsp.MalformedRequestErrorResponse) {
		t.Errorf("garbage request: HTTP %d, %x", resp.StatusCode, body)
	}

	// The chain endpoint hands out intermediate then root.
	resp, err = http.Get(srv.URL + "/otherca/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var chain []*x509.Certificate
	for blk, rest := pem.Decode(body); blk != nil; blk, rest = pem.Decode(rest) {
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, cert)
	}
	if len(chain) != 2 || !chain[0].Equal(c.Intermediates()[0]) || !chain[1].Equal(c.Roots()[0]) {
		t.Errorf("ca.crt holds %d certificates", len(chain))
	}
	// caIssuers: the intermediate alone, DER.
	resp, err = http.Get(cert.IssuingCertificateURL[0])
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(body, c.Intermediates()[0].Raw) || resp.Header.Get("Content-Type") != "application/pkix-cert" {
		t.Errorf("issuer.cer: %q, %d bytes", resp.Header.Get("Content-Type"), len(body))
	}
}

func TestStateSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Now()}
	c1, srv1 := serve(t, dir, clk.now)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	revoked, good := issue(t, c1, key.Public()), issue(t, c1, key.Public())
	if err := c1.Revoke(revoked.SerialNumber, crlreason.CessationOfOperation, clk.now()); err != nil {
		t.Fatal(err)
	}
	n1 := fetchCRL(t, c1, srv1.URL).Number

	c2, srv2 := serve(t, dir, clk.now)
	if !c2.Roots()[0].Equal(c1.Roots()[0]) || !c2.Intermediates()[0].Equal(c1.Intermediates()[0]) {
		t.Fatal("reopening made a new CA")
	}
	if r := ocspStatus(t, c2, srv2.URL, revoked); r.Status != ocsp.Revoked || r.RevocationReason != crlreason.CessationOfOperation {
		t.Errorf("revoked certificate after reopen: status %d reason %d", r.Status, r.RevocationReason)
	}
	if r := ocspStatus(t, c2, srv2.URL, good); r.Status != ocsp.Good {
		t.Errorf("good certificate after reopen: status %d", r.Status)
	}
	crl := fetchCRL(t, c2, srv2.URL)
	if listed(crl, revoked.SerialNumber) == nil || crl.Number.Cmp(n1) <= 0 {
		t.Errorf("CRL %v after reopen (was %v)", crl.Number, n1)
	}
	for _, name := range []string{"root_key.pem", "intermediate_key.pem"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", name, fi.Mode().Perm())
		}
	}
	// idn and R are not kept.
	st, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(st, []byte(testIDN)) || bytes.Contains(st, []byte("홍길동")) {
		t.Errorf("state.json holds personal data:\n%s", st)
	}
}
