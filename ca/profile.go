package ca

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"

	"go.step.sm/crypto/x509util"

	kstzone "github.com/signet-ca/signet/internal/kst"
)

// Profile is one kind of certificate Signet issues. Everything in it is
// configuration, not code (DESIGN.md "Certificate profiles").
type Profile struct {
	Name       string   `json:"name"`
	OU         string   `json:"ou"`         // e.g. personal4IB
	Validity   Validity `json:"validity"`   // "1y" or a Go duration
	PolicyOID  string   `json:"policyOID"`  // the operating CA's registered arc
	CPSURI     string   `json:"cpsURI"`     // certification practice statement
	UserNotice string   `json:"userNotice"` // shown by NPKI software, Korean text
	// Template is an x509util JSON template; empty uses DefaultTemplate.
	Template string `json:"template,omitempty"`

	policyOID asn1.ObjectIdentifier
	// tmpl is Template parsed once at start; rendering only executes it.
	tmpl *template.Template
	// policies is the certificatePolicies extension, built once.
	policies pkix.Extension
}

// ExampleArc is the IANA documentation enterprise number (RFC 5612) used
// for dev and tests; production configuration names the CA's own arc.
const ExampleArc = "1.3.6.1.4.1.32473"

// DefaultTemplate renders the NPKI subject `CN=<name>()<number>,OU=<bank>,
// OU=<profile OU>,O=<CA>,C=KR` as separate RDNs in that order, and key
// usage digitalSignature + nonRepudiation (contentCommitment), critical.
const DefaultTemplate = `{
	"subject": {"extraNames": [
		{"type": "2.5.4.6", "value": "KR"},
		{"type": "2.5.4.10", "value": {{ toJson .Signet.Organization }}},
		{"type": "2.5.4.11", "value": {{ toJson .Signet.ProfileOU }}},
		{"type": "2.5.4.11", "value": {{ toJson .Signet.BankOU }}},
		{"type": "2.5.4.3", "value": {{ toJson .Signet.CommonName }}}
	]},
	"keyUsage": ["digitalSignature", "contentCommitment"],
	"basicConstraints": {"isCA": false}
}`

// DefaultProfiles are the four NPKI-style profiles with the example arc,
// mirroring yessign's policy numbering (DESIGN.md table).
func DefaultProfiles() []*Profile {
	mk := func(name, ou, oid, notice string) *Profile {
		return &Profile{Name: name, OU: ou, Validity: Validity{Years: 1}, PolicyOID: ExampleArc + oid,
			CPSURI: "https://signet.example/cps", UserNotice: notice}
	}
	return []*Profile{
		mk("personal-banking", "personal4IB", ".1.1.4", "이 인증서는 은행/신용카드/보험용 공동인증서입니다"),
		mk("personal-general", "personal", ".1.1.1", "이 인증서는 범용 공동인증서입니다"),
		mk("corporate-banking", "corporation4EC", ".1.2.4", "이 인증서는 법인 은행용 공동인증서입니다"),
		mk("corporate-general", "corporation", ".1.1.5", "이 인증서는 법인 범용 공동인증서입니다"),
	}
}

// Validate checks a profile and prepares it for use.
func (p *Profile) Validate() error {
	if p.Name == "" {
		return fmt.Errorf("profile: name is required")
	}
	if p.OU == "" {
		return fmt.Errorf("profile %s: ou is required (e.g. personal4IB)", p.Name)
	}
	if p.Validity.IsZero() {
		return fmt.Errorf("profile %s: validity is required (e.g. \"1y\")", p.Name)
	}
	oid, err := parseOID(p.PolicyOID)
	if err != nil {
		return fmt.Errorf("profile %s: policyOID: %w", p.Name, err)
	}
	p.policyOID = oid
	// Build the extension once now, so that an OID or CPS URI that cannot
	// be encoded stops the start instead of failing every issuance.
	if p.policies, err = p.policiesExtension(); err != nil {
		return fmt.Errorf("profile %s: %w", p.Name, err)
	}
	if p.Template == "" {
		p.Template = DefaultTemplate
	}
	if p.tmpl, err = template.New(p.Name).Funcs(x509util.GetFuncMap()).Parse(p.Template); err != nil {
		return fmt.Errorf("profile %s: template: %w", p.Name, err)
	}
	return nil
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, fmt.Errorf("%q is not a dotted OID", s)
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not a dotted OID", s)
		}
		oid[i] = n
	}
	return oid, nil
}

// Validity is a profile's lifetime: whole years (NPKI's one year) or, for
// demos and tests, a duration.
type Validity struct {
	Years    int
	Duration time.Duration
}

func (v Validity) IsZero() bool { return v.Years == 0 && v.Duration == 0 }

func (v Validity) String() string {
	if v.Years > 0 {
		return strconv.Itoa(v.Years) + "y"
	}
	return v.Duration.String()
}

// ParseValidity reads "1y" or a Go duration such as "240h".
func ParseValidity(s string) (Validity, error) {
	if y, ok := strings.CutSuffix(s, "y"); ok {
		n, err := strconv.Atoi(y)
		if err != nil || n <= 0 {
			return Validity{}, fmt.Errorf("validity %q: want a whole number of years like \"1y\"", s)
		}
		return Validity{Years: n}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return Validity{}, fmt.Errorf("validity %q: want \"1y\" or a positive duration like \"240h\"", s)
	}
	return Validity{Duration: d}, nil
}

