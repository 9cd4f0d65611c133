package evidence

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Field validators. They are shared by Verify and by the dev simulator so that
// what the simulator accepts as input is exactly what Verify accepts in a
// token. Their errors name the field and the expected form, never the value
// (DESIGN.md, invariant 7).

// Carriers are the mobile carriers a phone check may report (DESIGN.md,
// "Identity evidence": SKT, KT, LGU and their MVNOs).
var Carriers = []string{"SKT", "KT", "LGU", "SKT_MVNO", "KT_MVNO", "LGU_MVNO"}

// CILen is the length of a CI (연계정보): base64 of 64 bytes.
const CILen = 88

// maxNameRunes keeps the subject CN within RFC 5280's ub-common-name of 64
// characters: the CN is the name, "()" and the RA's 20-digit number.
const maxNameRunes = 64 - 2 - 20

// NormalizeName returns name in Unicode NFC with surrounding whitespace
// removed and inner runs of whitespace collapsed to one space. Providers may
// send decomposed Hangul (NFD) or padded names; the same person must compare
// equal across the phone and account checks.
func NormalizeName(name string) string {
	return strings.Join(strings.Fields(norm.NFC.String(name)), " ")
}

// ValidName checks that a (normalized) name can be a certificate holder's:
// 1 to 42 characters (so that the CN stays within 64), letters of the
// Hangul, Han (Hanja) or Latin script, with single spaces, hyphens,
// apostrophes, periods and middle dots between them. Hangul fillers (which
// render as nothing), control characters, symbols and U+FFFD (what a JSON
// decoder makes of invalid UTF-8) are refused, so no blank or forged-looking
// name is certified.
func ValidName(name string) error {
	n := NormalizeName(name)
	if n == "" {
		return errors.New("name is missing")
	}
	if !utf8.ValidString(n) || utf8.RuneCountInString(n) > maxNameRunes {
		return fmt.Errorf("name must be valid UTF-8 of at most %d characters: the certificate's CN is the name, \"()\" and a 20-digit number, at most 64 characters (RFC 5280)", maxNameRunes)
	}
	letters := 0
	for _, r := range n {
		switch {
		case isNameLetter(r):
			letters++
		case r == ' ' || r == '-' || r == '\'' || r == '.' || r == '\u00b7':
		default:
			return fmt.Errorf("name contains %U, which is not a letter of a Korean, Hanja or Latin name: give the name as on the ID card", r)
		}
	}
	if letters == 0 {
		return errors.New("name has no letters: give the name as on the ID card")
	}
	return nil
}

// hangulFillers render as nothing; a name of them would look blank.
var hangulFillers = map[rune]bool{0x115F: true, 0x1160: true, 0x3164: true, 0xFFA0: true}

func isNameLetter(r rune) bool {
	if !unicode.IsLetter(r) || hangulFillers[r] {
		return false
	}
	return unicode.In(r, unicode.Hangul, unicode.Han, unicode.Latin)
}

// ValidBirth checks that s is a real calendar date written YYYYMMDD, from 1900
// on and not in the future.
func ValidBirth(s string) error {
	if len(s) != 8 || !allDigits(s) {
		return errors.New("birth date must be 8 digits YYYYMMDD")
	}
	// time.Parse rejects days that do not exist (e.g. 20230230).
	t, err := time.Parse("20060102", s)
	if err != nil {
		return errors.New("birth date is not a real date (YYYYMMDD)")
	}
	if t.Year() < 1900 || t.After(time.Now()) {
		return errors.New("birth date must be between 1900 and today")
	}
	return nil
}

// ValidPhone checks a Korean mobile number: 010, 011, 016, 017, 018 or 019
// followed by 7 or 8 digits, digits only.
func ValidPhone(s string) error {
	if !allDigits(s) || len(s) < 10 || len(s) > 11 {
		return errors.New("phone number must be 10 or 11 digits without separators (010 and 8 digits)")
	}
	switch s[:3] {
	case "010", "011", "016", "017", "018", "019":
		return nil
	}
	return errors.New("phone number must start with 010, 011, 016, 017, 018 or 019")
}

// ValidCarrier checks that s is one of Carriers.
func ValidCarrier(s string) error {
	for _, c := range Carriers {
		if s == c {
			return nil
		}
	}
	return errors.New("carrier must be one of " + strings.Join(Carriers, ", "))
}

// ValidBank checks a bank code: exactly 3 digits (e.g. 004 KB, 088 Shinhan).
func ValidBank(s string) error {
	if len(s) != 3 || !allDigits(s) {
		return errors.New("bank code must be 3 digits, e.g. 004")
	}
	return nil
}

// ValidAccount checks an account number: 6 to 16 digits, no separators.
func ValidAccount(s string) error {
	if len(s) < 6 || len(s) > 16 || !allDigits(s) {
		return errors.New("account number must be 6 to 16 digits without separators")
	}
	return nil
}

// ValidCI checks a CI: exactly 88 characters of standard base64 encoding 64
// bytes.
func ValidCI(s string) error {
	if len(s) != CILen {
		return errors.New("CI must be 88 characters of base64")
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != 64 {
		return errors.New("CI must be base64 of 64 bytes")
	}
	return nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
