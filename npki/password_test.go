package npki

import (
	"errors"
	"testing"
)

func TestCheckPassword(t *testing.T) {
	const prefix = "password must be at least 10 characters and mix letters, digits and symbols: "
	tests := []struct {
		pw      string
		missing string // "" means the password is accepted
	}{
		{"abcdefgh12!", ""},
		{"Signet2024#", ""},
		{"한글비밀번호는열자12!", ""},
		{"abc def 123", ""}, // a space is a printable non-letter, non-digit
		{"abcdefgh123", "no symbol"},
		{"abcdefgh!@#", "no digit"},
		{"1234567890!", "no letter"},
		{"abc12!", "only 6 characters"},
		{"abcdefghijk", "no digit, no symbol"},
		{"", "only 0 characters, no letter, no digit, no symbol"},
		{"가나다라마바사아자1", "no symbol"},  // 10 characters, though 28 bytes
		{"abcdefgh1\t", "no symbol"}, // a control character is not a symbol
	}
	for _, tt := range tests {
		err := CheckPassword(tt.pw)
		if tt.missing == "" {
			if err != nil {
				t.Errorf("CheckPassword(%q) = %v, want nil", tt.pw, err)
			}
			continue
		}
		if err == nil || err.Error() != prefix+tt.missing {
			t.Errorf("CheckPassword(%q) = %v, want %q", tt.pw, err, prefix+tt.missing)
		}
		if !errors.Is(err, ErrWeakPassword) {
			t.Errorf("CheckPassword(%q) does not wrap ErrWeakPassword", tt.pw)
		}
	}
}
