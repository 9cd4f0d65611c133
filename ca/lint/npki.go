package lint

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/zmap/zcrypto/x509"
	zl "github.com/zmap/zlint/v3/lint"
	"github.com/zmap/zlint/v3/util"

	"github.com/signet-ca/signet/internal/kst"
)

// sourceNPKI marks Signet's own lints, so that New can include them for subscriber certificates only.
const sourceNPKI zl.LintSource = "NPKI"

func init() {
	for _, l := range []struct {
		name, description, citation string
		lint                        func() zl.CertificateLintInterface
	}{
		{"e_npki_subject_dn_form",
			"subject is exactly C=KR, O, OU, OU, CN, one attribute per RDN, and CN is <name>()00<bank code><number>",
			"DESIGN.md Certificate profiles; appendix: NPKI facts (real subject DN)",
			func() zl.CertificateLintInterface { return subjectDNForm{} }},
		{"e_npki_subject_cn_too_long",
			"subject CN is at most 64 characters (ub-common-name), counted in characters, not bytes",
			"RFC 5280 Appendix A.1 ub-common-name; DESIGN.md Certificate profiles",
			func() zl.CertificateLintInterface { return cnLength{} }},
		{"e_npki_key_usage_not_signing_only",
			"key usage is present, critical, and exactly digitalSignature + nonRepudiation",
			"DESIGN.md Certificate profiles (key usage digitalSignature + nonRepudiation, critical)",
			func() zl.CertificateLintInterface { return keyUsage{} }},
		{"e_npki_cert_policy_qualifiers_missing",
			"a certificate policy carries a CPS URI and a user notice with explicitText",
			"DESIGN.md Certificate profiles; appendix: policy with CPS URI and a Korean user notice",
			func() zl.CertificateLintInterface { return policyQualifiers{} }},
		{"e_npki_not_after_not_kst_end_of_day",
			"notAfter is 23:59:59 KST (14:59:59Z) when the validity is a day or more",
			"DESIGN.md Certificate profiles (notAfter at 23:59:59 KST of the expiry day)",
			func() zl.CertificateLintInterface { return notAfterKST{} }},
		{"e_npki_missing_crl_distribution_point",
			"a CRL distribution point URI is present",
			"DESIGN.md Certificate profiles (CRL distribution point and OCSP AIA)",
			func() zl.CertificateLintInterface { return hasURL{"CRL distribution point", crlDPs} }},
		{"e_npki_missing_ocsp_aia",
			"an OCSP URI is present in authorityInfoAccess",
			"DESIGN.md Certificate profiles (CRL distribution point and OCSP AIA)",
			func() zl.CertificateLintInterface { return hasURL{"OCSP authorityInfoAccess", ocspURLs} }},
		{"e_npki_missing_ca_issuers_aia",
			"a caIssuers URI is present in authorityInfoAccess, so relying parties can fetch the issuer",
			"DESIGN.md Certificate profiles; RFC 5280 4.2.2.1",
			func() zl.CertificateLintInterface { return hasURL{"caIssuers authorityInfoAccess", caIssuersURLs} }},
	} {
		zl.RegisterCertificateLint(&zl.CertificateLint{
			LintMetadata: zl.LintMetadata{
				Name:        l.name,
				Description: l.description,
				Citation:    "Signet " + l.citation,
				Source:      sourceNPKI,
				// Signet's profile holds for every certificate it has issued, so no date limits it.
				EffectiveDate: util.ZeroDate,
			},
			Lint: l.lint,
		})
	}
}

var (
	oidCountry = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidOrg     = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOrgUnit = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidCN      = asn1.ObjectIdentifier{2, 5, 4, 3}

	// subjectDNOrder is the DER order (most significant first) of cn=…,ou=<bank>,ou=personal4IB,o=<CA>,c=kr.
	subjectDNOrder = []struct {
		oid  asn1.ObjectIdentifier
		name string
	}{{oidCountry, "C"}, {oidOrg, "O"}, {oidOrgUnit, "OU"}, {oidOrgUnit, "OU"}, {oidCN, "CN"}}

	// npkiCN is <name>()<number>, the number being "00", a 3-digit bank code, then the RA-assigned digits
	// (appendix: cn=홍길동()0003040200501070949785).
	npkiCN = regexp.MustCompile(`^[^()]+\(\)00[0-9]{3}[0-9]+$`)
)

func errorf(format string, args ...any) *zl.LintResult {
	return &zl.LintResult{Status: zl.Error, Details: fmt.Sprintf(format, args...)}
}

// pass is a function, not a shared value, because zlint writes the lint's metadata into each result.
func pass() *zl.LintResult { return &zl.LintResult{Status: zl.Pass} }

