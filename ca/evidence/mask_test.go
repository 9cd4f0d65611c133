package evidence_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/signet-ca/signet/ca/evidence"
)

func TestMaskPhone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"01012345678", "010-****-5678"},
		{"010-1234-5678", "010-****-5678"},
		{"0111234567", "011-****-4567"},
		{"123456789", "*********"},
		{"1234", "****"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := evidence.MaskPhone(tc.in); got != tc.want {
			t.Errorf("MaskPhone(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMaskAccount(t *testing.T) {
	tests := []struct{ in, want string }{
		{"12345678901234", "**********1234"},
		{"123-4567-8901", "*******8901"},
		{"12345678", "****5678"},
		{"1234567", "*******"},
		{"1234", "****"},
		{"", ""},
	}
	for _, tc := range tests {
		got := evidence.MaskAccount(tc.in)
		if got != tc.want {
			t.Errorf("MaskAccount(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if n := strings.Count(got, "*"); n < 4 && tc.in != "" {
			t.Errorf("MaskAccount(%q) masks only %d digits", tc.in, n)
		}
	}
}

func TestSubjectRef(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	ci := strings.Repeat("A", 86) + "=="
	ref, err := evidence.SubjectRef(key, ci)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(ci))
	if want := "sr1_" + hex.EncodeToString(mac.Sum(nil)); ref != want {
		t.Errorf("SubjectRef = %q, want %q", ref, want)
	}
	if len(ref) != 4+64 || strings.Contains(ref, ci) {
		t.Errorf("SubjectRef shape: %q", ref)
	}
	again, _ := evidence.SubjectRef(key, ci)
	otherKey, _ := evidence.SubjectRef([]byte(strings.Repeat("x", 32)), ci)
	otherCI, _ := evidence.SubjectRef(key, strings.Repeat("B", 86)+"==")
	if again != ref || otherKey == ref || otherCI == ref {
		t.Error("SubjectRef must be deterministic per (key, ci) and differ otherwise")
	}

	for _, tc := range []struct {
		name string
		key  []byte
		ci   string
	}{
		{"short key", key[:31], ci},
		{"nil key", nil, ci},
		{"empty ci", key, ""},
	} {
		if ref, err := evidence.SubjectRef(tc.key, tc.ci); err == nil || ref != "" {
			t.Errorf("%s: SubjectRef = %q, %v; want error", tc.name, ref, err)
		}
	}
}
