package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/crypto/ocsp"
)

// seenSignatures is what clients of a run were handed, keyed so that each
// can be found in the signature ledger.
type seenSignatures struct {
	certs map[string][]byte // kind/serial -> DER
	crls  map[int64][]byte  // CRL number -> DER
}

func newSeen() seenSignatures {
	return seenSignatures{certs: map[string][]byte{}, crls: map[int64][]byte{}}
}

func (s seenSignatures) cert(t *testing.T, kind string, der []byte) {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	s.certs[kind+"/"+c.SerialNumber.Text(16)] = der
}

// ocspResponse records the delegated responder certificate that signed a
// response openssl saved.
func (s seenSignatures) ocspResponse(t *testing.T, path string) {
	t.Helper()
	der, err := os.ReadFile(path)
	if err != nil {
		return // openssl failed; wantOCSP reports it
	}
	resp, err := ocsp.ParseResponse(der, nil)
	if err != nil || resp.Certificate == nil {
		t.Errorf("OCSP response without a responder certificate: %v", err)
		return
	}
	s.cert(t, "ocsp_responder", resp.Certificate.Raw)
}

func (e *env) readDER(c cert) []byte {
	e.t.Helper()
	x, _ := e.readCert(c)
	return x.Raw
}

// ledgerRow is `signet admin signatures --json` output.
type ledgerRow struct {
	Kind      string `json:"kind"`
	Serial    string `json:"serial"`
	CRLNumber int64  `json:"crl_number"`
	State     string `json:"state"`
	Purpose   string `json:"purpose"`
	DER       string `json:"der"`
}

// checkLedger: every signature the CA keys made in the run is listed by
// the admin query, and matches, byte for byte, the certificates, CRLs,
// responder certificates and staff certificates that clients saw.
// Conversely, every certificate and CRL the database holds has its issued
// ledger row, and nothing is left open.
func (e *env) checkLedger() map[string]int {
	e.t.Helper()
	for _, role := range []string{"auditor", "operator"} {
		b, err := os.ReadFile(filepath.Join(e.state, "admin-"+role+".pem"))
		if err != nil {
			e.t.Fatal(err)
		}
		block, _ := pem.Decode(b)
		e.seen.cert(e.t, "staff", block.Bytes)
	}
	var rows []ledgerRow
	e.adminJSON(&rows, "signatures", "--all", "--limit", "50")
	byKey := map[string]ledgerRow{}
	kinds := map[string]int{}
	for _, r := range rows {
		kinds[r.Kind]++
		if r.State == "reserved" {
			e.t.Errorf("ledger row %s %s%d is still open after the run", r.Kind, r.Serial, r.CRLNumber)
		}
		if r.Kind == "crl" {
			byKey["crl/"+itoa(r.CRLNumber)] = r
		} else {
			byKey[r.Kind+"/"+r.Serial] = r
		}
	}
	e.t.Logf("ledger after the run: %d signatures %v", len(rows), kinds)
	for key, der := range e.seen.certs {
		r, ok := byKey[key]
		if !ok {
			e.t.Errorf("a client saw %s, which the signature ledger does not list", key)
			continue
		}
		if got, _ := base64.StdEncoding.DecodeString(r.DER); r.State != "issued" || !bytes.Equal(got, der) {
			e.t.Errorf("ledger row %s: state %s, DER equal %v; want issued with the DER the client saw", key, r.State, bytes.Equal(got, der))
		}
	}
	for n, der := range e.seen.crls {
		r, ok := byKey["crl/"+itoa(n)]
		if !ok {
			e.t.Errorf("a client fetched CRL %d, which the signature ledger does not list", n)
			continue
		}
		if got, _ := base64.StdEncoding.DecodeString(r.DER); r.State != "issued" || !bytes.Equal(got, der) {
			e.t.Errorf("ledger row of CRL %d: state %s; want issued with the DER the client fetched", n, r.State)
		}
	}

	// The other direction, read as the superuser: no certificate, CRL,
	// delegated key or checkpoint signer without its issued ledger row.
	conn := e.superuser()
	for what, q := range map[string]string{
		"certificates without an issued ledger row": `SELECT count(*) FROM certificates c WHERE NOT EXISTS
			(SELECT 1 FROM signatures s WHERE s.kind = 'subscriber' AND s.serial = c.serial AND s.state = 'issued' AND s.der = c.der)`,
		"issued subscriber rows without their certificate": `SELECT count(*) FROM signatures s WHERE s.kind = 'subscriber'
			AND s.state = 'issued' AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.serial = s.serial AND c.der = s.der)`,
		"CRLs without an issued ledger row": `SELECT count(*) FROM crls c WHERE c.der IS NOT NULL AND NOT EXISTS
			(SELECT 1 FROM signatures s WHERE s.kind = 'crl' AND s.crl_number = c.number AND s.state = 'issued' AND s.der = c.der)`,
		"delegated keys without an issued ledger row": `SELECT count(*) FROM delegated_keys d WHERE NOT EXISTS
			(SELECT 1 FROM signatures s WHERE s.kind = d.purpose AND s.serial = d.serial AND s.state = 'issued' AND s.der = d.cert_der)`,
	} {
		var n int
		if err := conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
			e.t.Fatalf("%s: %v", what, err)
		}
		if n != 0 {
			e.t.Errorf("%d %s", n, what)
		}
	}
	return kinds
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
