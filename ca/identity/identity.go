// Package identity is the KISA identity extension of joint certificates
// (identifyData, 본인확인 정보) and its VID: how a relying bank learns,
// without the CA revealing a resident registration number, that the
// certificate belongs to the person who typed that number.
//
// The certificate carries, in a subjectAltName otherName of type
// id-kisa-identifyData, the holder's real name and
// VID = H(H(DER(SEQUENCE { idn PrintableString, randomNum BIT STRING }))),
// where idn is the resident number and randomNum (R) a 20-byte random kept
// only in the holder's private key file. Given idn, the holder's device
// proves identity by handing over R; the relying party recomputes the VID.
// DESIGN.md's NPKI appendix has the ASN.1.
package identity

import (
	"bytes"
	"crypto"
	_ "crypto/sha1" // legacy VIDs use SHA-1; parsing must know it
	_ "crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

var (
	// OIDIdentifyData is id-kisa-identifyData, the otherName type.
	OIDIdentifyData = asn1.ObjectIdentifier{1, 2, 410, 200004, 10, 1, 1}
	// OIDVID is the type of a VID entry in userInfo.
	OIDVID = asn1.ObjectIdentifier{1, 2, 410, 200004, 10, 1, 1, 1}
	// OIDRandomNum is the PKCS#8 attribute that holds R in signPri.key.
	OIDRandomNum = asn1.ObjectIdentifier{1, 2, 410, 200004, 10, 1, 1, 3}

	oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidSHA1           = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
)

// RandomNumSize is the length of R in real NPKI key files.
const RandomNumSize = 20

var (
	// ErrNoIdentifyData: the certificate has no identifyData otherName.
	ErrNoIdentifyData = errors.New("identity: the certificate carries no identifyData (no VID to check)")
	// ErrMismatch: the VID computed from idn and R is not the
	// certificate's. Either the number or R is wrong; which one is
	// deliberately not said.
	ErrMismatch = errors.New("identity: the resident number and the key file's random do not match the certificate's VID")
)

// VIDEntry is one VID in userInfo.
type VIDEntry struct {
	Hash  crypto.Hash
	Value []byte
}

// Data is a certificate's identifyData.
type Data struct {
	RealName string
	VIDs     []VIDEntry
}

// CheckIDN checks that idn is a 13-digit resident registration number.
// Its digits are never echoed: the message says what is wrong only.
func CheckIDN(idn string) error {
	if len(idn) != 13 {
		return fmt.Errorf("identity: a resident registration number has 13 digits, got %d characters", utf8.RuneCountInString(idn))
	}
	for i := 0; i < len(idn); i++ {
		if idn[i] < '0' || idn[i] > '9' {
			return errors.New("identity: a resident registration number is digits only (no hyphen)")
		}
	}
	return nil
}

// CheckIDNBirth checks that idn's first seven digits agree with a birth
// date YYYYMMDD from identity evidence: YYMMDD, then a 7th digit whose
// century matches (1, 2, 5, 6 for 1900s; 3, 4, 7, 8 for 2000s). That is the
// check a bank's RA can make without a real-name service; the number's
// other digits are not checked, since numbers issued since October 2020
// have no check digit.
func CheckIDNBirth(idn, birth string) error {
	if err := CheckIDN(idn); err != nil {
		return err
	}
	if len(birth) != 8 {
		return errors.New("identity: the evidence's birth date is not YYYYMMDD")
	}
	if idn[:6] != birth[2:] {
		return errors.New("identity: the resident number's birth date differs from the identity evidence's")
	}
	var century string
	switch idn[6] {
	case '1', '2', '5', '6':
		century = "19"
	case '3', '4', '7', '8':
		century = "20"
	default:
		century = "18"
	}
	if century != birth[:2] {
		return errors.New("identity: the resident number's 7th digit does not match the birth year's century in the identity evidence")
	}
	return nil
}

// VID computes H(H(DER(SEQUENCE { idn PrintableString, R BIT STRING }))).
func VID(h crypto.Hash, idn string, r []byte) ([]byte, error) {
	if err := CheckIDN(idn); err != nil {
		return nil, err
	}
	if len(r) == 0 {
		return nil, errors.New("identity: the key file's random (randomNum) is empty")
	}
	if h != crypto.SHA256 && h != crypto.SHA1 {
		return nil, fmt.Errorf("identity: VID hash %v is not supported (SHA-256, or SHA-1 for old certificates)", h)
	}
	der, err := asn1.Marshal(struct {
		IDN string `asn1:"printable"`
		R   asn1.BitString
	}{idn, asn1.BitString{Bytes: r, BitLength: 8 * len(r)}})
	if err != nil {
		return nil, err
	}
	d := h.New()
	d.Write(der)
	inner := d.Sum(nil)
	d.Reset()
	d.Write(inner)
	return d.Sum(nil), nil
}

// Extension returns the subjectAltName extension that carries realName
// and one VID. Signet's subscriber certificates have no other name forms,
// so the extension holds this one otherName only.
func Extension(realName string, h crypto.Hash, vid []byte) (pkix.Extension, error) {
	if realName == "" || !utf8.ValidString(realName) {
		return pkix.Extension{}, errors.New("identity: the real name is empty or not UTF-8")
	}
	alg, err := hashOID(h)
	if err != nil {
		return pkix.Extension{}, err
	}
	if len(vid) != h.Size() {
		return pkix.Extension{}, fmt.Errorf("identity: a %v VID has %d bytes, got %d", h, h.Size(), len(vid))
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(names *cryptobyte.Builder) { // GeneralNames
		names.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(on *cryptobyte.Builder) { // otherName
			on.AddASN1ObjectIdentifier(OIDIdentifyData)
			on.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(v *cryptobyte.Builder) {
				v.AddASN1(cbasn1.SEQUENCE, func(id *cryptobyte.Builder) { // IdentifyData
					id.AddASN1(cbasn1.UTF8String, func(s *cryptobyte.Builder) { s.AddBytes([]byte(realName)) })
					id.AddASN1(cbasn1.SEQUENCE, func(infos *cryptobyte.Builder) { // userInfo
						infos.AddASN1(cbasn1.SEQUENCE, func(e *cryptobyte.Builder) { // VID
							e.AddASN1ObjectIdentifier(OIDVID)
							e.AddASN1(cbasn1.SEQUENCE, func(val *cryptobyte.Builder) {
								val.AddASN1(cbasn1.SEQUENCE, func(ai *cryptobyte.Builder) { ai.AddASN1ObjectIdentifier(alg) })
								val.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(x *cryptobyte.Builder) {
									x.AddASN1OctetString(vid)
								})
							})
						})
					})
				})
			})
		})
	})
	der, err := b.Bytes()
	if err != nil {
		return pkix.Extension{}, err
	}
	return pkix.Extension{Id: oidSubjectAltName, Value: der}, nil
}