type subjectDNForm struct{}

func (subjectDNForm) CheckApplies(*x509.Certificate) bool { return true }

func (subjectDNForm) Execute(c *x509.Certificate) *zl.LintResult {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(c.RawSubject, &rdns); err != nil || len(rest) > 0 {
		return errorf("subject is not a DER RDNSequence")
	}
	if len(rdns) != len(subjectDNOrder) {
		return errorf("subject has %d RDNs, want 5: C=KR, O, OU, OU, CN", len(rdns))
	}
	for i, rdn := range rdns {
		want := subjectDNOrder[i]
		if len(rdn) != 1 {
			return errorf("subject RDN %d has %d attributes, want one %s", i+1, len(rdn), want.name)
		}
		if !rdn[0].Type.Equal(want.oid) {
			return errorf("subject RDN %d is %v, want %s (order C=KR, O, OU, OU, CN)", i+1, rdn[0].Type, want.name)
		}
		v, ok := rdn[0].Value.(string)
		if !ok || v == "" {
			return errorf("subject %s is empty or not a string", want.name)
		}
		switch {
		case want.name == "C" && v != "KR":
			return errorf("subject C is %q, want KR", v)
		case want.name == "CN" && !npkiCN.MatchString(v):
			return errorf("subject CN %q is not <name>()00<3-digit bank code><digits>", v)
		}
	}
	return pass()
}

type cnLength struct{}

func (cnLength) CheckApplies(c *x509.Certificate) bool { return len(c.Subject.CommonNames) > 0 }

func (cnLength) Execute(c *x509.Certificate) *zl.LintResult {
	for _, cn := range c.Subject.CommonNames {
		if n := utf8.RuneCountInString(cn); n > 64 {
			return errorf("subject CN has %d characters, the limit is 64", n)
		}
	}
	return pass()
}

type keyUsage struct{}

func (keyUsage) CheckApplies(*x509.Certificate) bool { return true }

func (keyUsage) Execute(c *x509.Certificate) *zl.LintResult {
	const want = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
	ext := util.GetExtFromCert(c, util.KeyUsageOID)
	switch {
	case ext == nil:
		return errorf("key usage extension is missing")
	case !ext.Critical:
		return errorf("key usage is not critical")
	case c.KeyUsage != want:
		return errorf("key usage bits are %#x, want exactly digitalSignature + nonRepudiation (%#x)", int(c.KeyUsage), int(want))
	}
	return pass()
}

type policyQualifiers struct{}

func (policyQualifiers) CheckApplies(*x509.Certificate) bool { return true }

func (policyQualifiers) Execute(c *x509.Certificate) *zl.LintResult {
	if len(c.PolicyIdentifiers) == 0 {
		return errorf("certificatePolicies extension is missing")
	}
	for i := range c.PolicyIdentifiers {
		cps := i < len(c.CPSuri) && anyNonEmpty(c.CPSuri[i])
		// zcrypto records an explicitText only when it is non-empty.
		notice := i < len(c.ExplicitTexts) && len(c.ExplicitTexts[i]) > 0
		if cps && notice {
			return pass()
		}
	}
	return errorf("no certificate policy carries both a CPS URI and a user notice with explicitText")
}

func anyNonEmpty(ss []string) bool {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return true
		}
	}
	return false
}

type notAfterKST struct{}

// CheckApplies leaves out validities under a day: demo profiles shortened below a day end exactly, since
// rounding up to midnight would multiply their length.
func (notAfterKST) CheckApplies(c *x509.Certificate) bool {
	return c.NotAfter.Sub(c.NotBefore) >= 24*time.Hour
}

func (notAfterKST) Execute(c *x509.Certificate) *zl.LintResult {
	t := c.NotAfter.In(kst.Zone)
	if h, m, s := t.Clock(); h != 23 || m != 59 || s != 59 {
		return errorf("notAfter is %s, want 23:59:59 KST (14:59:59Z)", t.Format(time.RFC3339))
	}
	return pass()
}

func crlDPs(c *x509.Certificate) []string        { return c.CRLDistributionPoints }
func ocspURLs(c *x509.Certificate) []string      { return c.OCSPServer }
func caIssuersURLs(c *x509.Certificate) []string { return c.IssuingCertificateURL }

// hasURL refuses a certificate that lacks a URL relying parties need to check it.
type hasURL struct {
	what string
	urls func(*x509.Certificate) []string
}

func (hasURL) CheckApplies(*x509.Certificate) bool { return true }

func (h hasURL) Execute(c *x509.Certificate) *zl.LintResult {
	if !anyNonEmpty(h.urls(c)) {
		return errorf("%s URI is missing", h.what)
	}
	return pass()
}
