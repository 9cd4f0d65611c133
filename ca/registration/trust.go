// Package registration is registering other CAs' joint certificates for use
// here (타행/타기관 인증서 등록 · 해제) and judging them at sign-in: a person
// proves who they are (identity evidence), that they hold the certificate's
// key (a key proof over a challenge), and that the certificate is theirs
// (its VID recomputed from their resident number and the key file's R).
// Signet then checks the chain against a trust list of other CAs, the
// validity, the key usage and the live status at the issuing CA.
//
// The resident number (idn) and R are used in memory only: nothing here
// stores, audits or logs them.
package registration

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// TrustedCA is one other joint-certificate CA: its roots and the
// intermediates that issue subscriber certificates.
type TrustedCA struct {
	Name          string
	Roots         []*x509.Certificate
	Intermediates []*x509.Certificate
}

// TrustList is the configured set of other CAs whose certificates may be
// registered.
type TrustList struct {
	cas []trusted
}

type trusted struct {
	name          string
	roots, inters *x509.CertPool
}

// NewTrustList checks each entry: a unique name, at least one root, every
// root a self-signed CA, every intermediate a CA that chains to one of the
// entry's roots. A list that cannot validate anything is a configuration
// mistake better found at start than at the first registration.
func NewTrustList(cas []TrustedCA, now time.Time) (*TrustList, error) {
	l := &TrustList{}
	seen := map[string]bool{}
	for i, c := range cas {
		if c.Name == "" {
			return nil, fmt.Errorf("otherCAs[%d]: a name is required", i)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("otherCAs: %q is listed twice", c.Name)
		}
		seen[c.Name] = true
		if len(c.Roots) == 0 {
			return nil, fmt.Errorf("otherCAs %q: no root certificate", c.Name)
		}
		t := trusted{name: c.Name, roots: x509.NewCertPool(), inters: x509.NewCertPool()}
		for _, r := range c.Roots {
			if !r.IsCA || r.CheckSignatureFrom(r) != nil {
				return nil, fmt.Errorf("otherCAs %q: root %q is not a self-signed CA certificate", c.Name, r.Subject)
			}
			t.roots.AddCert(r)
		}
		for _, in := range c.Intermediates {
			if !in.IsCA {
				return nil, fmt.Errorf("otherCAs %q: intermediate %q is not a CA certificate", c.Name, in.Subject)
			}
			if _, err := in.Verify(x509.VerifyOptions{Roots: t.roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				return nil, fmt.Errorf("otherCAs %q: intermediate %q does not chain to its roots now: %v", c.Name, in.Subject, err)
			}
			t.inters.AddCert(in)
		}
		l.cas = append(l.cas, t)
	}
	return l, nil
}

// Len is how many CAs the list holds.
func (l *TrustList) Len() int {
	if l == nil {
		return 0
	}
	return len(l.cas)
}

// errUntrusted is a chain that ends in no listed CA.
var errUntrusted = errors.New("registration: the certificate does not chain to a trusted CA")

// Chain finds the listed CA that cert chains to at time at, with extra
// intermediates the caller sent, and returns its name and cert's issuer.
func (l *TrustList) Chain(cert *x509.Certificate, extra []*x509.Certificate, at time.Time) (string, *x509.Certificate, error) {
	if l == nil {
		return "", nil, errUntrusted
	}
	for _, t := range l.cas {
		inters := t.inters
		if len(extra) > 0 {
			inters = t.inters.Clone()
			for _, e := range extra {
				inters.AddCert(e)
			}
		}
		// NPKI subscriber certificates carry no extended key usage; any
		// is accepted, the key usage is checked on its own.
		chains, err := cert.Verify(x509.VerifyOptions{Roots: t.roots, Intermediates: inters, CurrentTime: at,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err != nil || len(chains) == 0 || len(chains[0]) < 2 {
			continue
		}
		return t.name, chains[0][1], nil
	}
	return "", nil, errUntrusted
}

// Fingerprint is how a registration names its certificate: SHA-256 of
// the DER. A serial is unique only per issuer.
func Fingerprint(cert *x509.Certificate) []byte {
	sum := sha256.Sum256(cert.Raw)
	return sum[:]
}
