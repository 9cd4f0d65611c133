package otherca

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"sort"

	"golang.org/x/crypto/ocsp"
)

// Handler serves the CA's publications under /otherca/, where issued
// certificates point:
//
//	GET  /otherca/crl     DER CRL signed by the intermediate
//	POST /otherca/ocsp    RFC 6960 OCSP, signed by the intermediate itself
//	GET  /otherca/ca.crt  PEM chain: intermediate, then root
//	GET  /otherca/issuer.cer  the intermediate alone, DER: what the
//	                          certificates' caIssuers names (RFC 5280
//	                          4.2.2.1 wants DER there, not a PEM bundle)
//
// Mount it as mux.Handle("/otherca/", ca.Handler()).
func (c *CA) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /otherca/crl", c.serveCRL)
	mux.HandleFunc("POST /otherca/ocsp", c.serveOCSP)
	mux.HandleFunc("GET /otherca/ca.crt", c.serveChain)
	mux.HandleFunc("GET /otherca/issuer.cer", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/pkix-cert")
		_, _ = w.Write(c.inter.Raw)
	})
	return mux
}

func (c *CA) serveChain(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	for _, cert := range []*x509.Certificate{c.inter, c.root} {
		_ = pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	}
}

func (c *CA) serveCRL(w http.ResponseWriter, _ *http.Request) {
	der, err := c.currentCRL()
	if err != nil {
		http.Error(w, "otherca: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	_, _ = w.Write(der)
}

// currentCRL returns the CRL to serve, signing a new one (with the next
// number, kept in the state file so numbers increase across restarts)
// after a revocation or once the served one is crlRefresh old.
func (c *CA) currentCRL() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.crl != nil && now.Before(c.crlAt.Add(crlRefresh)) && !now.Before(c.crlAt) {
		return c.crl, nil
	}
	var entries []x509.RevocationListEntry
	for _, r := range c.st.Certs {
		if r.RevokedAt == nil {
			continue
		}
		serial, _ := new(big.Int).SetString(r.Serial, 16)
		entries = append(entries, x509.RevocationListEntry{SerialNumber: serial, RevocationTime: *r.RevokedAt, ReasonCode: r.Reason})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].SerialNumber.Cmp(entries[j].SerialNumber) < 0 })
	c.st.CRLNumber++
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(c.st.CRLNumber),
		ThisUpdate:                now,
		NextUpdate:                now.Add(crlValidity),
		RevokedCertificateEntries: entries,
	}, c.inter, c.key)
	if err == nil {
		err = c.save()
	}
	if err != nil {
		c.st.CRLNumber--
		return nil, err
	}
	c.crl, c.crlAt = der, now
	return der, nil
}

// maxOCSPRequest bounds a POST body; a one-certificate request is about
// a hundred bytes.
const maxOCSPRequest = 10 << 10

// serveOCSP answers every request, errors included, as HTTP 200 with an
// OCSP body: the status inside is what OCSP clients read.
func (c *CA) serveOCSP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/ocsp-response")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOCSPRequest))
	if err != nil {
		_, _ = w.Write(ocsp.MalformedRequestErrorResponse)
		return
	}
	req, err := ocsp.ParseRequest(body)
	if err != nil {
		_, _ = w.Write(ocsp.MalformedRequestErrorResponse)
		return
	}
	if !c.isIssuer(req) {
		_, _ = w.Write(ocsp.UnauthorizedErrorResponse)
		return
	}
	now := c.now()
	tmpl := ocsp.Response{
		Status: ocsp.Unknown, SerialNumber: req.SerialNumber, IssuerHash: req.HashAlgorithm,
		ThisUpdate: now, NextUpdate: now.Add(ocspValidity),
	}
	c.mu.Lock()
	if rec, ok := c.bySer[req.SerialNumber.Text(16)]; ok {
		tmpl.Status = ocsp.Good
		if rec.RevokedAt != nil {
			tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, *rec.RevokedAt, rec.Reason
		}
	}
	c.mu.Unlock()
	der, err := ocsp.CreateResponse(c.inter, c.inter, tmpl, c.key)
	if err != nil {
		_, _ = w.Write(ocsp.InternalErrorErrorResponse)
		return
	}
	_, _ = w.Write(der)
}

// isIssuer tells whether req's CertID names this CA's intermediate: an
// answer about another issuer's serial would be meaningless.
func (c *CA) isIssuer(req *ocsp.Request) bool {
	if !req.HashAlgorithm.Available() {
		return false
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(c.inter.RawSubjectPublicKeyInfo, &spki); err != nil {
		return false
	}
	h := req.HashAlgorithm.New()
	h.Write(c.inter.RawSubject)
	name := h.Sum(nil)
	h.Reset()
	h.Write(spki.PublicKey.RightAlign())
	return bytes.Equal(name, req.IssuerNameHash) && bytes.Equal(h.Sum(nil), req.IssuerKeyHash)
}
