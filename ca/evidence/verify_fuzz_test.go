package evidence_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/signet-ca/signet/ca/evidence"
	et "github.com/signet-ca/signet/ca/evidence/evidencetest"
)

// FuzzVerifyEvidence puts arbitrary text in the phone or the account slot
// beside a valid token of the other kind. A refusal must never panic and
// must carry a Reason; a refusal's message must not quote the CI; an
// accepted pair is the minted person, every field printable text, and
// verifies the same way again.
func FuzzVerifyEvidence(f *testing.F) {
	m := et.NewMinter(aud, at(t0))
	v, err := evidence.NewVerifier(aud, m.Providers(), at(t0))
	if err != nil {
		f.Fatal(err)
	}
	p := et.DefaultPerson()
	phone, account := m.PhoneToken(nonce, p), m.AccountToken(nonce, p)
	f.Add(phone, true)
	f.Add(account, false)
	f.Add(account, true) // a token in the other kind's slot
	f.Add(noneToken(m.PhoneClaims(nonce, p)), true)
	f.Add(m.PhoneToken(nonce, p, et.WithClaim("jti", "a\x00b")), true)
	f.Add(m.PhoneToken(nonce, p, et.WithClaim("name", "\xff\xfe")), true)
	f.Add(m.AccountToken("another-nonce", p), false)
	f.Fuzz(func(t *testing.T, token string, phoneSlot bool) {
		pt, acct := token, account
		if !phoneSlot {
			pt, acct = phone, token
		}
		id, err := v.Verify(pt, acct, nonce)
		if err != nil {
			if evidence.ReasonOf(err) == "" {
				t.Fatalf("refusal without a reason: %v", err)
			}
			if strings.Contains(err.Error(), p.CI()) {
				t.Fatalf("refusal quotes the CI: %v", err)
			}
			return
		}
		if id.CI != p.CI() || len(id.JTIs) != 2 {
			t.Fatalf("accepted evidence for someone else: %+v", id)
		}
		for _, s := range append([]string{id.Name, id.Birth, id.Phone, id.Carrier, id.Bank, id.Account}, id.JTIs...) {
			if !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0 {
				t.Fatalf("accepted a field that is not printable text: %q", s)
			}
		}
		again, err := v.Verify(pt, acct, nonce)
		if err != nil || again.CI != id.CI || again.JTIs[0] != id.JTIs[0] || again.JTIs[1] != id.JTIs[1] {
			t.Fatalf("verifying again gave %+v, %v", again, err)
		}
	})
}
