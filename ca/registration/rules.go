package registration

import (
	"crypto/x509"
	"time"

	"github.com/signet-ca/signet/ca"
	"github.com/signet-ca/signet/ca/crlreason"
)

// The gRPC methods key proofs are bound to, so that a proof made for one
// operation is never accepted for another.
const (
	MethodRegister   = "/signet.v1.RegistrationService/Register"
	MethodUnregister = "/signet.v1.RegistrationService/Unregister"
	MethodList       = "/signet.v1.RegistrationService/ListRegistrations"
)

// Registration statuses.
const (
	StatusActive       = "active"
	StatusUnregistered = "unregistered"
	StatusRevoked      = "revoked"
	StatusExpired      = "expired"
	StatusReplaced     = "replaced"
)

// SignetCA is the trust name of Signet's own certificates: registered for
// their holder without a separate step.
const SignetCA = "signet"

// BindRegister is a registration proof's binding: the challenge's nonce.
func BindRegister(nonce string) string { return nonce }

// BindUnregister binds an unregistration proof to its challenge and its
// reason, so that a captured proof cannot be sent with another reason.
func BindUnregister(nonce, reason string) string { return nonce + " reason=" + reason }

// BindList binds a listing proof to its challenge.
func BindList(nonce string) string { return nonce }

// checkPeriod refuses a certificate outside its validity period at now.
func checkPeriod(cert *x509.Certificate, now time.Time) *ca.Error {
	if now.Before(cert.NotBefore) {
		return ca.Refuse(ca.KindPrecondition, "not_yet_valid", "certificate %s is valid only from %s: try again then", cert.SerialNumber.Text(16), cert.NotBefore.UTC().Format(time.RFC3339))
	}
	if !now.Before(cert.NotAfter) {
		return ca.Refuse(ca.KindPrecondition, "expired", "certificate %s expired at %s: renew it at its bank and register the new one", cert.SerialNumber.Text(16), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkKeyUsage requires what a joint certificate for signing carries:
// digitalSignature and nonRepudiation. An encryption-only certificate
// (kmCert) cannot sign anyone in.
func checkKeyUsage(cert *x509.Certificate) *ca.Error {
	const want = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
	if cert.KeyUsage&want != want {
		return ca.Refuse(ca.KindInvalid, "bad_key_usage", "certificate %s is not a signing certificate (key usage must include digitalSignature and nonRepudiation): register the signing certificate (signCert.der)", cert.SerialNumber.Text(16))
	}
	return nil
}

// afterRevocation is the registration status a revocation at the CA leads
// to: superseded means the CA renewed or reissued it (replaced).
func afterRevocation(reason int) string {
	if reason == crlreason.Superseded {
		return StatusReplaced
	}
	return StatusRevoked
}

// refusalFor is how a sign-in or listing refuses a registration that is no
// longer active.
func refusalFor(r string, serial string, reason string) *ca.Error {
	switch r {
	case StatusUnregistered:
		return ca.Refuse(ca.KindNotFound, "unregistered", "certificate %s was unregistered here (%s): register it again to use it", serial, reason)
	case StatusRevoked:
		return ca.Refuse(ca.KindPrecondition, "revoked", "certificate %s was revoked by its CA (%s): it cannot be used; get a new certificate and register it", serial, reason)
	case StatusReplaced:
		return ca.Refuse(ca.KindPrecondition, "replaced", "certificate %s was replaced at its CA (superseded): register the new certificate", serial)
	case StatusExpired:
		return ca.Refuse(ca.KindPrecondition, "expired", "certificate %s expired: renew it at its bank and register the new one", serial)
	}
	return nil
}
