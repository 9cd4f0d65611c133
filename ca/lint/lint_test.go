package lint

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/signet-ca/signet/internal/kst"
)

// keys are made once per test binary: RSA-2048 generation is slow, the more so under -race.
var keys = sync.OnceValues(func() (issuer, subscriber *rsa.PrivateKey) {
	var err error
	if issuer, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if subscriber, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	return issuer, subscriber
})

var testIssuer = sync.OnceValue(func() *x509.Certificate {
	key, _ := keys()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Country: []string{"KR"}, Organization: []string{"Signet"}, OrganizationalUnit: []string{"Licensed CA"}, CommonName: "Signet Test CA Class 2"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return cert
})

const testCN = "홍길동()0008812345678901234"

// subjectDER is cn=<cn>,ou=<bank>,ou=personal4IB,o=Signet,c=kr with one attribute per RDN, in DER order.
// pkix.Name cannot express it: it puts both OUs into one multi-valued RDN.
func subjectDER(t testing.TB, cn string) []byte {
	t.Helper()
	return rdnsDER(t, [][2]any{
		{oidCountry, "KR"}, {oidOrg, "Signet"}, {oidOrgUnit, "personal4IB"}, {oidOrgUnit, "KB"}, {oidCN, cn},
	})
}

func rdnsDER(t testing.TB, attrs [][2]any) []byte {
	t.Helper()
	var seq pkix.RDNSequence
	for _, a := range attrs {
		seq = append(seq, pkix.RelativeDistinguishedNameSET{{Type: a[0].(asn1.ObjectIdentifier), Value: a[1]}})
	}
	der, err := asn1.Marshal(seq)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

type policyInformation struct {
	Policy     asn1.ObjectIdentifier
	Qualifiers []policyQualifier `asn1:"optional"`
}

type policyQualifier struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue
}

type userNotice struct {
	ExplicitText string `asn1:"utf8"`
}

var (
	oidCertPolicies = asn1.ObjectIdentifier{2, 5, 29, 32}
	oidCPS          = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 2, 1}
	oidUserNotice   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 2, 2}
	oidTestPolicy   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 1, 1, 4}
)

// policiesExt is certificatePolicies with the personal-banking test OID and the given qualifiers; an empty
// cps or notice leaves that qualifier out.
func policiesExt(t testing.TB, cps, notice string) pkix.Extension {
	t.Helper()
	pi := policyInformation{Policy: oidTestPolicy}
	if cps != "" {
		v, err := asn1.MarshalWithParams(cps, "ia5")
		if err != nil {
			t.Fatal(err)
		}
		pi.Qualifiers = append(pi.Qualifiers, policyQualifier{oidCPS, asn1.RawValue{FullBytes: v}})
	}
	if notice != "" {
		v, err := asn1.Marshal(userNotice{notice})
		if err != nil {
			t.Fatal(err)
		}
		pi.Qualifiers = append(pi.Qualifiers, policyQualifier{oidUserNotice, asn1.RawValue{FullBytes: v}})
	}
	v, err := asn1.Marshal([]policyInformation{pi})
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: oidCertPolicies, Value: v}
}

// signetTemplate is a personal-banking certificate as DESIGN.md "Certificate profiles" describes it.
func signetTemplate(t testing.TB) *x509.Certificate {
	t.Helper()
	serial := make([]byte, 20)
	if _, err := rand.Read(serial); err != nil {
		t.Fatal(err)
	}
	serial[0] = serial[0]&0x7f | 0x40 // positive and exactly 20 octets
	now := time.Now().UTC().Truncate(time.Second)
	expiry := now.AddDate(1, 0, 0).In(kst.Zone)
	notAfter := time.Date(expiry.Year(), expiry.Month(), expiry.Day(), 23, 59, 59, 0, kst.Zone)
	return &x509.Certificate{
		SerialNumber:          new(big.Int).SetBytes(serial),
		RawSubject:            subjectDER(t, testCN),
		NotBefore:             now,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		BasicConstraintsValid: true,
		SubjectKeyId:          []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20},
		CRLDistributionPoints: []string{"http://signet.example/crl/1.crl"},
		OCSPServer:            []string{"http://signet.example/ocsp"},
		IssuingCertificateURL: []string{"http://signet.example/ca.cer"},
		ExtraExtensions:       []pkix.Extension{policiesExt(t, "https://signet.example/cps", "이 인증서는 은행/신용카드/보험용 공동인증서입니다")},
	}
}

