package store

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Signature is one row of the signature ledger (migration 0009): a
// signature a CA key is about to make or has made.
type Signature struct {
	ID         int64
	IssuerID   string
	Kind       string // subscriber, ocsp_responder, audit_signer, staff, crl
	Serial     string // certificates
	CRLNumber  int64  // CRLs
	Purpose    string
	RequestID  string
	SubjectRef string
	// Actor is who asked, for the audit event; the ledger row does not keep it.
	Actor      string
	TBS        []byte
	TBSSHA256  []byte
	State      string // reserved, issued, undelivered, abandoned
	Outcome    string
	DER        []byte
	ReservedAt time.Time
	SettledAt  *time.Time
}

// Ledger states.
const (
	SigReserved    = "reserved"
	SigIssued      = "issued"
	SigUndelivered = "undelivered"
	SigAbandoned   = "abandoned"
)

// ReserveSignature records a signature about to be made, with its audit
// event, in the caller's transaction: one statement, so that the hot path
// pays one round trip for it.
func (t *Tx) ReserveSignature(ctx context.Context, s *Signature) error {
	d := s.details()
	delete(d, "ledger_id") // the statement adds it
	details, err := json.Marshal(d)
	if err != nil {
		return err
	}
	err = t.tx.QueryRow(ctx, `WITH s AS (
			INSERT INTO signatures (issuer_id, kind, serial, crl_number, purpose, request_id, subject_ref, tbs,
				tbs_sha256, state, reserved_at)
			VALUES ($1, $2, nullif($3, ''), nullif($4, 0), $5, nullif($6, ''), nullif($7, ''), $8, $9, 'reserved', $10)
			RETURNING id),
		a AS (
			INSERT INTO audit_events (at, actor, action, outcome, serial, subject_ref, request_id, details)
			SELECT $10, $11, 'sign', 'ok', nullif($3, ''), nullif($7, ''), nullif($6, ''),
				$12::jsonb || jsonb_build_object('ledger_id', s.id) FROM s)
		SELECT id FROM s`,
		s.IssuerID, s.Kind, s.Serial, s.CRLNumber, s.Purpose, s.RequestID, s.SubjectRef, s.TBS, s.TBSSHA256,
		s.ReservedAt, s.Actor, details).Scan(&s.ID)
	if err != nil {
		return err
	}
	s.State = SigReserved
	return nil
}

func (s *Signature) details() map[string]any {
	d := map[string]any{"ledger_id": s.ID, "kind": s.Kind, "issuer": s.IssuerID, "purpose": s.Purpose,
		"tbs_sha256": hex.EncodeToString(s.TBSSHA256)}
	if s.CRLNumber != 0 {
		d["crl_number"] = s.CRLNumber
	}
	return d
}

// ReserveSignature records a signature in a transaction of its own, for
// signatures that change no other state (delegated certificates).
func (db *DB) ReserveSignature(ctx context.Context, s *Signature) error {
	return db.InTx(ctx, func(tx *Tx) error { return tx.ReserveSignature(ctx, s) })
}

// SettleSignature closes a reservation: issued with the signed DER, or
// undelivered (signed, then something failed: der is what was signed) or
// abandoned, with the outcome in words. Only an open reservation can be
// settled. Undelivered and abandoned rows get an audit event here; an
// issued one is audited by the state change that delivers it.
func (t *Tx) SettleSignature(ctx context.Context, id int64, state string, der []byte, outcome string, at time.Time) error {
	var s Signature
	err := t.tx.QueryRow(ctx, `UPDATE signatures SET state = $2, der = $3, outcome = $4, settled_at = $5
		WHERE id = $1 AND state = 'reserved'
		RETURNING issuer_id, kind, coalesce(serial, ''), coalesce(crl_number, 0), purpose, coalesce(request_id, ''),
			coalesce(subject_ref, ''), tbs_sha256`,
		id, state, der, outcome, at).Scan(&s.IssuerID, &s.Kind, &s.Serial, &s.CRLNumber, &s.Purpose, &s.RequestID,
		&s.SubjectRef, &s.TBSSHA256)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil || state == SigIssued {
		return err
	}
	s.ID = id
	d := s.details()
	d["state"] = state
	d["outcome"] = outcome
	return t.AppendAudit(ctx, &AuditEvent{At: at, Actor: "signet", Action: "sign_" + state, Outcome: "ok",
		Serial: s.Serial, SubjectRef: s.SubjectRef, RequestID: s.RequestID, Details: d})
}

// SettleSignature is Tx.SettleSignature in a transaction of its own.
func (db *DB) SettleSignature(ctx context.Context, id int64, state string, der []byte, outcome string, at time.Time) error {
	return db.InTx(ctx, func(tx *Tx) error { return tx.SettleSignature(ctx, id, state, der, outcome, at) })
}

