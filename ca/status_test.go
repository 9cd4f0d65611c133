package ca

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

// The store filters the admin search by effective status in SQL; StatusAt
// is the definition. Every stored status on both sides of notAfter: the
// rows a filter returns are exactly the rows StatusAt puts in that status.
func TestSearch_EffectiveStatusAgreesWithCa(t *testing.T) {
	t.Parallel()
	db, _ := storetest.Open(t)
	ctx := context.Background()
	if err := db.UpsertIssuer(ctx, "iss", "CN=Test", []byte{1}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var rows []*store.Certificate
	i := 0
	for _, stored := range []string{"active", "suspended", "revoked", "expired"} {
		for _, notAfter := range []time.Time{now.Add(-time.Hour), now, now.Add(time.Hour)} {
			i++
			c := &store.Certificate{Serial: fmt.Sprintf("%x", 0xa00+i), SubjectRef: fmt.Sprintf("sr1_%d", i), Profile: "personal-banking",
				SubjectDN: "CN=x", NotBefore: now.Add(-48 * time.Hour), NotAfter: notAfter, SPKISHA256: []byte{byte(i)},
				KeyType: "rsa2048", DER: []byte{1}, IssuerID: "iss", Operation: "issue", RequestID: fmt.Sprintf("req-%d", i),
				CreatedAt: now.Add(-48 * time.Hour)}
			err := db.InTx(ctx, func(tx *store.Tx) error {
				if err := tx.InsertCertificate(ctx, c); err != nil {
					return err
				}
				switch stored {
				case "suspended":
					return tx.Suspend(ctx, c.Serial, now.Add(-time.Hour))
				case "revoked":
					return tx.Revoke(ctx, c.Serial, now.Add(-time.Hour), 1, "")
				case "expired":
					_, err := tx.ExpireLive(ctx, c.SubjectRef, c.Profile, notAfter.Add(time.Second))
					return err
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			c.Status = stored
			rows = append(rows, c)
		}
	}
	for _, want := range []Status{Active, Suspended, Revoked, Expired} {
		got, _, err := db.SearchCertificates(ctx, store.CertFilter{Status: string(want), Now: now, PageSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		returned := map[string]bool{}
		for _, c := range got {
			returned[c.Serial] = true
		}
		for _, c := range rows {
			stored, _ := db.CertificateBySerial(ctx, c.Serial)
			if is := StatusAt(stored, now) == want; is != returned[c.Serial] {
				t.Errorf("stored %s, notAfter %s: StatusAt says %s, the %s filter returned it: %v",
					stored.Status, stored.NotAfter.Sub(now), StatusAt(stored, now), want, returned[c.Serial])
			}
		}
	}
}

func TestStatusAt(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		status   string
		notAfter time.Time
		want     Status
	}{
		{"active", now.Add(time.Second), "active"},
		{"active", now, "expired"}, // at notAfter itself, as ca counts it
		{"suspended", now.Add(-time.Hour), "expired"},
		{"suspended", now.Add(time.Hour), "suspended"},
		{"revoked", now.Add(-time.Hour), "revoked"},
		{"expired", now.Add(time.Hour), "expired"},
	} {
		c := &store.Certificate{Status: tc.status, NotAfter: tc.notAfter}
		if got := StatusAt(c, now); got != tc.want {
			t.Errorf("%s until %s: %s, want %s", tc.status, tc.notAfter, got, tc.want)
		}
	}
}
