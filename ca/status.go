package ca

import (
	"time"

	"github.com/signet-ca/signet/store"
)

// Status is a certificate's effective status: what a relying party is told
// about it at a given time. It is defined here, once; the store keeps the
// stored status, and its audit queries filter with SQL that mirrors
// StatusAt (store.TestSearch_EffectiveStatusAgreesWithCa checks the two
// agree).
type Status string

// The statuses. A certificate past notAfter is expired even while its row
// still says active or suspended (the row is marked expired lazily, when
// the subject issues again); a revocation stays the fact worth reporting
// after notAfter.
const (
	Active    Status = store.StatusActive
	Suspended Status = store.StatusSuspended
	Revoked   Status = store.StatusRevoked
	Expired   Status = store.StatusExpired
)

// StatusAt is c's effective status at now.
func StatusAt(c *store.Certificate, now time.Time) Status {
	st := Status(c.Status)
	if (st == Active || st == Suspended) && !now.Before(c.NotAfter) {
		return Expired
	}
	return st
}
