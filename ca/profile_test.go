package ca

import (
	"bytes"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestProfile_DefaultProfilesAllValidate(t *testing.T) {
	t.Parallel()
	wantOU := map[string]string{
		"personal-banking":  "personal4IB",
		"personal-general":  "personal",
		"corporate-banking": "corporation4EC",
		"corporate-general": "corporation",
	}
	oids := map[string]bool{}
	ps := DefaultProfiles()
	if len(ps) != len(wantOU) {
		t.Fatalf("DefaultProfiles has %d profiles, want %d", len(ps), len(wantOU))
	}
	for _, p := range ps {
		t.Run(p.Name, func(t *testing.T) {
			if err := p.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if ou, ok := wantOU[p.Name]; !ok || p.OU != ou {
				t.Errorf("profile %s has OU %q, want %q", p.Name, p.OU, ou)
			}
			if p.Validity != (Validity{Years: 1}) {
				t.Errorf("validity = %v, want 1y", p.Validity)
			}
			if !strings.HasPrefix(p.PolicyOID, ExampleArc+".") {
				t.Errorf("policy OID %s is not under the example arc %s", p.PolicyOID, ExampleArc)
			}
			if oids[p.PolicyOID] {
				t.Errorf("policy OID %s used twice", p.PolicyOID)
			}
			oids[p.PolicyOID] = true
			if p.policyOID.String() != p.PolicyOID {
				t.Errorf("Validate prepared OID %s from %s", p.policyOID, p.PolicyOID)
			}
			if p.Template != DefaultTemplate {
				t.Error("Validate did not default the template")
			}
			if u, err := url.Parse(p.CPSURI); err != nil || u.Scheme != "https" {
				t.Errorf("CPS URI %q is not an https URL", p.CPSURI)
			}
			// RFC 5280 4.2.1.4: explicitText is at most 200 characters.
			if n := utf8.RuneCountInString(p.UserNotice); n == 0 || n > 200 {
				t.Errorf("user notice has %d characters, want 1..200", n)
			}
			if _, err := p.policiesExtension(); err != nil {
				t.Errorf("policiesExtension: %v", err)
			}
		})
	}
	// Each call returns fresh profiles: validating or editing one set
	// must not leak into the next caller's.
	ps[0].OU = "changed"
	if DefaultProfiles()[0].OU == "changed" {
		t.Error("DefaultProfiles shares state between calls")
	}
}

func TestProfile_ValidateRefusesIncompleteProfiles(t *testing.T) {
	good := func() *Profile {
		return &Profile{Name: "p", OU: "personal4IB", Validity: Validity{Years: 1}, PolicyOID: ExampleArc + ".1.1.4"}
	}
	for _, tc := range []struct {
		name string
		edit func(*Profile)
		want string
	}{
		{"missing name", func(p *Profile) { p.Name = "" }, "name is required"},
		{"missing ou", func(p *Profile) { p.OU = "" }, "ou is required"},
		{"missing validity", func(p *Profile) { p.Validity = Validity{} }, "validity is required"},
		{"missing OID", func(p *Profile) { p.PolicyOID = "" }, "policyOID"},
		{"single-arc OID", func(p *Profile) { p.PolicyOID = "1" }, "policyOID"},
		{"letters in OID", func(p *Profile) { p.PolicyOID = "1.2.abc" }, "policyOID"},
		{"empty arc", func(p *Profile) { p.PolicyOID = "1..2" }, "policyOID"},
		{"trailing dot", func(p *Profile) { p.PolicyOID = "1.2.3." }, "policyOID"},
		{"negative arc", func(p *Profile) { p.PolicyOID = "1.2.-3" }, "policyOID"},
		{"arc overflow", func(p *Profile) { p.PolicyOID = "1.2.99999999999999999999999" }, "policyOID"},
		{"name instead of OID", func(p *Profile) { p.PolicyOID = "personal-banking" }, "policyOID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := good()
			tc.edit(p)
			err := p.Validate()
			if err == nil {
				t.Fatalf("Validate accepted %+v", p)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if p.Name != "" && !strings.Contains(err.Error(), p.Name) {
				t.Errorf("error %q does not name profile %q", err, p.Name)
			}
		})
	}
	p := good()
	p.Template = `{"subject": "custom"}`
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate(good): %v", err)
	}
	if p.Template != `{"subject": "custom"}` {
		t.Errorf("Validate replaced a custom template")
	}
}

