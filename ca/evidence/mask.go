package evidence

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
)

// Helpers for DESIGN.md invariant 7: personal data is never stored or logged
// in clear. Phone and account numbers are kept masked; the CI only as an HMAC.

// MaskPhone masks a mobile number for storage and logs, keeping the carrier
// prefix and the last 4 digits: "01012345678" -> "010-****-5678". Separators
// in the input are ignored; anything shorter than 10 digits is fully masked.
func MaskPhone(phone string) string {
	d := digits(phone)
	if len(d) < 10 {
		return strings.Repeat("*", len(d))
	}
	// A fixed-width middle hides whether the number had 7 or 8 digits after
	// the prefix.
	return d[:3] + "-****-" + d[len(d)-4:]
}

// MaskAccount masks an account number keeping its last 4 digits, with at
// least 4 digits masked: "12345678901234" -> "**********1234". Numbers of
// fewer than 8 digits are fully masked. Separators in the input are ignored.
func MaskAccount(account string) string {
	d := digits(account)
	if len(d) < 8 {
		return strings.Repeat("*", len(d))
	}
	return strings.Repeat("*", len(d)-4) + d[len(d)-4:]
}

func digits(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// SubjectRefPrefix versions SubjectRef values so that the key or the
// construction can change later without ambiguity.
const SubjectRefPrefix = "sr1_"

// MinSubjectRefKeyLen is the shortest server key SubjectRef accepts.
const MinSubjectRefKeyLen = 32

// SubjectRef returns the subject_ref stored in place of a CI: "sr1_" followed
// by the hex HMAC-SHA256 of ci under the server key. The same person gets the
// same ref on every enrollment, which is what "one active certificate per
// (subject, profile)" needs, while the CI itself is never stored (DESIGN.md,
// "Identity evidence" and invariant 7). It refuses keys shorter than 32 bytes
// and an empty ci.
func SubjectRef(key []byte, ci string) (string, error) {
	if len(key) < MinSubjectRefKeyLen {
		return "", errors.New("evidence: subject_ref key must be at least 32 bytes")
	}
	if ci == "" {
		return "", errors.New("evidence: cannot compute subject_ref of an empty CI")
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ci))
	return SubjectRefPrefix + hex.EncodeToString(m.Sum(nil)), nil
}
