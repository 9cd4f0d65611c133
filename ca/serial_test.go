package ca

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/signet-ca/signet/ca/signer"
)

func TestNormalizeSerial_AcceptsHumanSpellings(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0x00AB", "ab"},
		{"0X00AB", "ab"},
		{" 0A:bc ", "abc"},
		{"0", "0"},
		{"ab", "ab"},
		{"4A:1B:2C", "4a1b2c"},
		{"\t00ff\n", "ff"},
		{"7f" + strings.Repeat("00", 19), "7f" + strings.Repeat("00", 19)},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := normalizeSerial(tc.in); got != tc.want {
				t.Errorf("normalizeSerial(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if got := normalizeSerial(tc.in); !serialPattern.MatchString(got) {
				t.Errorf("normalizeSerial(%q) = %q does not match the serial pattern", tc.in, got)
			}
		})
	}
}

func TestNormalizeSerial_MatchesTheStoredSpelling(t *testing.T) {
	t.Parallel()
	for i := 0; i < 50; i++ {
		s, err := signer.NewSerial()
		if err != nil {
			t.Fatal(err)
		}
		stored := s.Text(16) // how signInto records the serial
		for _, typed := range []string{stored, strings.ToUpper(stored), "0x" + stored, "00" + stored, " " + colonHex(s.Bytes()) + " "} {
			if got := normalizeSerial(typed); got != stored {
				t.Fatalf("normalizeSerial(%q) = %q, want the stored %q", typed, got, stored)
			}
		}
	}
}

func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, v := range b {
		parts[i] = strings.ToUpper(hex.EncodeToString([]byte{v}))
	}
	return strings.Join(parts, ":")
}

func TestRANumber_Is00BankCodeAnd15Digits(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	var digits [10]int
	for _, bank := range []string{"004", "088", "089", "020"} {
		for i := 0; i < 50; i++ {
			n := raNumber(bank)
			if len(n) != 20 {
				t.Fatalf("raNumber(%q) = %q has %d characters, want 20", bank, n, len(n))
			}
			if !strings.HasPrefix(n, "00"+bank) {
				t.Fatalf("raNumber(%q) = %q does not start with 00%s", bank, n, bank)
			}
			if strings.Trim(n, "0123456789") != "" {
				t.Fatalf("raNumber(%q) = %q has non-digits", bank, n)
			}
			seen[n] = true
			for _, d := range n[5:] {
				digits[d-'0']++
			}
		}
	}
	if len(seen) != 200 {
		t.Errorf("200 RA numbers gave only %d distinct values", len(seen))
	}
	// 3000 random digits: each of 0..9 shows up (a miss has odds ~1e-136).
	for d, c := range digits {
		if c == 0 {
			t.Errorf("digit %d never appeared in 3000 random digits", d)
		}
	}
}

func TestBankName_NamesKnownBanksAndFallsBackToCode(t *testing.T) {
	for _, tc := range []struct{ code, want string }{
		{"004", "KB"},
		{"020", "Woori"},
		{"088", "Shinhan"},
		{"089", "Kbank"},
		{"027", "Citi"},
		{"003", "IBK"},
		{"011", "NH"},
		{"081", "Hana"},
		{"090", "Kakaobank"},
		{"999", "BANK999"},
		{"", "BANK"},
	} {
		if got := bankName(tc.code); got != tc.want {
			t.Errorf("bankName(%q) = %q, want %q", tc.code, got, tc.want)
		}
	}
}