// A profile that Validate accepts must be usable for issuance: everything
// policiesExtension encodes is checked at start-up, not at the first issue.
func TestProfile_ValidateAcceptsOnlyEncodableProfiles(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Profile)
	}{
		{"first arc above 2", func(p *Profile) { p.PolicyOID = "3.1.2" }},
		{"second arc 40 under arc 1", func(p *Profile) { p.PolicyOID = "1.40.1" }},
		{"non-ASCII CPS URI", func(p *Profile) { p.CPSURI = "https://signet.example/인증/cps" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Profile{Name: "p", OU: "personal4IB", Validity: Validity{Years: 1}, PolicyOID: ExampleArc + ".1.1.4",
				CPSURI: "https://signet.example/cps", UserNotice: "공동인증서"}
			tc.edit(p)
			if err := p.Validate(); err == nil {
				t.Errorf("Validate accepted %s, which cannot be encoded: issuance would fail later", tc.name)
			}
		})
	}
}

// unitPolicyInformation mirrors RFC 5280 PolicyInformation for decoding.
type unitPolicyInformation struct {
	ID         asn1.ObjectIdentifier
	Qualifiers []struct {
		ID        asn1.ObjectIdentifier
		Qualifier asn1.RawValue
	} `asn1:"optional"`
}

func TestProfile_PoliciesExtensionCarriesOIDCPSAndKoreanNotice(t *testing.T) {
	t.Parallel()
	ca := newUnitCA(t)
	for _, p := range DefaultProfiles() {
		t.Run(p.Name, func(t *testing.T) {
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			ext, err := p.policiesExtension()
			if err != nil {
				t.Fatalf("policiesExtension: %v", err)
			}
			if !ext.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 32}) || ext.Critical {
				t.Errorf("extension %v critical=%v, want non-critical 2.5.29.32", ext.Id, ext.Critical)
			}

			// crypto/x509 reads it back from a signed certificate.
			key := unitECKey(t, elliptic.P256())
			cert := ca.issue(t, &x509.Certificate{
				Subject: pkix.Name{CommonName: "x"}, PublicKey: key.Public(),
				ExtraExtensions: []pkix.Extension{ext},
			})
			want, err := x509.ParseOID(p.PolicyOID)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(cert.Policies, want.Equal) {
				t.Errorf("cert.Policies = %v, want %s", cert.Policies, p.PolicyOID)
			}

			// The qualifiers, by hand.
			var infos []unitPolicyInformation
			rest, err := asn1.Unmarshal(ext.Value, &infos)
			if err != nil || len(rest) != 0 {
				t.Fatalf("decode certificatePolicies: %v (%d trailing bytes)", err, len(rest))
			}
			if len(infos) != 1 || infos[0].ID.String() != p.PolicyOID {
				t.Fatalf("policies = %+v, want one with %s", infos, p.PolicyOID)
			}
			qs := infos[0].Qualifiers
			if len(qs) != 2 {
				t.Fatalf("%d qualifiers, want CPS and user notice", len(qs))
			}
			cps := qs[0]
			if cps.ID.String() != "1.3.6.1.5.5.7.2.1" {
				t.Errorf("first qualifier %s, want id-qt-cps", cps.ID)
			}
			if cps.Qualifier.Class != asn1.ClassUniversal || cps.Qualifier.Tag != asn1.TagIA5String || string(cps.Qualifier.Bytes) != p.CPSURI {
				t.Errorf("CPS qualifier class %d tag %d %q, want IA5String %q", cps.Qualifier.Class, cps.Qualifier.Tag, cps.Qualifier.Bytes, p.CPSURI)
			}
			un := qs[1]
			if un.ID.String() != "1.3.6.1.5.5.7.2.2" {
				t.Errorf("second qualifier %s, want id-qt-unotice", un.ID)
			}
			if un.Qualifier.Tag != asn1.TagSequence || !un.Qualifier.IsCompound {
				t.Fatalf("UserNotice is tag %d, want a SEQUENCE", un.Qualifier.Tag)
			}
			var text asn1.RawValue
			rest, err = asn1.Unmarshal(un.Qualifier.Bytes, &text)
			if err != nil || len(rest) != 0 {
				t.Fatalf("decode UserNotice: %v (%d bytes after explicitText; no noticeRef expected)", err, len(rest))
			}
			if text.Class != asn1.ClassUniversal || text.Tag != asn1.TagUTF8String {
				t.Errorf("explicitText class %d tag %d, want UTF8String (12)", text.Class, text.Tag)
			}
			if string(text.Bytes) != p.UserNotice {
				t.Errorf("explicitText = %q, want %q", text.Bytes, p.UserNotice)
			}
		})
	}
}

