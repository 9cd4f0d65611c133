// Package otherca is a second, separate dev CA that plays "another bank's
// CA" (타행/타기관 CA) in `signetd --dev`: it issues NPKI-shaped
// certificates with the KISA identity extension and publishes their status
// over OCSP and a CRL, so that registering another CA's certificate is
// exercised over real HTTP against a PKI Signet does not own. Dev only: its
// keys are plain PEM files and its records a JSON file.
package otherca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"go.step.sm/crypto/pemutil"

	"github.com/signet-ca/signet/ca/identity"
	"github.com/signet-ca/signet/ca/internal/pemfile"
	"github.com/signet-ca/signet/internal/bank"
)

// Organization is the other CA's O, in its own names and its subscribers'.
const Organization = "OtherBank Dev"

// PolicyOID is the certificate policy of its subscriber certificates: a
// branch of the RFC 5612 documentation arc that Signet's own example
// profiles do not use, so the two CAs' certificates are never confused.
// Like the real CAs' policies it carries a CPS URI and a Korean user
// notice.
var PolicyOID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 99, 1, 1, 4}

const (
	CPSURI     = "https://otherbank.example/cps"
	UserNotice = "이 인증서는 OtherBank Dev의 은행/신용카드/보험용 공동인증서입니다 (개발용)"
)

const (
	// crlValidity and ocspValidity are the nextUpdate distances: short, so
	// that a relying party caching by nextUpdate sees a dev revocation
	// within minutes.
	crlValidity  = 5 * time.Minute
	ocspValidity = time.Minute
	// crlRefresh is how long one signed CRL is served before a new number
	// is made; a revocation makes one at once.
	crlRefresh = time.Minute
)

var (
	ErrUnknownSerial  = errors.New("otherca: no certificate with this serial was issued here")
	ErrAlreadyRevoked = errors.New("otherca: the certificate is already revoked")
)

// CA is the other CA: its keys, its records and its HTTP responder.
type CA struct {
	dir, base string
	now       func() time.Time
	root      *x509.Certificate
	inter     *x509.Certificate
	key       crypto.Signer // the intermediate's: it signs certificates, the CRL and OCSP

	mu    sync.Mutex
	st    state
	bySer map[string]*record // by hex serial
	crl   []byte             // the CRL being served; nil after a revocation
	crlAt time.Time
}

// state is the JSON file. It holds serials and dates only: the
// certificates themselves name people and are the holders' to keep.
type state struct {
	CRLNumber int64     `json:"crl_number"`
	Certs     []*record `json:"certificates"`
}

