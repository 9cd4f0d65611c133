package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The issuance hot path in three calls: the reads a reservation decides on
// (IssuanceState), the reservation itself (Tx.ReserveSignature, one
// statement), and the delivery (Tx.Deliver). Each sends its statements to
// the server as one pgx batch, so a call costs one round trip instead of
// one per statement; the transaction around them still commits or rolls
// back as one.

// ErrNotLive is returned by Deliver when the certificate to supersede is no
// longer active (revoked, suspended or replaced by a concurrent request).
var ErrNotLive = errors.New("store: the certificate to supersede is no longer live")

// ErrEnrollmentUsed is returned by Deliver when the enrollment was spent by
// a concurrent request.
var ErrEnrollmentUsed = errors.New("store: enrollment already used")

// IssuanceQuery names what an issue or reissue decides on.
type IssuanceQuery struct {
	EnrollmentID string
	RequestID    string
	EvidenceIDs  []string
	SubjectRef   string
	Profile      string
	SPKI         []byte
	Now          time.Time
}

// IssuanceState is what IssuanceState read, under the enrollment's row
// lock and the (subject, profile) advisory lock, which order competing
// requests for one person.
type IssuanceState struct {
	Enrollment *Enrollment
	// Stored is the first answer to the request id, if any.
	Stored       *StoredResponse
	EvidenceUsed bool
	// Expired are the subject's live certificates past notAfter that were
	// just marked expired (the caller audits each).
	Expired        []string
	Live           *Certificate
	KeyCertified   bool
	KeyCompromised bool
}

