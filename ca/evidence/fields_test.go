package evidence_test

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/signet-ca/signet/ca/evidence"
)

func TestValidators(t *testing.T) {
	future := time.Now().AddDate(1, 0, 0).Format("20060102")
	tests := []struct {
		name  string
		check func(string) error
		in    string
		ok    bool
	}{
		{"birth", evidence.ValidBirth, "19900101", true},
		{"birth", evidence.ValidBirth, "20000229", true},
		{"birth", evidence.ValidBirth, "19000229", false}, // 1900 is not a leap year
		{"birth", evidence.ValidBirth, "19900230", false},
		{"birth", evidence.ValidBirth, "19901301", false},
		{"birth", evidence.ValidBirth, "18991231", false},
		{"birth", evidence.ValidBirth, future, false},
		{"birth", evidence.ValidBirth, "900101", false},
		{"birth", evidence.ValidBirth, "1990-1-1", false},
		{"birth", evidence.ValidBirth, "", false},
		{"phone", evidence.ValidPhone, "01012345678", true},
		{"phone", evidence.ValidPhone, "0111234567", true},
		{"phone", evidence.ValidPhone, "01912345678", true},
		{"phone", evidence.ValidPhone, "01212345678", false},
		{"phone", evidence.ValidPhone, "0101234567", true},
		{"phone", evidence.ValidPhone, "010123456", false},
		{"phone", evidence.ValidPhone, "010123456789", false},
		{"phone", evidence.ValidPhone, "+821012345678", false},
		{"phone", evidence.ValidPhone, "", false},
		{"carrier", evidence.ValidCarrier, "SKT", true},
		{"carrier", evidence.ValidCarrier, "LGU_MVNO", true},
		{"carrier", evidence.ValidCarrier, "skt", false},
		{"carrier", evidence.ValidCarrier, "LGT", false},
		{"bank", evidence.ValidBank, "004", true},
		{"bank", evidence.ValidBank, "088", true},
		{"bank", evidence.ValidBank, "4", false},
		{"bank", evidence.ValidBank, "0044", false},
		{"bank", evidence.ValidBank, "0a4", false},
		{"account", evidence.ValidAccount, "123456", true},
		{"account", evidence.ValidAccount, strings.Repeat("9", 16), true},
		{"account", evidence.ValidAccount, "12345", false},
		{"account", evidence.ValidAccount, "123-456-789", false},
		{"ci", evidence.ValidCI, strings.Repeat("A", 86) + "==", true},
		{"ci", evidence.ValidCI, strings.Repeat("A", 88), false}, // 66 bytes
		{"ci", evidence.ValidCI, strings.Repeat("A", 84) + "====", false},
		{"name", evidence.ValidName, "홍길동", true},
		{"name", evidence.ValidName, "John Smith", true},
		{"name", evidence.ValidName, " \t ", false},
		{"name", evidence.ValidName, "홍\x00길동", false},
		{"name", evidence.ValidName, strings.Repeat("가", 101), false},
	}
	for _, tc := range tests {
		t.Run(tc.name+"/"+tc.in, func(t *testing.T) {
			err := tc.check(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && len(tc.in) > 3 && strings.Contains(err.Error(), tc.in) {
				t.Errorf("error echoes the value: %v", err)
			}
		})
	}
}

func TestNormalizeName(t *testing.T) {
	if got := evidence.NormalizeName("  " + norm.NFD.String("홍길동") + "\t"); got != "홍길동" {
		t.Errorf("NormalizeName = %q", got)
	}
	if got := evidence.NormalizeName(" John   Smith "); got != "John Smith" {
		t.Errorf("NormalizeName = %q", got)
	}
}

// A holder's name must fit the CN (at most 64 characters with "()" and the
// 20-digit RA number) and be a real name (issue 8: a 100-character name
// gave a 122-character CN, and names of U+3164 fillers passed).
func TestValidName_FitsTheCNAndIsARealName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"홍길동", true},
		{"김 철수", true},
		{"John Smith", true},
		{"O'Brien-Lee", true},
		{"洪吉童", true},
		{"Ma Jr.", true},
		{strings.Repeat("가", 42), true},
		{strings.Repeat("가", 43), false},
		{strings.Repeat("a", 100), false},
		{"\u3164\u3164\u3164", false},
		{"홍\u3164동", false},
		{"홍길동\ufffd", false},
		{"홍길동\u200b", false},
		{"홍길동!", false},
		{"-.'", false},
		{"Иван", false},
	} {
		if err := evidence.ValidName(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