func TestProfile_PoliciesExtensionWithoutQualifiers(t *testing.T) {
	p := &Profile{Name: "bare", OU: "x", Validity: Validity{Years: 1}, PolicyOID: "1.2.410.200005.1.1.4"}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	ext, err := p.policiesExtension()
	if err != nil {
		t.Fatal(err)
	}
	// SEQUENCE { SEQUENCE { OID 1.2.410.200005.1.1.4 } }: qualifiers omitted, not empty.
	oid, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 410, 200005, 1, 1, 4})
	want := append([]byte{0x30, byte(len(oid) + 2), 0x30, byte(len(oid))}, oid...)
	if !bytes.Equal(ext.Value, want) {
		t.Errorf("extension value % x, want % x", ext.Value, want)
	}
}

func TestProfile_RenderIssuesNPKISubjectAndKeyUsage(t *testing.T) {
	t.Parallel()
	ca := newUnitCA(t)
	p := unitValidProfile(t)
	key := unitRSAKey(t, 2048)
	// The subscriber asks for its own subject, SANs and CA powers; the
	// profile must ignore all of it.
	bc, err := asn1.Marshal(struct {
		IsCA bool `asn1:"optional"`
	}{true})
	if err != nil {
		t.Fatal(err)
	}
	csr := unitParsedCSR(t, key, &x509.CertificateRequest{
		Subject:         pkix.Name{CommonName: "mallory", Organization: []string{"Evil"}, Country: []string{"US"}},
		DNSNames:        []string{"evil.example"},
		EmailAddresses:  []string{"mallory@evil.example"},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: bc}},
	})
	cn := "홍길동()00004" + "123456789012345"
	tmpl, err := p.render(csr, subjectData{CommonName: cn, ProfileOU: p.OU, BankOU: bankName("004"), Organization: "Signet"})
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	cert := ca.issue(t, tmpl)

	want := "CN=" + cn + ",OU=KB,OU=personal4IB,O=Signet,C=KR"
	if got := SubjectString(cert); got != want {
		t.Errorf("subject = %s\nwant      %s", got, want)
	}
	var rdns pkix.RDNSequence
	if _, err := asn1.Unmarshal(cert.RawSubject, &rdns); err != nil {
		t.Fatal(err)
	}
	if len(rdns) != 5 {
		t.Errorf("subject has %d RDNs, want 5 single-valued RDNs", len(rdns))
	}
	for i, rdn := range rdns {
		if len(rdn) != 1 {
			t.Errorf("RDN %d has %d attributes, want 1", i, len(rdn))
		}
	}

	if cert.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment {
		t.Errorf("key usage = %b, want digitalSignature|contentCommitment", cert.KeyUsage)
	}
	ku := unitExtension(cert, asn1.ObjectIdentifier{2, 5, 29, 15})
	if ku == nil || !ku.Critical {
		t.Errorf("key usage extension %+v, want present and critical", ku)
	}
	if cert.IsCA {
		t.Error("subscriber certificate is a CA (the CSR asked for basicConstraints cA=true)")
	}
	if len(cert.DNSNames)+len(cert.EmailAddresses)+len(cert.IPAddresses)+len(cert.URIs) != 0 {
		t.Errorf("CSR SANs leaked into the certificate: %v %v", cert.DNSNames, cert.EmailAddresses)
	}
	wantOID, _ := x509.ParseOID(p.PolicyOID)
	if !slices.ContainsFunc(cert.Policies, wantOID.Equal) {
		t.Errorf("policies %v lack %s", cert.Policies, p.PolicyOID)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		t.Error("certificate does not carry the CSR's key")
	}
	if cert.NotAfter.In(kst).Format(time.TimeOnly) != "23:59:59" {
		t.Errorf("notAfter %s is not 23:59:59 KST", cert.NotAfter.In(kst))
	}
}