// FromCertificate reads the identifyData of c. Other name forms in the
// subjectAltName are skipped; VID entries of unknown hash are skipped too,
// so that a certificate from a CA using a newer hash still yields its name.
func FromCertificate(c *x509.Certificate) (*Data, error) {
	for _, ext := range c.Extensions {
		if !ext.Id.Equal(oidSubjectAltName) {
			continue
		}
		return parseSAN(ext.Value)
	}
	return nil, ErrNoIdentifyData
}

func parseSAN(der []byte) (*Data, error) {
	bad := errors.New("identity: the subjectAltName's identifyData is malformed")
	in := cryptobyte.String(der)
	var names cryptobyte.String
	if !in.ReadASN1(&names, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, bad
	}
	for !names.Empty() {
		var name cryptobyte.String
		var tag cbasn1.Tag
		if !names.ReadAnyASN1(&name, &tag) {
			return nil, bad
		}
		if tag != cbasn1.Tag(0).Constructed().ContextSpecific() {
			continue
		}
		var typ asn1.ObjectIdentifier
		if !name.ReadASN1ObjectIdentifier(&typ) {
			return nil, bad
		}
		if !typ.Equal(OIDIdentifyData) {
			continue
		}
		var v, id cryptobyte.String
		if !name.ReadASN1(&v, cbasn1.Tag(0).Constructed().ContextSpecific()) || !name.Empty() ||
			!v.ReadASN1(&id, cbasn1.SEQUENCE) || !v.Empty() {
			return nil, bad
		}
		var realName cryptobyte.String
		if !id.ReadASN1(&realName, cbasn1.UTF8String) || !utf8.Valid(realName) {
			return nil, bad
		}
		d := &Data{RealName: string(realName)}
		if id.Empty() {
			return d, nil
		}
		var infos cryptobyte.String
		if !id.ReadASN1(&infos, cbasn1.SEQUENCE) || !id.Empty() {
			return nil, bad
		}
		for !infos.Empty() {
			var e cryptobyte.String
			var et asn1.ObjectIdentifier
			if !infos.ReadASN1(&e, cbasn1.SEQUENCE) || !e.ReadASN1ObjectIdentifier(&et) {
				return nil, bad
			}
			if !et.Equal(OIDVID) {
				continue
			}
			var val, ai, x cryptobyte.String
			var alg asn1.ObjectIdentifier
			var vid []byte
			if !e.ReadASN1(&val, cbasn1.SEQUENCE) || !e.Empty() ||
				!val.ReadASN1(&ai, cbasn1.SEQUENCE) || !ai.ReadASN1ObjectIdentifier(&alg) ||
				!val.ReadASN1(&x, cbasn1.Tag(0).Constructed().ContextSpecific()) || !val.Empty() ||
				!x.ReadASN1Bytes(&vid, cbasn1.OCTET_STRING) || !x.Empty() {
				return nil, bad
			}
			h, ok := oidHash(alg)
			if !ok {
				continue
			}
			d.VIDs = append(d.VIDs, VIDEntry{Hash: h, Value: bytes.Clone(vid)})
		}
		return d, nil
	}
	return nil, ErrNoIdentifyData
}

// Verify is what a relying bank does: recompute the VID from idn and R and
// compare it with each VID in c.
func Verify(c *x509.Certificate, idn string, r []byte) error {
	d, err := FromCertificate(c)
	if err != nil {
		return err
	}
	return d.Match(idn, r)
}

// Match is Verify for identifyData already read.
func (d *Data) Match(idn string, r []byte) error {
	if len(d.VIDs) == 0 {
		return ErrNoIdentifyData
	}
	for _, e := range d.VIDs {
		want, err := VID(e.Hash, idn, r)
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare(want, e.Value) == 1 {
			return nil
		}
	}
	return ErrMismatch
}

func hashOID(h crypto.Hash) (asn1.ObjectIdentifier, error) {
	switch h {
	case crypto.SHA256:
		return oidSHA256, nil
	case crypto.SHA1:
		return oidSHA1, nil
	}
	return nil, fmt.Errorf("identity: VID hash %v is not supported", h)
}

func oidHash(o asn1.ObjectIdentifier) (crypto.Hash, bool) {
	switch {
	case o.Equal(oidSHA256):
		return crypto.SHA256, true
	case o.Equal(oidSHA1):
		return crypto.SHA1, true
	}
	return 0, false
}
