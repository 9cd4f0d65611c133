// Package lint refuses a to-be-signed certificate that breaks RFC 5280 or Signet's NPKI profile, before the
// CA key signs it.
//
// The issuer signs the TBS with a throwaway key of the CA key's algorithm, so that the DER it lints is
// byte-identical to what the CA key will sign except for the signature itself, and hands that DER here (as
// Boulder's linter does). Linting runs zlint over registries filtered once in New.
package lint

import (
	"fmt"
	"slices"
	"strings"

	"github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	zl "github.com/zmap/zlint/v3/lint"
)

// rfcSources are the zlint sources that hold for any X.509 certificate Signet makes: RFC 5280 and the RFCs
// that profile its algorithms (RFC 3279 RSA key usage, RFC 5480 and RFC 8813 ECDSA key usage), plus the
// community lints (encoding mistakes, weak keys). The CA/B Forum (TLS, S/MIME, code signing, EV), browser
// root-program and ETSI sources are left out: a 공동인증서 is none of those. RFC 6962 (CT) and RFC 5891 (IDN
// host names) are left out because Signet certificates carry neither SCTs nor DNS names.
var rfcSources = zl.SourceList{zl.RFC5280, zl.RFC3279, zl.RFC5480, zl.RFC8813, zl.Community}

// No RFC or community lint is wrong for Signet's certificates, so none is excluded for being wrong.
//
// subscriberReplaced are lints that Subscriber runs in a faster form of Signet's own, so as to stay within the
// issuance path's budget (~0.5 ms of non-signing work per certificate). Infrastructure keeps zlint's.
var subscriberReplaced = []string{
	// e_npki_rsa_fermat_factorization (fermat.go): the same 100 rounds, about 100 times cheaper.
	"e_rsa_fermat_factorization",
	notApplicable[0],
}

// notApplicable are lints that cannot fire for a CA whose issuing key Signet
// itself holds. e_cert_issued_by_compromised_emudhra_ca tries every
// ECDSA-signed certificate's signature against eMudhra's 8 compromised P-384
// keys: 14-17 ms per certificate, most of an ECDSA CA's issuance cost, to
// learn whether our own key is one of theirs.
var notApplicable = []string{"e_cert_issued_by_compromised_emudhra_ca"}

// Linter holds the filtered zlint registries; build it once at start, since filtering walks every
// registered lint.
type Linter struct {
	subscriber     zl.Registry
	infrastructure zl.Registry
}

// New filters zlint's global registry into the subscriber and infrastructure sets.
func New() (*Linter, error) {
	infra, err := zl.GlobalRegistry().Filter(zl.FilterOptions{IncludeSources: rfcSources, ExcludeNames: notApplicable})
	if err != nil {
		return nil, fmt.Errorf("lint: filtering the infrastructure lints: %w", err)
	}
	sub, err := zl.GlobalRegistry().Filter(zl.FilterOptions{
		IncludeSources: append(append(zl.SourceList{}, rfcSources...), sourceNPKI),
		ExcludeNames:   subscriberReplaced,
	})
	if err != nil {
		return nil, fmt.Errorf("lint: filtering the subscriber lints: %w", err)
	}
	return &Linter{subscriber: sub, infrastructure: infra}, nil
}

// Subscriber lints a subscriber signing certificate: the RFC and community lints that apply to a non-TLS
// signing certificate, plus Signet's NPKI profile lints (DESIGN.md "Certificate profiles"). It returns *Error
// when any lint says Error or Fatal; warnings and notices do not refuse and are not reported, because a
// finding the issuer cannot act on at signing time belongs in a review of the profile, not in the issuance
// path.
func (l *Linter) Subscriber(der []byte) error {
	return refuse(run(l.subscriber, der))
}

// Infrastructure lints the CA's own certificates (delegated OCSP responder, audit signer, staff client
// certificates): RFC and community lints only, since the NPKI subscriber profile does not describe them.
func (l *Linter) Infrastructure(der []byte) error {
	return refuse(run(l.infrastructure, der))
}

// Error refuses a certificate; Findings holds every lint that said Error or Fatal, in lint name order.
type Error struct {
	Findings []Finding
}

// Finding is one lint's verdict.
type Finding struct {
	Lint    string // zlint lint name, e.g. e_npki_missing_ca_issuers_aia
	Status  string // zlint's label: "error" or "fatal" in an Error; "warn" or "info" (a notice) otherwise
	Details string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("lint: certificate refused:")
	for i, f := range e.Findings {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteByte(' ')
		b.WriteString(f.Lint)
		if f.Status != "error" {
			b.WriteString(" (" + f.Status + ")")
		}
		if f.Details != "" {
			b.WriteString(": " + f.Details)
		}
	}
	return b.String()
}

// outcome is one lint run: refusing findings (Error, Fatal) apart from advisory ones (Warn, Notice).
type outcome struct {
	refusing []Finding
	advisory []Finding
	err      error
}

func refuse(o outcome) error {
	if o.err != nil {
		return o.err
	}
	if len(o.refusing) > 0 {
		return &Error{Findings: o.refusing}
	}
	return nil
}

func run(reg zl.Registry, der []byte) outcome {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		// A TBS that zcrypto cannot parse is refused as well: nothing can vouch for it.
		return outcome{err: fmt.Errorf("lint: parsing the certificate: %w", err)}
	}
	var o outcome
	rs := zlint.LintCertificateEx(cert, reg)
	if !rs.ErrorsPresent && !rs.FatalsPresent && !rs.WarningsPresent && !rs.NoticesPresent {
		return o
	}
	for name, r := range rs.Results {
		f := Finding{Lint: name, Status: r.Status.String(), Details: r.Details}
		switch r.Status {
		case zl.Error, zl.Fatal:
			o.refusing = append(o.refusing, f)
		case zl.Warn, zl.Notice:
			o.advisory = append(o.advisory, f)
		}
	}
	sortFindings(o.refusing)
	sortFindings(o.advisory)
	return o
}

// sortFindings orders by lint name, because zlint returns results in a map and a refusal should read the
// same every time.
func sortFindings(fs []Finding) {
	slices.SortFunc(fs, func(a, b Finding) int { return strings.Compare(a.Lint, b.Lint) })
}
