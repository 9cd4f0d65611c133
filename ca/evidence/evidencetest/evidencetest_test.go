package evidencetest_test

import (
	"testing"
	"time"

	"github.com/signet-ca/signet/ca/evidence"
	et "github.com/signet-ca/signet/ca/evidence/evidencetest"
)

func TestMinter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	m := et.NewMinter("aud", func() time.Time { return now })
	p := et.DefaultPerson()
	if err := evidence.ValidCI(p.CI()); err != nil || p.CI() != et.DefaultPerson().CI() {
		t.Fatalf("CI %q: %v", p.CI(), err)
	}
	v, err := evidence.NewVerifier("aud", m.Providers(), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(m.PhoneToken("n", p), m.AccountToken("n", p), "n"); err != nil {
		t.Fatalf("default tokens do not verify: %v", err)
	}

	c := m.PhoneClaims("n", p, et.WithClaim("name", "x"), et.WithoutClaim("ci"), et.IssuedAt(now.Add(-time.Hour)))
	if c["name"] != "x" || c["ci"] != nil || c["iat"] != now.Add(-time.Hour).Unix() || c["exp"] != now.Add(-50*time.Minute).Unix() {
		t.Errorf("options not applied: %v", c)
	}
	if a, b := m.PhoneClaims("n", p)["jti"], m.PhoneClaims("n", p)["jti"]; a == b {
		t.Error("jti must be random")
	}
}
