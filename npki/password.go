package npki

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MinPasswordLength is the shortest certificate password CheckPassword
// accepts, following the Korean joint certificate rule.
const MinPasswordLength = 10

// ErrWeakPassword is wrapped by every CheckPassword error.
var ErrWeakPassword = errors.New("password must be at least 10 characters and mix letters, digits and symbols")

// CheckPassword applies the Korean certificate password rule: at least
// MinPasswordLength characters with at least one letter, one digit and one
// symbol (a printable character that is neither letter nor digit). The
// password is the only thing protecting signPri.key against offline
// guessing, so the rule is enforced before a key is ever written.
//
// The error names everything that is missing, for example
// "password must be at least 10 characters and mix letters, digits and
// symbols: no symbol".
func CheckPassword(pw string) error {
	var letter, digit, symbol bool
	for _, r := range pw {
		switch {
		case unicode.IsLetter(r):
			letter = true
		case unicode.IsDigit(r):
			digit = true
		case unicode.IsPrint(r):
			symbol = true
		}
	}
	var missing []string
	if n := utf8.RuneCountInString(pw); n < MinPasswordLength {
		missing = append(missing, fmt.Sprintf("only %d characters", n))
	}
	if !letter {
		missing = append(missing, "no letter")
	}
	if !digit {
		missing = append(missing, "no digit")
	}
	if !symbol {
		missing = append(missing, "no symbol")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrWeakPassword, strings.Join(missing, ", "))
	}
	return nil
}