type record struct {
	Serial    string     `json:"serial"` // hex
	NotAfter  time.Time  `json:"not_after"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	Reason    int        `json:"reason,omitempty"`
}

func paths(dir string) (root, rootKey, inter, interKey, st string) {
	p := func(n string) string { return filepath.Join(dir, n) }
	return p("root.pem"), p("root_key.pem"), p("intermediate.pem"), p("intermediate_key.pem"), p("state.json")
}

// Open loads the CA kept in dir, creating it on first use, so that the
// certificates it issued stay verifiable and revocable across restarts.
// baseURL is where Handler is reachable (e.g. http://127.0.0.1:8080); the
// CRL and OCSP URLs in issued certificates are made from it. now nil is
// time.Now.
func Open(dir, baseURL string, now func() time.Time) (*CA, error) {
	if now == nil {
		now = time.Now
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("otherca: base URL %q: want http(s)://host[:port]", baseURL)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	rootPath, rootKeyPath, interPath, interKeyPath, stPath := paths(dir)
	if _, err := os.Stat(interKeyPath); errors.Is(err, os.ErrNotExist) {
		if err := create(rootPath, rootKeyPath, interPath, interKeyPath, now()); err != nil {
			return nil, err
		}
	}
	c := &CA{dir: dir, base: strings.TrimRight(baseURL, "/"), now: now, bySer: map[string]*record{}}
	if c.root, err = pemutil.ReadCertificate(rootPath); err != nil {
		return nil, err
	}
	if c.inter, err = pemutil.ReadCertificate(interPath); err != nil {
		return nil, err
	}
	k, err := pemutil.Read(interKeyPath)
	if err != nil {
		return nil, err
	}
	var ok bool
	if c.key, ok = k.(crypto.Signer); !ok {
		return nil, fmt.Errorf("otherca: %s is not a signing key", interKeyPath)
	}
	b, err := os.ReadFile(stPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(b, &c.st); err != nil {
			return nil, fmt.Errorf("otherca: %s: %w", stPath, err)
		}
	}
	for _, r := range c.st.Certs {
		c.bySer[r.Serial] = r
	}
	return c, nil
}

// create makes the root and the issuing intermediate, RSA-2048 with
// SHA-256 like the real NPKI CAs, named after yessign's hierarchy.
func create(rootPath, rootKeyPath, interPath, interKeyPath string, now time.Time) error {
	rootKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	root := &x509.Certificate{
		Subject:   pkix.Name{Country: []string{"KR"}, Organization: []string{Organization}, CommonName: "OtherBank Dev Root CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true,
	}
	rootCert, err := pemfile.Create(root, root, rootKey.Public(), rootKey)
	if err != nil {
		return err
	}
	interKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	inter := &x509.Certificate{
		Subject: pkix.Name{Country: []string{"KR"}, Organization: []string{Organization},
			OrganizationalUnit: []string{"AccreditedCA"}, CommonName: "OtherBank Dev CA Class 2"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		// digitalSignature because this key also signs the OCSP responses.
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	interCert, err := pemfile.Create(inter, rootCert, interKey.Public(), rootKey)
	if err != nil {
		return err
	}
	// The intermediate's key is written last: Open takes its presence to
	// mean the CA is complete.
	for _, err := range []error{
		pemfile.WriteKey(rootKeyPath, rootKey),
		pemfile.WriteCerts(rootPath, rootCert), pemfile.WriteCerts(interPath, interCert),
		pemfile.WriteKey(interKeyPath, interKey),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// Roots returns the root to put in a relying party's trust list.
func (c *CA) Roots() []*x509.Certificate { return []*x509.Certificate{c.root} }

// Intermediates returns the issuing CA certificate.
func (c *CA) Intermediates() []*x509.Certificate { return []*x509.Certificate{c.inter} }

var bankCodePattern = regexp.MustCompile(`^[0-9]{3}$`)

// Issue certifies pub for a person, in the NPKI shape: subject
// CN=<realName>()00<bank><15 digits>,OU=<bank>,OU=personal4IB,O=OtherBank
// Dev,C=KR, key usage digitalSignature + nonRepudiation, CRL DP and OCSP
// pointing at Handler, and identifyData with realName and the SHA-256 VID
// of idn and r. idn and r are used for the VID only and kept nowhere.
func (c *CA) Issue(pub crypto.PublicKey, realName, idn string, r []byte, bankCode string, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	if err := checkKey(pub); err != nil {
		return nil, err
	}
	if !bankCodePattern.MatchString(bankCode) {
		return nil, fmt.Errorf("otherca: bank code %q: want 3 digits such as 088", bankCode)
	}
	if !notAfter.After(notBefore) {
		return nil, errors.New("otherca: notAfter must be after notBefore")
	}
	// notBefore may precede the CA's own: tests of expired certificates
	// need a validity wholly in the past, and this CA is new on every
	// fresh state dir.
	if notAfter.After(c.inter.NotAfter) {
		return nil, fmt.Errorf("otherca: notAfter is past the CA's own, %s", c.inter.NotAfter.UTC().Format(time.RFC3339))
	}
	if realName == "" || strings.ContainsAny(realName, "()") {
		return nil, errors.New("otherca: the real name is empty or holds parentheses, which the CN uses as a separator")
	}
	vid, err := identity.VID(crypto.SHA256, idn, r)
	if err != nil {
		return nil, err
	}
	idExt, err := identity.Extension(realName, crypto.SHA256, vid)
	if err != nil {
		return nil, err
	}
	ski, err := keyID(pub)
	if err != nil {
		return nil, err
	}
	policies, err := policiesExtension()
	if err != nil {
		return nil, err
	}
	// ExtraNames keep NPKI's one attribute per RDN in this order; pkix.Name's
	// OrganizationalUnit would put both OUs in a single RDN.
	atv := func(oid asn1.ObjectIdentifier, v string) pkix.AttributeTypeAndValue {
		return pkix.AttributeTypeAndValue{Type: oid, Value: v}
	}
	tmpl := &x509.Certificate{
		Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
			atv(asn1.ObjectIdentifier{2, 5, 4, 6}, "KR"),
			atv(asn1.ObjectIdentifier{2, 5, 4, 10}, Organization),
			atv(asn1.ObjectIdentifier{2, 5, 4, 11}, "personal4IB"),
			atv(asn1.ObjectIdentifier{2, 5, 4, 11}, bank.OU(bankCode)),
			atv(asn1.ObjectIdentifier{2, 5, 4, 3}, realName+"()"+raNumber(bankCode)),
		}},
		NotBefore: notBefore, NotAfter: notAfter,
		SubjectKeyId:          ski,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		BasicConstraintsValid: true,
		CRLDistributionPoints: []string{c.base + "/otherca/crl"},
		OCSPServer:            []string{c.base + "/otherca/ocsp"},
		IssuingCertificateURL: []string{c.base + "/otherca/issuer.cer"},
		ExtraExtensions:       []pkix.Extension{idExt, policies},
	}
	cert, err := pemfile.Create(tmpl, c.inter, pub, c.key)
	if err != nil {
		return nil, fmt.Errorf("otherca: signing: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rec := &record{Serial: cert.SerialNumber.Text(16), NotAfter: cert.NotAfter}
	c.st.Certs = append(c.st.Certs, rec)
	c.bySer[rec.Serial] = rec
	if err := c.save(); err != nil {
		// Unrecorded, the certificate would read as unknown over OCSP:
		// better not to hand it out.
		c.st.Certs = c.st.Certs[:len(c.st.Certs)-1]
		delete(c.bySer, rec.Serial)
		return nil, err
	}
	return cert, nil
}

// policiesExtension is certificatePolicies with qualifiers (RFC 5280
// 4.2.1.4), which x509.Certificate.Policies cannot carry.
func policiesExtension() (pkix.Extension, error) {
	type qualifier struct {
		ID        asn1.ObjectIdentifier
		Qualifier asn1.RawValue
	}
	cps, err := asn1.MarshalWithParams(CPSURI, "ia5")
	if err != nil {
		return pkix.Extension{}, err
	}
	notice, err := asn1.Marshal(struct {
		ExplicitText string `asn1:"utf8"`
	}{UserNotice})
	if err != nil {
		return pkix.Extension{}, err
	}
	der, err := asn1.Marshal([]struct {
		ID         asn1.ObjectIdentifier
		Qualifiers []qualifier
	}{{PolicyOID, []qualifier{
		{asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 2, 1}, asn1.RawValue{FullBytes: cps}},
		{asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 2, 2}, asn1.RawValue{FullBytes: notice}},
	}}})
	if err != nil {
		return pkix.Extension{}, err
	}
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 32}, Value: der}, nil
}

// checkKey accepts the subscriber keys DESIGN.md lists for NPKI profiles.
func checkKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n == 2048 || n == 3072 || n == 4096 {
			return nil
		}
		return fmt.Errorf("otherca: RSA-%d key: want 2048, 3072 or 4096 bits", k.N.BitLen())
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() || k.Curve == elliptic.P384() {
			return nil
		}
		return fmt.Errorf("otherca: ECDSA %s key: want P-256 or P-384", k.Curve.Params().Name)
	}
	return fmt.Errorf("otherca: %T keys are not certified: want RSA or ECDSA", pub)
}

// keyID is RFC 5280 4.2.1.2 method (1); Go makes one only for CA
// certificates, and real NPKI subscriber certificates carry it.
func keyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, err
	}
	h := sha1.Sum(spki.PublicKey.RightAlign())
	return h[:], nil
}

// Revoke records serial as revoked at at for an RFC 5280 reason; the next
// CRL and every OCSP answer from then on say so. Revocation is final.
func (c *CA) Revoke(serial *big.Int, reason int, at time.Time) error {
	// 7 is unassigned and removeFromCRL (8) belongs to delta CRLs, which
	// this CA does not publish.
	if reason < 0 || reason > 10 || reason == 7 || reason == 8 {
		return fmt.Errorf("otherca: revocation reason %d is not one a CA may put on a CRL", reason)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, ok := c.bySer[serial.Text(16)]
	if !ok {
		return ErrUnknownSerial
	}
	if rec.RevokedAt != nil {
		return ErrAlreadyRevoked
	}
	t := at.UTC().Truncate(time.Second)
	rec.RevokedAt, rec.Reason = &t, reason
	if err := c.save(); err != nil {
		rec.RevokedAt, rec.Reason = nil, 0
		return err
	}
	c.crl = nil
	return nil
}

// save writes the state file whole and renames it into place, so that a
// crash leaves the old or the new file, never half of one. c.mu is held.
func (c *CA) save() error {
	b, err := json.MarshalIndent(&c.st, "", "  ")
	if err != nil {
		return err
	}
	_, _, _, _, stPath := paths(c.dir)
	tmp := stPath + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, stPath)
}

// raNumber is the unique number after "()" in the CN: "00", the bank
// code, then 15 random digits, as the RA banks assign them.
func raNumber(bank string) string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return "00" + bank + string(b[:])
}