func (v Validity) MarshalJSON() ([]byte, error) { return json.Marshal(v.String()) }

func (v *Validity) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	p, err := ParseValidity(s)
	if err != nil {
		return err
	}
	*v = p
	return nil
}

// kst is the one Korea Standard Time zone (see package kst for why fixed),
// under the short name the rest of package ca uses.
var kst = kstzone.Zone

// NotAfter returns the end of validity for a certificate starting at from:
// NPKI certificates expire at 23:59:59 KST of the expiry day. A validity
// shorter than a day (demos only) ends exactly, or it could not be tried.
func (v Validity) NotAfter(from time.Time) time.Time {
	var end time.Time
	if v.Years > 0 {
		end = addYears(from.In(kst), v.Years)
	} else {
		end = from.Add(v.Duration)
		if v.Duration < 24*time.Hour {
			return end.UTC().Truncate(time.Second)
		}
	}
	end = end.In(kst)
	return time.Date(end.Year(), end.Month(), end.Day(), 23, 59, 59, 0, kst).UTC()
}

// addYears moves t by whole years on the calendar. When the day does not
// exist in the target year (Feb 29), the period ends on the last day of
// that month, as the Korean Civil Act (art. 160(3)) counts periods; Go's
// AddDate would roll over into March instead.
func addYears(t time.Time, years int) time.Time {
	y, m, d := t.Date()
	last := time.Date(y+years, m+1, 0, 0, 0, 0, 0, t.Location()).Day()
	return time.Date(y+years, m, min(d, last), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
}

// subjectData is what a template may use under .Signet.
type subjectData struct {
	CommonName   string
	ProfileOU    string
	BankOU       string
	Organization string
}

var (
	oidCertificatePolicies = asn1.ObjectIdentifier{2, 5, 29, 32}
	oidQualifierCPS        = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 2, 1}
	oidQualifierUserNotice = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 2, 2}
)

type policyQualifier struct {
	ID        asn1.ObjectIdentifier
	Qualifier asn1.RawValue
}

type policyInformation struct {
	ID         asn1.ObjectIdentifier
	Qualifiers []policyQualifier `asn1:"optional"`
}

type userNotice struct {
	ExplicitText string `asn1:"utf8"`
}

// policiesExtension builds certificatePolicies with the CPS URI and a
// Korean user notice (RFC 5280 4.2.1.4), which x509util's
// policyIdentifiers cannot carry.
func (p *Profile) policiesExtension() (pkix.Extension, error) {
	info := policyInformation{ID: p.policyOID}
	if p.CPSURI != "" {
		cps, err := asn1.MarshalWithParams(p.CPSURI, "ia5")
		if err != nil {
			return pkix.Extension{}, fmt.Errorf("profile %s: cpsURI: %w", p.Name, err)
		}
		info.Qualifiers = append(info.Qualifiers, policyQualifier{ID: oidQualifierCPS, Qualifier: asn1.RawValue{FullBytes: cps}})
	}
	if p.UserNotice != "" {
		un, err := asn1.Marshal(userNotice{ExplicitText: p.UserNotice})
		if err != nil {
			return pkix.Extension{}, err
		}
		info.Qualifiers = append(info.Qualifiers, policyQualifier{ID: oidQualifierUserNotice, Qualifier: asn1.RawValue{FullBytes: un}})
	}
	der, err := asn1.Marshal([]policyInformation{info})
	if err != nil {
		return pkix.Extension{}, err
	}
	return pkix.Extension{Id: oidCertificatePolicies, Value: der}, nil
}

// render applies the profile's template to the CSR and returns the
// certificate template without validity, serial or URLs. The CSR's
// signature was verified once, by parseCSR; x509util.NewCertificate would
// verify it again and parse the template again, so its steps are done here
// with the template parsed at start.
func (p *Profile) render(csr *x509.CertificateRequest, subj subjectData) (*x509.Certificate, error) {
	data := x509util.NewTemplateData()
	data.Set("Signet", subj)
	data.SetCertificateRequest(csr)
	var buf bytes.Buffer
	if err := p.tmpl.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("profile %s: template: %w", p.Name, err)
	}
	var c x509util.Certificate
	if err := json.Unmarshal(buf.Bytes(), &c); err != nil {
		return nil, fmt.Errorf("profile %s: template output: %w", p.Name, err)
	}
	if len(c.SANs) > 0 {
		// SANs of kinds crypto/x509 cannot write need x509util's own
		// extension builder, which only NewCertificate reaches.
		withSANs, err := x509util.NewCertificate(csr, func(_ *x509.CertificateRequest, o *x509util.Options) error {
			o.CertBuffer = &buf
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("profile %s: template: %w", p.Name, err)
		}
		c = *withSANs
	}
	// The key is always the CSR's, whatever a template says.
	c.PublicKey = csr.PublicKey
	c.PublicKeyAlgorithm = csr.PublicKeyAlgorithm
	tmpl := c.GetCertificate()
	tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, p.policies)
	return tmpl, nil
}