// AbandonOpenSignatures marks abandoned every reservation that has been
// open for longer than olderThan by the database's clock: the process that
// made it stopped between recording and settling (a crash, a kill), so
// whether the key signed is unknown and nothing was delivered. Each row
// gets its audit event, at now. It returns how many.
func (db *DB) AbandonOpenSignatures(ctx context.Context, olderThan time.Duration, now time.Time, limit int) (int, error) {
	n := 0
	err := db.InTx(ctx, func(tx *Tx) error {
		rows, err := tx.tx.Query(ctx, `SELECT id FROM signatures WHERE state = 'reserved'
			AND recorded_at < clock_timestamp() - make_interval(secs => $1)
			ORDER BY recorded_at LIMIT $2 FOR UPDATE SKIP LOCKED`, olderThan.Seconds(), limit)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		for _, id := range ids {
			err := tx.SettleSignature(ctx, id, SigAbandoned, nil,
				"the process stopped between recording and settling: whether the key signed is unknown, and nothing was delivered", now)
			if err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}

// SignatureFilter selects ledger rows for the admin query.
type SignatureFilter struct {
	IssuerID  string
	Kind      string
	State     string
	From, To  time.Time // reserved_at in [From, To)
	PageSize  int
	PageToken string
}

const signatureColumns = `id, issuer_id, kind, coalesce(serial, ''), coalesce(crl_number, 0), purpose,
	coalesce(request_id, ''), coalesce(subject_ref, ''), tbs_sha256, state, outcome, der, reserved_at, settled_at`

// ListSignatures returns one page of the ledger, newest first by
// (reserved_at, id), and the next page's token.
func (db *DB) ListSignatures(ctx context.Context, f SignatureFilter) ([]*Signature, string, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	size, err := pageSize(f.PageSize)
	if err != nil {
		return nil, "", err
	}
	if f.Kind != "" && !slices.Contains([]string{"subscriber", "ocsp_responder", "audit_signer", "staff", "crl"}, f.Kind) {
		return nil, "", fmt.Errorf("%w: kind %q (want subscriber, ocsp_responder, audit_signer, staff or crl)", ErrBadFilter, f.Kind)
	}
	if f.State != "" && !slices.Contains([]string{SigReserved, SigIssued, SigUndelivered, SigAbandoned}, f.State) {
		return nil, "", fmt.Errorf("%w: state %q (want reserved, issued, undelivered or abandoned)", ErrBadFilter, f.State)
	}
	b := &sqlArgs{}
	conds := filterConds(b, []struct{ col, v string }{{"issuer_id", f.IssuerID}, {"kind", f.Kind}, {"state", f.State}},
		"reserved_at", f.From, f.To)
	if f.PageToken != "" {
		c, err := parseCursorAs("s1", f.PageToken)
		if err != nil {
			return nil, "", err
		}
		conds = append(conds, "(reserved_at, id) < ("+b.add(c.at)+", "+b.add(c.id)+")")
	}
	rows, err := query(ctx, db.pool, `SELECT `+signatureColumns+` FROM signatures`+where(conds)+
		` ORDER BY reserved_at DESC, id DESC LIMIT `+b.add(size+1), b.args...)
	if err != nil {
		return nil, "", err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Signature, error) {
		var s Signature
		err := r.Scan(&s.ID, &s.IssuerID, &s.Kind, &s.Serial, &s.CRLNumber, &s.Purpose, &s.RequestID, &s.SubjectRef,
			&s.TBSSHA256, &s.State, &s.Outcome, &s.DER, &s.ReservedAt, &s.SettledAt)
		return &s, err
	})
	if err != nil {
		return nil, "", err
	}
	out, next := onePage(out, size, func(last *Signature) string { return eventCursor{at: last.ReservedAt, id: last.ID}.tokenAs("s1") })
	return out, next, nil
}

// DelegatedKey is a delegated signing key's certificate and sealed key.
type DelegatedKey struct {
	IssuerID, Purpose, Serial string
	CertDER, KeySealed        []byte
	NotAfter, RotateAt        time.Time
	CreatedAt                 time.Time
}

// CurrentDelegatedKey returns the newest delegated key of a purpose that is
// not yet due for rotation at now.
func (db *DB) CurrentDelegatedKey(ctx context.Context, issuerID, purpose string, now time.Time) (*DelegatedKey, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	var k DelegatedKey
	err := db.pool.QueryRow(ctx, `SELECT issuer_id, purpose, serial, cert_der, key_sealed, not_after, rotate_at, created_at
		FROM delegated_keys WHERE issuer_id = $1 AND purpose = $2 AND rotate_at > $3
		ORDER BY rotate_at DESC LIMIT 1`, issuerID, purpose, now).
		Scan(&k.IssuerID, &k.Purpose, &k.Serial, &k.CertDER, &k.KeySealed, &k.NotAfter, &k.RotateAt, &k.CreatedAt)
	if err != nil {
		return nil, notFound(err)
	}
	return &k, nil
}

// InsertDelegatedKey stores a new delegated key.
func (t *Tx) InsertDelegatedKey(ctx context.Context, k *DelegatedKey) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO delegated_keys (issuer_id, purpose, serial, cert_der, key_sealed, not_after, rotate_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, k.IssuerID, k.Purpose, k.Serial, k.CertDER, k.KeySealed, k.NotAfter, k.RotateAt, k.CreatedAt)
	return err
}

// IssueDelegatedKey stores a delegated key and settles its ledger row as
// issued, in one transaction.
func (db *DB) IssueDelegatedKey(ctx context.Context, k *DelegatedKey, ledgerID int64, at time.Time) error {
	return db.InTx(ctx, func(tx *Tx) error {
		if err := tx.InsertDelegatedKey(ctx, k); err != nil {
			return err
		}
		return tx.SettleSignature(ctx, ledgerID, SigIssued, k.CertDER, "", at)
	})
}
