package ca

import (
	"context"
	"time"

	"github.com/signet-ca/signet/ca/crlreason"
	"github.com/signet-ca/signet/store"
)

// lapsedBatch bounds one job transaction so that locks stay short.
const lapsedBatch = 500

// RevokeLapsedSuspensions revokes every certificate suspended for more
// than 6 months (DESIGN.md "Suspend / resume"). Among replicas one runs it
// at a time (a transaction-scoped advisory lock); the others skip. The
// revocation keeps the hold's time, because trust ended when the hold
// began, and reason unspecified, because nobody gave one.
func (a *Authority) RevokeLapsedSuspensions(ctx context.Context) (int, error) {
	total := 0
	for {
		n := 0
		err := a.db.InTx(ctx, func(tx *store.Tx) error {
			ok, err := tx.TryJobLock(ctx, "lapsed-suspensions")
			if err != nil || !ok {
				return err
			}
			now := a.now().UTC()
			certs, err := tx.LapsedSuspensions(ctx, now.AddDate(0, -SuspensionLimit, 0), lapsedBatch)
			if err != nil {
				return err
			}
			for _, c := range certs {
				if err := tx.Revoke(ctx, c.Serial, *c.RevokedAt, crlreason.Unspecified, ""); err != nil {
					return err
				}
				if err := tx.NotifyStatus(ctx, c.Serial); err != nil {
					return err
				}
				ev := &store.AuditEvent{At: now, Actor: "signet", Action: "revoke", Outcome: "ok", Serial: c.Serial,
					SubjectRef: c.SubjectRef, Profile: c.Profile,
					Details: map[string]any{"reason": "unspecified", "why": "suspended for more than 6 months", "suspended_at": c.RevokedAt}}
				if err := tx.AppendAudit(ctx, ev); err != nil {
					return err
				}
			}
			n = len(certs)
			return nil
		})
		total += n
		if err != nil || n < lapsedBatch {
			return total, err
		}
	}
}

// SpentRetention is how long spent evidence ids, proof ids and enrollments
// are kept. Single use only has to hold while a token could still pass the
// freshness checks: evidence for evidence.MaxAge after its iat (plus
// evidence.ClockSkew), a proof for proof.MaxSkew. A day is far beyond both,
// and beyond any clock difference between replicas.
const SpentRetention = 24 * time.Hour

// spentBatch bounds one purge transaction.
const spentBatch = 5000

// PurgeSpent deletes spent evidence and enrollments older than
// SpentRetention, one batch per transaction, one replica at a time. Each
// batch leaves a "purge" audit event with its counts in its transaction:
// deleting records is a change auditors must see too.
func (a *Authority) PurgeSpent(ctx context.Context) (int64, error) {
	var total int64
	for {
		var evidence, enrollments int64
		err := a.db.InTx(ctx, func(tx *store.Tx) error {
			ok, err := tx.TryJobLock(ctx, "purge-spent")
			if err != nil || !ok {
				return err
			}
			now := a.now().UTC()
			cutoff := now.Add(-SpentRetention)
			evidence, enrollments, err = tx.PurgeSpent(ctx, cutoff, spentBatch)
			if err != nil || evidence+enrollments == 0 {
				return err
			}
			return tx.AppendAudit(ctx, &store.AuditEvent{At: now, Actor: "signet", Action: "purge", Outcome: "ok",
				Details: map[string]any{"spent_evidence": evidence, "enrollments": enrollments, "before": cutoff,
					"why": "past every freshness window (ca.SpentRetention)"}})
		})
		if err != nil {
			return total, err
		}
		total += evidence + enrollments
		// A full batch of either may have left more behind.
		if evidence < spentBatch && enrollments < spentBatch {
			return total, nil
		}
	}
}

// RequestIDRetention is how long a request id and its first answer are
// kept (DESIGN.md invariant 6): a retry within it gets the first answer,
// whatever happened since. Clients retry for minutes, at most hours; 30
// days is far beyond any retry, and the README promises it.
const RequestIDRetention = 30 * 24 * time.Hour

// requestIDBatch bounds one purge transaction of request ids.
const requestIDBatch = 5000

// PurgeRequestIDs deletes the stored answers of request ids older than
// RequestIDRetention, one batch per transaction, one replica at a time,
// each batch audited with its count in its transaction.
func (a *Authority) PurgeRequestIDs(ctx context.Context) (int64, error) {
	var total int64
	for {
		var n int64
		err := a.db.InTx(ctx, func(tx *store.Tx) error {
			ok, err := tx.TryJobLock(ctx, "purge-request-ids")
			if err != nil || !ok {
				return err
			}
			now := a.now().UTC()
			cutoff := now.Add(-RequestIDRetention)
			if n, err = tx.PurgeRequestIDs(ctx, cutoff, requestIDBatch); err != nil || n == 0 {
				return err
			}
			return tx.AppendAudit(ctx, &store.AuditEvent{At: now, Actor: "signet", Action: "purge", Outcome: "ok",
				Details: map[string]any{"request_ids": n, "before": cutoff,
					"why": "past the retry window (ca.RequestIDRetention)"}})
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < requestIDBatch {
			return total, nil
		}
	}
}

// RunJobs runs the periodic life cycle jobs once: revoking lapsed
// suspensions, purging spent evidence and expired request ids, and
// settling open signature reservations. Each job logs its own failure, so
// one failing job does not keep the others from running.
func (a *Authority) RunJobs(ctx context.Context) {
	if n, err := a.RevokeLapsedSuspensions(ctx); err != nil {
		a.log.Error("revoke lapsed suspensions", "err", err)
	} else if n > 0 {
		a.log.Info("revoked lapsed suspensions", "count", n)
	}
	if n, err := a.PurgeSpent(ctx); err != nil {
		a.log.Error("purge spent evidence and enrollments", "err", err)
	} else if n > 0 {
		a.log.Info("purged spent evidence and enrollments", "rows", n)
	}
	if n, err := a.PurgeRequestIDs(ctx); err != nil {
		a.log.Error("purge expired request ids", "err", err)
	} else if n > 0 {
		a.log.Info("purged expired request ids", "rows", n)
	}
	if _, err := a.RecoverSignatures(ctx, a.cfg.RecoverAfter); err != nil {
		a.log.Error("recover open signature reservations", "err", err)
	}
}