// IssuanceState locks the enrollment and the subject, marks lapsed
// certificates expired, and reads the rest, in one round trip.
func (t *Tx) IssuanceState(ctx context.Context, q IssuanceQuery) (*IssuanceState, error) {
	b := &pgx.Batch{}
	var st IssuanceState
	var e Enrollment
	b.Queue(`SELECT id::text, nonce, purpose, profile, created_at, expires_at, used_at
		FROM enrollments WHERE id = $1 FOR UPDATE`, q.EnrollmentID).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&e.ID, &e.Nonce, &e.Purpose, &e.Profile, &e.CreatedAt, &e.ExpiresAt, &e.UsedAt)
		if err != nil {
			return notFound(err)
		}
		st.Enrollment = &e
		return nil
	})
	b.Queue(storedResponseQuery, q.RequestID).QueryRow(func(row pgx.Row) error {
		r, err := scanStoredResponse(row)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		st.Stored = r
		return err
	})
	b.Queue(`SELECT EXISTS (SELECT 1 FROM used_evidence WHERE id = ANY($1))`, q.EvidenceIDs).QueryRow(func(row pgx.Row) error {
		return row.Scan(&st.EvidenceUsed)
	})
	b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "subject:"+q.SubjectRef+"/"+q.Profile)
	b.Queue(`UPDATE certificates SET status = 'expired', updated_at = $3
		WHERE subject_ref = $1 AND profile = $2 AND status = 'active' AND not_after < $3
		RETURNING serial`, q.SubjectRef, q.Profile, q.Now).Query(func(rows pgx.Rows) error {
		var err error
		st.Expired, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	b.Queue(`SELECT `+certificateColumns+` FROM certificates
		WHERE subject_ref = $1 AND profile = $2 AND status IN ('active', 'suspended') FOR UPDATE`,
		q.SubjectRef, q.Profile).QueryRow(func(row pgx.Row) error {
		c, err := scanCertificate(row)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		st.Live = c
		return err
	})
	b.Queue(`SELECT EXISTS (SELECT 1 FROM certificates WHERE spki_sha256 = $1),
		EXISTS (SELECT 1 FROM compromised_keys WHERE spki_sha256 = $1)`, q.SPKI).QueryRow(func(row pgx.Row) error {
		return row.Scan(&st.KeyCertified, &st.KeyCompromised)
	})
	if err := t.tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return &st, nil
}

// Delivery is everything that delivers a signed certificate.
type Delivery struct {
	Cert *Certificate
	// Supersede, if set, is the certificate the new one replaces: it must
	// still be active and unreplaced, and is revoked as superseded (RFC 5280
	// reason 4) at Cert.CreatedAt.
	Supersede string
	// EnrollmentID, if set, is spent; it must not have been.
	EnrollmentID string
	// Evidence are the evidence or proof ids to spend ("<id>" -> kind).
	Evidence map[string]string
	Audit    *AuditEvent
	Response *StoredResponse
	// LedgerID is the reservation to settle as issued with Cert.DER.
	LedgerID int64
}

const reasonSuperseded = 4

// Deliver writes a Delivery in one round trip: its statements go to the
// server as one pipeline, which PostgreSQL runs as one implicit
// transaction (no BEGIN or COMMIT round trips). The guarded updates (the
// enrollment still unused, the superseded certificate still active and
// unreplaced, the ledger row still open) abort the pipeline in the server
// through signet_expect_one (migration 0011). It returns
// ErrEnrollmentUsed, ErrEvidenceUsed, ErrNotLive, ErrLiveExists,
// ErrKeyCertified or ErrDuplicateRequest when a concurrent request got
// there first; then nothing was written.
func (db *DB) Deliver(ctx context.Context, d *Delivery) error {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	c := d.Cert
	c.Replaces = d.Supersede
	b := &pgx.Batch{}
	if d.EnrollmentID != "" {
		b.Queue(`WITH u AS (UPDATE enrollments SET used_at = $2 WHERE id = $1 AND used_at IS NULL RETURNING 1)
			SELECT signet_expect_one((SELECT count(*) FROM u), 'enrollment_used')`, d.EnrollmentID, c.CreatedAt)
	}
	if len(d.Evidence) > 0 {
		ids, kinds := make([]string, 0, len(d.Evidence)), make([]string, 0, len(d.Evidence))
		for id, kind := range d.Evidence {
			ids, kinds = append(ids, id), append(kinds, kind)
		}
		b.Queue(`INSERT INTO used_evidence (id, kind, enrollment_id, used_at)
			SELECT id, kind, nullif($3, '')::uuid, $4 FROM unnest($1::text[], $2::text[]) AS u(id, kind)`,
			ids, kinds, d.EnrollmentID, c.CreatedAt)
	}
	if d.Supersede != "" {
		b.Queue(`WITH u AS (UPDATE certificates SET status = 'revoked', revoked_at = $2, revocation_reason = $3,
				replaced_by = $4, updated_at = $2 WHERE serial = $1 AND status = 'active' AND replaced_by IS NULL RETURNING 1)
			SELECT signet_expect_one((SELECT count(*) FROM u), 'not_live')`,
			d.Supersede, c.CreatedAt, reasonSuperseded, c.Serial)
		b.Queue(`SELECT pg_notify($1, $2)`, StatusChannel, d.Supersede)
	}
	b.Queue(insertCertificate, certificateArgs(c)...)
	ev := d.Audit
	details := []byte("{}")
	if ev.Details != nil {
		var err error
		if details, err = json.Marshal(ev.Details); err != nil {
			return err
		}
	}
	b.Queue(insertAudit, ev.At, ev.Actor, ev.Action, ev.Outcome, ev.Code, ev.Reason, ev.Serial, ev.SubjectRef,
		ev.Profile, ev.RequestID, details).QueryRow(func(row pgx.Row) error { return row.Scan(&ev.ID) })
	b.Queue(`INSERT INTO idempotency_keys (request_id, method, request_hash, response) VALUES ($1, $2, $3, $4)`,
		c.RequestID, d.Response.Method, d.Response.RequestHash, d.Response.Response)
	b.Queue(`WITH u AS (UPDATE signatures SET state = 'issued', der = $2, settled_at = $3 WHERE id = $1 AND state = 'reserved' RETURNING 1)
		SELECT signet_expect_one((SELECT count(*) FROM u), 'ledger_not_open')`, d.LedgerID, c.DER, c.CreatedAt)
	if err := db.sendDelivery(ctx, b, d); err != nil {
		return deliveryError(err)
	}
	c.Status = StatusActive
	return nil
}

// sendDelivery sends a delivery's batch. With reminders on, the batch runs
// inside an explicit transaction that also schedules the new certificate's
// reminders and voids the superseded one's (three or four more round
// trips: BEGIN, River's insert, its delete for a renewal or reissue,
// COMMIT), so that a delivery that rolls back leaves no reminder and a
// committed one never lacks them.
func (db *DB) sendDelivery(ctx context.Context, b *pgx.Batch, d *Delivery) error {
	if db.reminders == nil {
		return db.pool.SendBatch(ctx, b).Close()
	}
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if d.Supersede != "" {
			if err := db.reminders.Void(ctx, tx, d.Supersede); err != nil {
				return err
			}
		}
		return db.reminders.Schedule(ctx, tx, d.Cert)
	})
}

// deliveryError names the condition that aborted a delivery.
func deliveryError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "P0001" {
		switch pgErr.Message {
		case "enrollment_used":
			return ErrEnrollmentUsed
		case "not_live":
			return ErrNotLive
		case "ledger_not_open":
			return ErrNotFound
		}
	}
	return uniqueViolation(err)
}
