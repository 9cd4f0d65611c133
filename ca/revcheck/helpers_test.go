package revcheck

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock               { return &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }
func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func (c *clock) set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func mustKey(t *testing.T) crypto.Signer {
	return must(t)(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
}

func must(t *testing.T) func(*ecdsa.PrivateKey, error) crypto.Signer {
	return func(k *ecdsa.PrivateKey, err error) crypto.Signer {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
}

func sign(t *testing.T, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
	if tmpl.SerialNumber == nil {
		s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
		if err != nil {
			t.Fatal(err)
		}
		tmpl.SerialNumber = s
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fakeCA is an issuing CA with an OCSP responder and a CRL behind a real
// HTTP server, whose answers a test can break in the ways CAs break.
type fakeCA struct {
	t     *testing.T
	clk   *clock
	cert  *x509.Certificate
	key   crypto.Signer
	srv   *httptest.Server
	ocspN atomic.Int32
	crlN  atomic.Int32

	mu      sync.Mutex
	revoked map[string]x509.RevocationListEntry
	// ocspMode and crlMode: "ok", "down" (HTTP 503), "garbage",
	// "badsig" (signed by a stranger), "tryLater"; ocspMode also
	// "delegated", "delegatedNoEKU", "otherSerial".
	ocspMode, crlMode string
	// thisUpdate and nextUpdate are added to the clock; noNext drops
	// nextUpdate.
	thisUpdate, nextUpdate time.Duration
	noNext                 bool
	delay                  time.Duration
	bigBody                bool
}

func newFakeCA(t *testing.T, clk *clock) *fakeCA {
	f := &fakeCA{t: t, clk: clk, key: mustKey(t), revoked: map[string]x509.RevocationListEntry{},
		ocspMode: "ok", crlMode: "ok", nextUpdate: time.Hour}
	now := clk.now()
	tmpl := &x509.Certificate{
		Subject:   pkix.Name{Country: []string{"KR"}, Organization: []string{"Test"}, CommonName: "Test CA Class 2"},
		NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true,
	}
	f.cert = sign(t, tmpl, tmpl, f.key.Public(), f.key)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /ocsp", f.serveOCSP)
	mux.HandleFunc("GET /crl", f.serveCRL)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// leaf issues a subscriber certificate naming the responder's OCSP URL
// and CRL DP, as the flags ask.
func (f *fakeCA) leaf(withOCSP, withCRL bool) *x509.Certificate {
	now := f.clk.now()
	tmpl := &x509.Certificate{
		Subject:   pkix.Name{CommonName: "홍길동()0008812345"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
	}
	if withOCSP {
		tmpl.OCSPServer = []string{f.srv.URL + "/ocsp"}
	}
	if withCRL {
		tmpl.CRLDistributionPoints = []string{f.srv.URL + "/crl"}
	}
	return sign(f.t, tmpl, f.cert, mustKey(f.t).Public(), f.key)
}

func (f *fakeCA) revoke(c *x509.Certificate, reason int, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked[c.SerialNumber.Text(16)] = x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: at, ReasonCode: reason}
}

func (f *fakeCA) set(fn func(f *fakeCA)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// stranger is a key and a certificate with the CA's name but not its key.
func (f *fakeCA) stranger() (*x509.Certificate, crypto.Signer) {
	key := mustKey(f.t)
	tmpl := &x509.Certificate{Subject: f.cert.Subject, NotBefore: f.cert.NotBefore, NotAfter: f.cert.NotAfter,
		KeyUsage: f.cert.KeyUsage, BasicConstraintsValid: true, IsCA: true}
	return sign(f.t, tmpl, tmpl, key.Public(), key), key
}

// common handles the failure modes both endpoints share; it reports
// whether it answered.
func (f *fakeCA) common(w http.ResponseWriter, mode string) bool {
	time.Sleep(f.delay)
	switch mode {
	case "down":
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	case "garbage":
		_, _ = w.Write([]byte("<html>login</html>"))
	default:
		if f.bigBody {
			_, _ = w.Write(make([]byte, maxCRLBody+10))
			return true
		}
		return false
	}
	return true
}

func (f *fakeCA) serveOCSP(w http.ResponseWriter, r *http.Request) {
	f.ocspN.Add(1)
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.common(w, f.ocspMode) {
		return
	}
	if f.ocspMode == "tryLater" {
		_, _ = w.Write(ocsp.TryLaterErrorResponse)
		return
	}
	req, err := ocsp.ParseRequest(body)
	if err != nil {
		_, _ = w.Write(ocsp.MalformedRequestErrorResponse)
		return
	}
	now := f.clk.now()
	tmpl := ocsp.Response{Status: ocsp.Good, SerialNumber: req.SerialNumber,
		ThisUpdate: now.Add(f.thisUpdate), NextUpdate: now.Add(f.nextUpdate)}
	if f.noNext {
		tmpl.NextUpdate = time.Time{}
	}
	if e, ok := f.revoked[req.SerialNumber.Text(16)]; ok {
		tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, e.RevocationTime, e.ReasonCode
	}
	responder, key := f.cert, f.key
	switch f.ocspMode {
	case "badsig":
		responder, key = f.stranger()
	case "otherSerial":
		tmpl.SerialNumber = new(big.Int).Add(req.SerialNumber, big.NewInt(1))
	case "delegated", "delegatedNoEKU":
		key = mustKey(f.t)
		rt := &x509.Certificate{Subject: pkix.Name{CommonName: "Test CA OCSP Responder"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature}
		if f.ocspMode == "delegated" {
			rt.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}
		}
		responder = sign(f.t, rt, f.cert, key.Public(), f.key)
		tmpl.Certificate = responder
	}
	der, err := ocsp.CreateResponse(f.cert, responder, tmpl, key)
	if err != nil {
		f.t.Error(err)
		return
	}
	_, _ = w.Write(der)
}

func (f *fakeCA) serveCRL(w http.ResponseWriter, _ *http.Request) {
	f.crlN.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.common(w, f.crlMode) {
		return
	}
	issuer, key := f.cert, f.key
	if f.crlMode == "badsig" {
		issuer, key = f.stranger()
	}
	now := f.clk.now()
	// RFC 5280 5.1.2.5 makes nextUpdate mandatory in a CRL (and Go
	// cannot make one without), so noNext is for OCSP only.
	tmpl := &x509.RevocationList{Number: big.NewInt(int64(f.crlN.Load())), ThisUpdate: now.Add(f.thisUpdate), NextUpdate: now.Add(f.nextUpdate)}
	for _, e := range f.revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, e)
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, issuer, key)
	if err != nil {
		f.t.Error(err)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	_, _ = w.Write(der)
}
