package signer

import (
	"context"
	"testing"
	"time"

	"github.com/signet-ca/signet/ca/devca"
	"github.com/signet-ca/signet/store"
	"github.com/signet-ca/signet/store/storetest"
)

var benchKeyTypes = []string{devca.RSA2048, devca.ECDSAP256}

// BenchmarkPrepare is the work the recorded path does per subscriber
// certificate before the database and the CA key: a serial, the lint
// twin's signature and zlint with the NPKI profile.
func BenchmarkPrepare(b *testing.B) {
	for _, keyType := range benchKeyTypes {
		ca := newDevCA(b, keyType)
		b.Run(keyType, func(b *testing.B) {
			s, _ := newCountingSigner(b, ca, newLinter(b))
			tmpl := subscriberTemplate(b)
			b.ReportAllocs()
			for b.Loop() {
				t := *tmpl // Prepare completes its template: a fresh one per certificate
				if _, err := s.Prepare(Subscriber, &t, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSign is the CA signature alone, as Sign makes it through the
// softcas backend: the key's signature, crypto/x509's check of it, the
// parse and the TBS comparison. Each op signs its own certificate, prepared
// and reserved in the real ledger before the timer starts, so that setup
// grows with b.N: bound it with -benchtime=Nx.
func BenchmarkSign(b *testing.B) {
	db, _ := storetest.Open(b)
	ctx := context.Background()
	for _, keyType := range benchKeyTypes {
		ca := newDevCA(b, keyType)
		b.Run(keyType, func(b *testing.B) {
			s, _ := newCountingSigner(b, ca, newLinter(b))
			ps := make([]*Pending, b.N)
			for i := range ps {
				p, err := s.Prepare(Subscriber, subscriberTemplate(b), nil)
				if err != nil {
					b.Fatal(err)
				}
				ps[i] = p
			}
			now := time.Now()
			// In transactions of 500, within the store's transaction timeout.
			for rest := ps; len(rest) > 0; {
				batch := rest[:min(len(rest), 500)]
				rest = rest[len(batch):]
				err := db.InTx(ctx, func(tx *store.Tx) error {
					for _, p := range batch {
						if err := s.Reserve(ctx, tx, p, Reason{Purpose: "bench", Actor: "bench"}, now); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.Sign(ps[i]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