func TestProfile_RenderEscapesTemplateData(t *testing.T) {
	t.Parallel()
	ca := newUnitCA(t)
	p := unitValidProfile(t)
	csr := unitParsedCSR(t, unitECKey(t, elliptic.P256()), nil)
	// A name that would break out of the JSON template if inserted raw.
	cn := `홍"}, {"type": "2.5.4.10", "value": "Evil\`
	tmpl, err := p.render(csr, subjectData{CommonName: cn, ProfileOU: p.OU, BankOU: "KB", Organization: "Signet"})
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	cert := ca.issue(t, tmpl)
	if len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != "Signet" {
		t.Errorf("organization = %q, want only Signet", cert.Subject.Organization)
	}
	if cert.Subject.CommonName != cn {
		t.Errorf("common name = %q, want %q", cert.Subject.CommonName, cn)
	}
}

// Renew renders with empty subject data and then installs the old
// certificate's raw subject; rendering must not fail on the empty values.
func TestProfile_RenderForRenewalKeepsTheOldRawSubject(t *testing.T) {
	t.Parallel()
	ca := newUnitCA(t)
	p := unitValidProfile(t)
	oldTmpl, err := p.render(unitParsedCSR(t, unitECKey(t, elliptic.P256()), nil),
		subjectData{CommonName: "홍길동()00088123456789012345", ProfileOU: p.OU, BankOU: "Shinhan", Organization: "Signet"})
	if err != nil {
		t.Fatal(err)
	}
	old := ca.issue(t, oldTmpl)

	tmpl, err := p.render(unitParsedCSR(t, unitECKey(t, elliptic.P256()), nil), subjectData{})
	if err != nil {
		t.Fatalf("render with empty subject data: %v", err)
	}
	tmpl.RawSubject = old.RawSubject
	renewed := ca.issue(t, tmpl)
	if got, want := SubjectString(renewed), SubjectString(old); got != want {
		t.Errorf("renewed subject %s, want %s", got, want)
	}
	if !bytes.Equal(renewed.RawSubject, old.RawSubject) {
		t.Error("renewed raw subject differs from the old one")
	}
}

func TestSubjectString_FallsBackOnUnparsableRawSubject(t *testing.T) {
	c := &x509.Certificate{RawSubject: []byte{0xff, 0x00}, Subject: pkix.Name{CommonName: "fallback"}}
	if got := SubjectString(c); got != "CN=fallback" {
		t.Errorf("SubjectString = %q, want CN=fallback", got)
	}
}

func unitExtension(c *x509.Certificate, id asn1.ObjectIdentifier) *pkix.Extension {
	for i := range c.Extensions {
		if c.Extensions[i].Id.Equal(id) {
			return &c.Extensions[i]
		}
	}
	return nil
}