func build(t testing.TB, tmpl *x509.Certificate) []byte {
	t.Helper()
	issuerKey, subscriberKey := keys()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, testIssuer(), &subscriberKey.PublicKey, issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func newLinter(t testing.TB) *Linter {
	t.Helper()
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// lintNames returns the names of the refusing findings in err, failing the test if err is not an *Error.
func lintNames(t *testing.T, err error) []string {
	t.Helper()
	var lerr *Error
	if !errors.As(err, &lerr) {
		t.Fatalf("want *lint.Error, got %v", err)
	}
	var names []string
	for _, f := range lerr.Findings {
		names = append(names, f.Lint)
	}
	return names
}

func TestSubscriber_AcceptsSignetPersonalBanking(t *testing.T) {
	l := newLinter(t)
	der := build(t, signetTemplate(t))
	if err := l.Subscriber(der); err != nil {
		t.Fatal(err)
	}
	// Not even a warning or notice: the profile is meant to be clean, not merely acceptable.
	o := run(l.subscriber, der)
	if o.err != nil || len(o.refusing) != 0 || len(o.advisory) != 0 {
		t.Fatalf("want no findings, got err=%v refusing=%v advisory=%v", o.err, o.refusing, o.advisory)
	}
}

func TestSubscriber_RunsEveryNPKILint(t *testing.T) {
	l := newLinter(t)
	var npki []string
	for _, name := range l.subscriber.Names() {
		if strings.HasPrefix(name, "e_npki_") {
			npki = append(npki, name)
		}
	}
	// The eight profile lints of DESIGN.md "Certificate profiles" and the sieved Fermat lint.
	if len(npki) != 9 {
		t.Fatalf("subscriber registry has %d NPKI lints, want 9: %v", len(npki), npki)
	}
	if slices.Contains(l.subscriber.Names(), "e_rsa_fermat_factorization") || !slices.Contains(l.infrastructure.Names(), "e_rsa_fermat_factorization") {
		t.Error("zlint's Fermat lint should run for infrastructure certificates only")
	}
	for _, name := range l.infrastructure.Names() {
		if strings.HasPrefix(name, "e_npki_") {
			t.Errorf("infrastructure registry includes %s", name)
		}
	}
}

func TestSubscriber_RefusesEachNPKIViolation(t *testing.T) {
	l := newLinter(t)
	longCN := strings.Repeat("홍", 44) + "()0008812345678901234"
	fitCN := strings.Repeat("홍", 43) + "()0008812345678901234"
	if n, m := utf8.RuneCountInString(longCN), utf8.RuneCountInString(fitCN); n != 65 || m != 64 {
		t.Fatalf("test CNs have %d and %d characters, want 65 and 64", n, m)
	}
	cases := []struct {
		name   string
		mutate func(c *x509.Certificate)
		want   []string
	}{
		{"subject O before C", func(c *x509.Certificate) {
			c.RawSubject = rdnsDER(t, [][2]any{{oidOrg, "Signet"}, {oidCountry, "KR"}, {oidOrgUnit, "personal4IB"}, {oidOrgUnit, "KB"}, {oidCN, testCN}})
		}, []string{"e_npki_subject_dn_form"}},
		{"subject without the bank OU", func(c *x509.Certificate) {
			c.RawSubject = rdnsDER(t, [][2]any{{oidCountry, "KR"}, {oidOrg, "Signet"}, {oidOrgUnit, "personal4IB"}, {oidCN, testCN}})
		}, []string{"e_npki_subject_dn_form"}},
		{"subject C is not KR", func(c *x509.Certificate) {
			c.RawSubject = rdnsDER(t, [][2]any{{oidCountry, "US"}, {oidOrg, "Signet"}, {oidOrgUnit, "personal4IB"}, {oidOrgUnit, "KB"}, {oidCN, testCN}})
		}, []string{"e_npki_subject_dn_form"}},
		{"both OUs in one multi-valued RDN", func(c *x509.Certificate) {
			c.RawSubject = nil
			c.Subject = pkix.Name{Country: []string{"KR"}, Organization: []string{"Signet"}, OrganizationalUnit: []string{"personal4IB", "KB"}, CommonName: testCN}
		}, []string{"e_npki_subject_dn_form", "n_multiple_subject_rdn"}},
		{"CN without ()", func(c *x509.Certificate) { c.RawSubject = subjectDER(t, "홍길동0008812345678901234") }, []string{"e_npki_subject_dn_form"}},
		{"CN digits without the 00 prefix", func(c *x509.Certificate) { c.RawSubject = subjectDER(t, "홍길동()1108812345678901234") }, []string{"e_npki_subject_dn_form"}},
		{"CN with a bank code only", func(c *x509.Certificate) { c.RawSubject = subjectDER(t, "홍길동()00088") }, []string{"e_npki_subject_dn_form"}},
		{"CN of 65 characters", func(c *x509.Certificate) { c.RawSubject = subjectDER(t, longCN) }, []string{"e_npki_subject_cn_too_long", "e_subject_common_name_max_length"}},
		{"key usage not critical", func(c *x509.Certificate) {
			v, _ := asn1.Marshal(asn1.BitString{Bytes: []byte{0xc0}, BitLength: 2})
			c.ExtraExtensions = append(c.ExtraExtensions, pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 15}, Value: v})
		}, []string{"e_npki_key_usage_not_signing_only", "w_ext_key_usage_not_critical"}},
		{"key usage with keyEncipherment", func(c *x509.Certificate) { c.KeyUsage |= x509.KeyUsageKeyEncipherment }, []string{"e_npki_key_usage_not_signing_only"}},
		{"key usage digitalSignature only", func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageDigitalSignature }, []string{"e_npki_key_usage_not_signing_only"}},
		{"key usage missing", func(c *x509.Certificate) { c.KeyUsage = 0 }, []string{"e_npki_key_usage_not_signing_only"}},
		{"certificatePolicies missing", func(c *x509.Certificate) { c.ExtraExtensions = nil }, []string{"e_npki_cert_policy_qualifiers_missing"}},
		{"policy without a user notice", func(c *x509.Certificate) {
			c.ExtraExtensions = []pkix.Extension{policiesExt(t, "https://signet.example/cps", "")}
		}, []string{"e_npki_cert_policy_qualifiers_missing"}},
		{"policy without a CPS URI", func(c *x509.Certificate) {
			c.ExtraExtensions = []pkix.Extension{policiesExt(t, "", "이 인증서는 은행/신용카드/보험용 공동인증서입니다")}
		}, []string{"e_npki_cert_policy_qualifiers_missing"}},
		{"notAfter at midnight KST", func(c *x509.Certificate) { c.NotAfter = c.NotAfter.Add(time.Second) }, []string{"e_npki_not_after_not_kst_end_of_day"}},
		{"notAfter at 23:59:59Z", func(c *x509.Certificate) { c.NotAfter = c.NotAfter.Add(9 * time.Hour) }, []string{"e_npki_not_after_not_kst_end_of_day"}},
		{"CRL distribution point missing", func(c *x509.Certificate) { c.CRLDistributionPoints = nil }, []string{"e_npki_missing_crl_distribution_point"}},
		{"OCSP AIA missing", func(c *x509.Certificate) { c.OCSPServer = nil }, []string{"e_npki_missing_ocsp_aia"}},
		{"caIssuers AIA missing", func(c *x509.Certificate) { c.IssuingCertificateURL = nil }, []string{"e_npki_missing_ca_issuers_aia"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := signetTemplate(t)
			tc.mutate(tmpl)
			der := build(t, tmpl)
			o := run(l.subscriber, der)
			if o.err != nil {
				t.Fatal(o.err)
			}
			var got []string
			for _, f := range append(o.refusing, o.advisory...) {
				got = append(got, f.Lint)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("findings %v, want %v", got, tc.want)
			}
			err := l.Subscriber(der)
			if !slices.Contains(lintNames(t, err), tc.want[0]) {
				t.Fatalf("Subscriber error %v does not name %s", err, tc.want[0])
			}
		})
	}

	t.Run("CN of 64 Hangul-heavy characters fits", func(t *testing.T) {
		tmpl := signetTemplate(t)
		tmpl.RawSubject = subjectDER(t, fitCN)
		if err := l.Subscriber(build(t, tmpl)); err != nil {
			t.Fatalf("a 64-character CN of %d bytes is within ub-common-name: %v", len(fitCN), err)
		}
	})
	t.Run("validity under a day may end at any second", func(t *testing.T) {
		tmpl := signetTemplate(t)
		tmpl.NotAfter = tmpl.NotBefore.Add(10 * time.Minute)
		if err := l.Subscriber(build(t, tmpl)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestInfrastructure_RefusesRFC5280Violation(t *testing.T) {
	l := newLinter(t)
	tmpl := ocspResponderTemplate()
	tmpl.Subject.CommonName = strings.Repeat("Signet OCSP Responder ", 3) // 66 characters
	err := l.Infrastructure(build(t, tmpl))
	if !slices.Equal(lintNames(t, err), []string{"e_subject_common_name_max_length"}) {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(err.Error(), "e_subject_common_name_max_length") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Error() should name the lint on one line: %q", err.Error())
	}
}

func TestSubscriber_RefusesNegativeSerial(t *testing.T) {
	l := newLinter(t)
	der := withSerial(t, build(t, signetTemplate(t)), big.NewInt(-1234567))
	if !slices.Contains(lintNames(t, l.Subscriber(der)), "e_serial_number_not_positive") {
		t.Fatal("negative serial not refused")
	}
}

func TestSubscriber_RefusesOversizedSerial(t *testing.T) {
	l := newLinter(t)
	oversized := new(big.Int).Lsh(big.NewInt(1), 8*21) // 22 octets in DER
	der := withSerial(t, build(t, signetTemplate(t)), oversized)
	if !slices.Contains(lintNames(t, l.Subscriber(der)), "e_serial_number_longer_than_20_octets") {
		t.Fatal("oversized serial not refused")
	}
}

// withSerial swaps the serial in der's TBS. crypto/x509 refuses to create such certificates, and zlint does not
// check signatures, so the original signature is kept.
func withSerial(t *testing.T, der []byte, serial *big.Int) []byte {
	t.Helper()
	var cert struct {
		TBS    asn1.RawValue
		SigAlg asn1.RawValue
		Sig    asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &cert); err != nil {
		t.Fatal(err)
	}
	var fields []asn1.RawValue
	if _, err := asn1.Unmarshal(cert.TBS.FullBytes, &fields); err != nil {
		t.Fatal(err)
	}
	s, err := asn1.Marshal(serial)
	if err != nil {
		t.Fatal(err)
	}
	fields[1] = asn1.RawValue{FullBytes: s} // fields[0] is the [0] version
	tbs, err := asn1.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	cert.TBS = asn1.RawValue{FullBytes: tbs}
	out, err := asn1.Marshal(cert)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}

// ocspResponderTemplate is a delegated OCSP signer as RFC 6960 4.2.2.2 describes it.
func ocspResponderTemplate() *x509.Certificate {
	now := time.Now().UTC().Truncate(time.Second)
	return &x509.Certificate{
		SerialNumber:          new(big.Int).Lsh(big.NewInt(0x5a), 150),
		Subject:               pkix.Name{Country: []string{"KR"}, Organization: []string{"Signet"}, CommonName: "Signet OCSP Responder"},
		NotBefore:             now,
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
		BasicConstraintsValid: true,
		SubjectKeyId:          []byte{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
		ExtraExtensions:       []pkix.Extension{{Id: oidOCSPNoCheck, Value: []byte{0x05, 0x00}}},
	}
}

func TestInfrastructure_AcceptsDelegatedOCSPSigner(t *testing.T) {
	l := newLinter(t)
	der := build(t, ocspResponderTemplate())
	if err := l.Infrastructure(der); err != nil {
		t.Fatal(err)
	}
	// The same certificate is no subscriber certificate: the NPKI lints must be what tells them apart.
	for _, name := range lintNames(t, l.Subscriber(der)) {
		if !strings.HasPrefix(name, "e_npki_") {
			t.Errorf("Subscriber refused the OCSP signer for a non-NPKI reason: %s", name)
		}
	}
}

func TestSubscriber_RefusesUnparsableDER(t *testing.T) {
	l := newLinter(t)
	err := l.Subscriber([]byte{0x30, 0x03, 0x02, 0x01})
	var lerr *Error
	if err == nil || errors.As(err, &lerr) {
		t.Fatalf("want a parse error, got %v", err)
	}
}

// TestSubscriber_RealDevCertificate lints a certificate issued by a dev signetd (personal-banking, enrolled
// with the CLI). Today's issuance leaves out the caIssuers AIA because issuerURL never reaches the certificate
// template, so exactly that lint fires; once issuerURL is wired, replace the fixture and expect no findings.
func TestSubscriber_RealDevCertificate(t *testing.T) {
	der, err := os.ReadFile("testdata/signet-personal-banking.der")
	if err != nil {
		t.Fatal(err)
	}
	l := newLinter(t)
	got := lintNames(t, l.Subscriber(der))
	if !slices.Equal(got, []string{"e_npki_missing_ca_issuers_aia"}) {
		t.Fatalf("findings %v, want only e_npki_missing_ca_issuers_aia", got)
	}
	if o := run(l.subscriber, der); len(o.advisory) != 0 {
		t.Errorf("unexpected warnings or notices: %v", o.advisory)
	}
}

func BenchmarkSubscriber(b *testing.B) {
	l := newLinter(b)
	der := build(b, signetTemplate(b))
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Subscriber(der); err != nil {
			b.Fatal(err)
		}
	}
}
