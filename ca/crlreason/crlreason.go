// Package crlreason names the RFC 5280 section 5.3.1 CRLReason codes. It is
// shared by the server and the CLI, so it imports nothing of either.
package crlreason

import "fmt"

// CRLReason codes; the numbers are the RFC's (7 is unused).
const (
	Unspecified          = 0
	KeyCompromise        = 1
	CACompromise         = 2
	AffiliationChanged   = 3
	Superseded           = 4
	CessationOfOperation = 5
	CertificateHold      = 6
	RemoveFromCRL        = 8
	PrivilegeWithdrawn   = 9
	AACompromise         = 10
)

var reasonNames = map[int]string{
	Unspecified:          "unspecified",
	KeyCompromise:        "keyCompromise",
	CACompromise:         "cACompromise",
	AffiliationChanged:   "affiliationChanged",
	Superseded:           "superseded",
	CessationOfOperation: "cessationOfOperation",
	CertificateHold:      "certificateHold",
	RemoveFromCRL:        "removeFromCRL",
	PrivilegeWithdrawn:   "privilegeWithdrawn",
	AACompromise:         "aACompromise",
}

// Name returns the RFC 5280 name of a reason code, e.g. "keyCompromise".
func Name(code int) string {
	if n, ok := reasonNames[code]; ok {
		return n
	}
	return fmt.Sprintf("reason(%d)", code)
}

// Parse reads an RFC 5280 reason name such as "keyCompromise".
func Parse(name string) (int, error) {
	for code, n := range reasonNames {
		if n == name {
			return code, nil
		}
	}
	return 0, fmt.Errorf("unknown revocation reason %q: use one of unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn", name)
}

// subscriber holds the reasons a holder may give for revoking their
// own certificate. CA and AA compromise belong to the CA; certificateHold
// is suspension, not revocation; removeFromCRL only undoes a hold.
var subscriber = map[int]bool{
	Unspecified:          true,
	KeyCompromise:        true,
	AffiliationChanged:   true,
	Superseded:           true,
	CessationOfOperation: true,
	PrivilegeWithdrawn:   true,
}

// SubscriberCodes lists the reasons a holder may give, most common first.
func SubscriberCodes() []int {
	return []int{KeyCompromise, AffiliationChanged, Superseded, CessationOfOperation, PrivilegeWithdrawn, Unspecified}
}

// BySubscriber reports whether a holder may give this reason for revoking
// their own certificate.
func BySubscriber(code int) bool { return subscriber[code] }

// ForStatus is the reason relying parties see (CRL entry, OCSP revoked
// response) for a certificate whose stored status is status: certificateHold
// for a suspension (효력정지, DESIGN.md), the recorded reason for a
// revocation; ok is false for a certificate that is not on hold or revoked.
func ForStatus(status string, recorded *int) (reason int, ok bool) {
	switch status {
	case "suspended":
		return CertificateHold, true
	case "revoked":
		if recorded != nil {
			return *recorded, true
		}
		return Unspecified, true
	}
	return 0, false
}
