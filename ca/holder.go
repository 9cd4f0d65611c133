package ca

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"strings"

	"github.com/signet-ca/signet/ca/identity"
)

// Holder is the resident number and the device's random R that an issue,
// reissue or renewal passes so that the certificate carries identifyData
// with a VID (issue 10). They are used here, in memory, to compute the VID
// and are never stored, logged or put in an error message.
type Holder struct {
	IDN       string
	RandomNum []byte
	// PreviousRandomNum is the renewed certificate's R when the device made
	// a new one; empty means R did not change.
	PreviousRandomNum []byte
}

// vidHash is the hash of the VIDs Signet writes. SHA-1 VIDs are only read.
const vidHash = crypto.SHA256

// vid checks the holder's fields and computes the VID. The checks run at
// the edge, before any lock, as the CSR's do.
func (h Holder) vid() ([]byte, *Error) {
	if h.IDN == "" || len(h.RandomNum) == 0 {
		return nil, refuse(KindInvalid, "holder_identity_missing",
			"holder.idn and holder.random_num are required: the certificate carries the holder's VID (identifyData), made from the resident number and the 20-byte random the device keeps in signPri.key")
	}
	if err := identity.CheckIDN(h.IDN); err != nil {
		return nil, refuse(KindInvalid, "holder_identity_invalid", "holder.idn: %s", strings.TrimPrefix(err.Error(), "identity: "))
	}
	if len(h.RandomNum) != identity.RandomNumSize {
		return nil, refuse(KindInvalid, "holder_identity_invalid", "holder.random_num must be %d random bytes, got %d", identity.RandomNumSize, len(h.RandomNum))
	}
	if n := len(h.PreviousRandomNum); n != 0 && n != identity.RandomNumSize {
		return nil, refuse(KindInvalid, "holder_identity_invalid", "holder.previous_random_num must be empty or %d bytes, got %d", identity.RandomNumSize, n)
	}
	v, err := identity.VID(vidHash, h.IDN, h.RandomNum)
	if err != nil {
		return nil, internal(err)
	}
	return v, nil
}

// matchBirth refuses a resident number whose birth date is not the
// identity evidence's: the evidence proves the person, and this is all an
// RA can check of the number without a real-name service.
func (h Holder) matchBirth(birth string) *Error {
	if err := identity.CheckIDNBirth(h.IDN, birth); err != nil {
		return refuse(KindInvalid, "holder_identity_mismatch",
			"holder.idn does not belong to the person the evidence proves (%s): check the resident number", strings.TrimPrefix(err.Error(), "identity: "))
	}
	return nil
}

// provePrevious checks the resident number against the renewed
// certificate's VID, with its R: a renewal may change the key and R, never
// the person. A certificate without identifyData (issued before Signet
// wrote it) has nothing to check against.
func (h Holder) provePrevious(old *x509.Certificate) *Error {
	r := h.PreviousRandomNum
	if len(r) == 0 {
		r = h.RandomNum
	}
	err := identity.Verify(old, h.IDN, r)
	switch {
	case err == nil, errors.Is(err, identity.ErrNoIdentifyData):
		return nil
	case errors.Is(err, identity.ErrMismatch):
		return refuse(KindForbidden, "holder_identity_mismatch",
			"holder.idn and the random of the certificate being renewed (holder.previous_random_num, or holder.random_num if unchanged) do not match its VID: send the resident number and the R kept in the current signPri.key")
	default:
		return refuse(KindInvalid, "holder_identity_invalid", "the certificate being renewed: %s", err.Error())
	}
}

// identifyData returns the certificate's identity extension and makes
// sure the profile's template left the subjectAltName to it.
func identifyData(tmpl *x509.Certificate, realName string, vid []byte) error {
	if len(tmpl.DNSNames)+len(tmpl.EmailAddresses)+len(tmpl.IPAddresses)+len(tmpl.URIs) > 0 {
		return errors.New("profile template adds subjectAltNames, but a subscriber certificate's subjectAltName holds identifyData only")
	}
	for _, e := range tmpl.ExtraExtensions {
		if e.Id.Equal(oidSubjectAltName) {
			return errors.New("profile template adds a subjectAltName extension, but a subscriber certificate's subjectAltName holds identifyData only")
		}
	}
	ext, err := identity.Extension(realName, vidHash, vid)
	if err != nil {
		return err
	}
	tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, ext)
	return nil
}

var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// realNameOf is the holder's name for a renewal: the old certificate's
// identifyData, else the NPKI CN up to "()".
func realNameOf(old *x509.Certificate) string {
	if d, err := identity.FromCertificate(old); err == nil && d.RealName != "" {
		return d.RealName
	}
	name, _, _ := strings.Cut(old.Subject.CommonName, "()")
	return name
}
