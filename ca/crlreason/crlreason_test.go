package crlreason

import (
	"fmt"
	"sort"
	"testing"
)

// rfc5280 is RFC 5280 section 5.3.1, written out independently of the
// package's table.
var rfc5280 = []struct {
	code int
	name string
}{
	{0, "unspecified"},
	{1, "keyCompromise"},
	{2, "cACompromise"},
	{3, "affiliationChanged"},
	{4, "superseded"},
	{5, "cessationOfOperation"},
	{6, "certificateHold"},
	{8, "removeFromCRL"},
	{9, "privilegeWithdrawn"},
	{10, "aACompromise"},
}

func TestCRLReason_NameAndParseRoundTripEveryRFC5280Code(t *testing.T) {
	for _, r := range rfc5280 {
		t.Run(r.name, func(t *testing.T) {
			if got := Name(r.code); got != r.name {
				t.Errorf("Name(%d) = %q, want %q", r.code, got, r.name)
			}
			code, err := Parse(r.name)
			if err != nil {
				t.Fatalf("Parse(%q): %v", r.name, err)
			}
			if code != r.code {
				t.Errorf("Parse(%q) = %d, want %d", r.name, code, r.code)
			}
		})
	}
}

func TestCRLReason_ConstantsHaveRFCNumbers(t *testing.T) {
	got := []int{Unspecified, KeyCompromise, CACompromise, AffiliationChanged, Superseded,
		CessationOfOperation, CertificateHold, RemoveFromCRL, PrivilegeWithdrawn, AACompromise}
	for i, r := range rfc5280 {
		if got[i] != r.code {
			t.Errorf("constant for %s = %d, want %d", r.name, got[i], r.code)
		}
	}
}

func TestCRLReason_UnknownCodesAndNames(t *testing.T) {
	for _, code := range []int{7, -1, 11, 100} {
		want := fmt.Sprintf("reason(%d)", code)
		if got := Name(code); got != want {
			t.Errorf("Name(%d) = %q, want %q", code, got, want)
		}
	}
	for _, name := range []string{"", "reason(7)", "KeyCompromise", "keycompromise", "key_compromise", " superseded", "1", "hold"} {
		code, err := Parse(name)
		if err == nil {
			t.Errorf("Parse(%q) = %d, want an error", name, code)
		}
	}
}

func TestCRLReason_BySubscriberExactlyTheHolderReasons(t *testing.T) {
	want := map[int]bool{
		Unspecified: true, KeyCompromise: true, AffiliationChanged: true,
		Superseded: true, CessationOfOperation: true, PrivilegeWithdrawn: true,
	}
	for code := -2; code <= 12; code++ {
		if got := BySubscriber(code); got != want[code] {
			t.Errorf("BySubscriber(%d %s) = %v, want %v", code, Name(code), got, want[code])
		}
	}
	codes := SubscriberCodes()
	seen := map[int]bool{}
	for _, c := range codes {
		if !BySubscriber(c) {
			t.Errorf("SubscriberCodes lists %s, which BySubscriber refuses", Name(c))
		}
		if seen[c] {
			t.Errorf("SubscriberCodes lists %s twice", Name(c))
		}
		seen[c] = true
	}
	if len(seen) != len(want) {
		got := make([]int, 0, len(seen))
		for c := range seen {
			got = append(got, c)
		}
		sort.Ints(got)
		t.Errorf("SubscriberCodes = %v, want all of the %d holder reasons", got, len(want))
	}
}
