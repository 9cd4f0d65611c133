package ca

import (
	"testing"
	"time"

	"github.com/signet-ca/signet/store"
)

func TestRenewable_WindowOpens30DaysBeforeNotAfterAndClosesAtNotAfter(t *testing.T) {
	notAfter := unitTime(t, "2027-03-05T14:59:59Z") // 2027-03-05 23:59:59 KST
	opens := notAfter.Add(-30 * 24 * time.Hour)     // 2027-02-03 23:59:59 KST
	const serial = "4a1b2c3d"
	for _, tc := range []struct {
		name   string
		status string
		now    time.Time
		reason string   // "" means renewable
		frags  []string // the message must contain these
	}{
		{name: "opening instant is allowed", status: "active", now: opens},
		{name: "one second after opening is allowed", status: "active", now: opens.Add(time.Second)},
		{name: "one second before notAfter is allowed", status: "active", now: notAfter.Add(-time.Second)},
		{name: "one second before opening is refused", status: "active", now: opens.Add(-time.Second),
			reason: "outside_renewal_window", frags: []string{serial, "2027-02-03 23:59:59 KST", "2027-03-05 23:59:59 KST"}},
		{name: "right after issue is refused", status: "active", now: notAfter.AddDate(-1, 0, 0),
			reason: "outside_renewal_window", frags: []string{"2027-02-03 23:59:59 KST"}},
		{name: "at notAfter is expired", status: "active", now: notAfter,
			reason: "expired", frags: []string{serial, "2027-03-05 23:59:59 KST", "issue a new certificate"}},
		{name: "after notAfter is expired", status: "active", now: notAfter.Add(24 * time.Hour),
			reason: "expired", frags: []string{serial, "issue a new certificate"}},
		{name: "revoked is refused inside the window", status: "revoked", now: opens.Add(time.Hour),
			reason: "revoked", frags: []string{serial, "issue a new certificate"}},
		{name: "suspended is refused inside the window", status: "suspended", now: opens.Add(time.Hour),
			reason: "suspended", frags: []string{serial, "resume"}},
		{name: "expired status is refused even before notAfter", status: "expired", now: opens.Add(time.Hour),
			reason: "expired", frags: []string{serial, "new issue"}},
		{name: "revoked outside the window reports revoked", status: "revoked", now: opens.Add(-time.Hour),
			reason: "revoked"},
		{name: "suspended after notAfter reports suspended", status: "suspended", now: notAfter.Add(time.Hour),
			reason: "suspended"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &store.Certificate{Serial: serial, Status: tc.status, NotAfter: notAfter}
			rerr := renewable(c, tc.now)
			if tc.reason == "" {
				if rerr != nil {
					t.Fatalf("renewable at %s = %s/%s (%q), want allowed", tc.now.In(kst).Format(time.DateTime), kindName(rerr.Kind), rerr.Reason, rerr.Msg)
				}
				return
			}
			unitWantRefusal(t, rerr, KindPrecondition, tc.reason, tc.frags...)
		})
	}
}

func TestRenewable_WindowIsThirtyDays(t *testing.T) {
	if RenewalWindow != 30*24*time.Hour {
		t.Fatalf("RenewalWindow = %s, want 720h (30 days, DESIGN.md)", RenewalWindow)
	}
}
