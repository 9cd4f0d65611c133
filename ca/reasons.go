package ca

import "fmt"

// RFC 5280 section 5.3.1 CRLReason codes.
const (
	ReasonUnspecified          = 0
	ReasonKeyCompromise        = 1
	ReasonCACompromise         = 2
	ReasonAffiliationChanged   = 3
	ReasonSuperseded           = 4
	ReasonCessationOfOperation = 5
	ReasonCertificateHold      = 6
	ReasonRemoveFromCRL        = 8
	ReasonPrivilegeWithdrawn   = 9
	ReasonAACompromise         = 10
)

var reasonNames = map[int]string{
	ReasonUnspecified:          "unspecified",
	ReasonKeyCompromise:        "keyCompromise",
	ReasonCACompromise:         "cACompromise",
	ReasonAffiliationChanged:   "affiliationChanged",
	ReasonSuperseded:           "superseded",
	ReasonCessationOfOperation: "cessationOfOperation",
	ReasonCertificateHold:      "certificateHold",
	ReasonRemoveFromCRL:        "removeFromCRL",
	ReasonPrivilegeWithdrawn:   "privilegeWithdrawn",
	ReasonAACompromise:         "aACompromise",
}

// ReasonName returns the RFC 5280 name of a reason code.
func ReasonName(code int) string {
	if n, ok := reasonNames[code]; ok {
		return n
	}
	return fmt.Sprintf("reason(%d)", code)
}

// ParseReason reads an RFC 5280 reason name such as "keyCompromise".
func ParseReason(name string) (int, error) {
	for code, n := range reasonNames {
		if n == name {
			return code, nil
		}
	}
	return 0, fmt.Errorf("unknown revocation reason %q: use one of unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn", name)
}

// subscriberReasons are the reasons a holder may give for revoking their
// own certificate. CA and AA compromise belong to the CA; certificateHold
// is suspension, not revocation; removeFromCRL only undoes a hold.
var subscriberReasons = map[int]bool{
	ReasonUnspecified:          true,
	ReasonKeyCompromise:        true,
	ReasonAffiliationChanged:   true,
	ReasonSuperseded:           true,
	ReasonCessationOfOperation: true,
	ReasonPrivilegeWithdrawn:   true,
}
