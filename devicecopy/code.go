package devicecopy

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// CodeDigits is the length of the code the sending device shows, as in the
// banks' "스마트폰 인증서 복사" flow (a 6-digit 인증번호).
const CodeDigits = 6

// Code is a validated 6-digit code, e.g. "042917". Leading zeros count.
type Code string

// codeSpace is 10^CodeDigits. rejectAbove is the largest multiple of it that
// fits in a uint32: values at or above it are drawn again, so that the
// reduction modulo codeSpace is uniform.
const (
	codeSpace   = 1_000_000
	rejectAbove = (1 << 32) / codeSpace * codeSpace
)

// NewCode draws a code uniformly from 000000–999999 with crypto/rand.
func NewCode() (Code, error) { return newCode(rand.Reader) }

func newCode(r io.Reader) (Code, error) {
	var b [4]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return "", fmt.Errorf("devicecopy: drawing a code: %w", err)
		}
		if v := binary.BigEndian.Uint32(b[:]); v < rejectAbove {
			return Code(fmt.Sprintf("%0*d", CodeDigits, v%codeSpace)), nil
		}
	}
}

var errCodeFormat = errors.New("devicecopy: the code is 6 digits, as shown on the sending device")

// ParseCode reads what the person typed on the receiving device. Spaces
// and hyphens are ignored ("042 917", "042-917"); anything else but
// exactly six ASCII digits is refused, so a typo never becomes a guess.
func ParseCode(s string) (Code, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, s)
	if len(s) != CodeDigits {
		return "", errCodeFormat
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", errCodeFormat
		}
	}
	return Code(s), nil
}

// valid reports whether c came through NewCode or ParseCode (or is shaped
// like it).
func (c Code) valid() bool {
	_, err := ParseCode(string(c))
	return err == nil && len(c) == CodeDigits
}
