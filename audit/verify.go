package audit

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/signet-ca/signet/store"
)

// ProblemKind classifies the first problem Verify found.
type ProblemKind string

const (
	// ProblemGap: a chain entry is missing (deleted), or the chain ends
	// before the requested range does.
	ProblemGap ProblemKind = "chain_gap"
	// ProblemEventMissing: a chain entry's event row is gone (deleted).
	ProblemEventMissing ProblemKind = "event_missing"
	// ProblemHashMismatch: the stored hash differs from the one recomputed
	// from the event: the event was altered, or events were swapped or
	// shifted, or the entry points at another event.
	ProblemHashMismatch ProblemKind = "hash_mismatch"
	// ProblemSealOrder: the chain's events are not in seal order (xid, id),
	// which the sealer never writes.
	ProblemSealOrder ProblemKind = "seal_order"
	// ProblemCheckpointSigner: a checkpoint's certificate does not chain
	// to the given roots, was not valid when it signed, or is not an audit
	// signer certificate.
	ProblemCheckpointSigner ProblemKind = "checkpoint_signer"
	// ProblemCheckpointSignature: a checkpoint's signature does not verify
	// under its certificate: the checkpoint was altered or forged.
	ProblemCheckpointSignature ProblemKind = "checkpoint_signature"
	// ProblemCheckpointHash: a validly signed checkpoint signs a hash other
	// than the recomputed chain's: events were altered and the chain's
	// hashes rewritten to match.
	ProblemCheckpointHash ProblemKind = "checkpoint_hash"
	// ProblemCheckpointOrphan: a checkpoint lies beyond the chain's end:
	// entries at the end of the chain were removed.
	ProblemCheckpointOrphan ProblemKind = "checkpoint_orphan"
	// ProblemUnsealed: an event that sorts among sealed events in seal
	// order has no chain entry: it was inserted afterwards.
	ProblemUnsealed ProblemKind = "unsealed_event"
)

// Report is the outcome of Verify.
type Report struct {
	// OK is true when nothing was wrong in the range.
	OK bool
	// FromSeq and ToSeq are the range checked, after defaults.
	FromSeq, ToSeq int64
	// Checked counts the chain entries verified before the first problem
	// (all of them when OK).
	Checked int64
	// FirstBrokenSeq and FirstBrokenEventID locate the first problem: the
	// chain position and its event (0 when not known, e.g. for a gap).
	FirstBrokenSeq, FirstBrokenEventID int64
	// Kind and Problem say what is wrong, for programs and for people.
	Kind    ProblemKind
	Problem string
	// CheckpointSeq and CheckpointAt are the last validly signed
	// checkpoint in the range that matched the chain. Entries after it are
	// protected by the chain only: a rewrite of the events and the hashes
	// after CheckpointSeq would not be seen until the next checkpoint.
	CheckpointSeq int64
	CheckpointAt  time.Time
}

func (r *Report) fail(kind ProblemKind, seq, eventID int64, format string, args ...any) *Report {
	r.OK = false
	r.Kind = kind
	r.FirstBrokenSeq, r.FirstBrokenEventID = seq, eventID
	r.Problem = fmt.Sprintf(format, args...)
	return r
}

// checkpointPage is how many checkpoints Verify holds at a time.
const checkpointPage = 500

// Verify recomputes the chain over [fromSeq, toSeq] (0 means the start
// and the current end) and checks every checkpoint in that range against
// roots, the CA's root certificates. A range that starts mid-chain starts
// from the stored hash at fromSeq-1. Rows are read page by page, never all
// at once. It stops at the first problem and reports it; an error means
// the check could not be made (the database did not answer, bad range).
//
// Besides the chain, Verify checks that no event was added among the
// sealed ones afterwards (every event between the range's first and last
// in seal order has a chain entry) and, when the range reaches the chain's
// end, that no checkpoint lies beyond it.
func Verify(ctx context.Context, db *store.DB, fromSeq, toSeq int64, roots *x509.CertPool) (*Report, error) {
	if roots == nil {
		return nil, errors.New("audit: verify needs the CA's root certificates")
	}
	if fromSeq < 0 || toSeq < 0 {
		return nil, fmt.Errorf("audit: bad range [%d, %d]", fromSeq, toSeq)
	}
	head, err := db.AuditChainHead(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: read chain head: %w", err)
	}
	var headSeq int64
	if head != nil {
		headSeq = head.Seq
	}
	from, to := max(fromSeq, 1), toSeq
	if to == 0 {
		to = headSeq
		if from > headSeq+1 {
			return nil, fmt.Errorf("audit: the chain ends at seq %d, before %d", headSeq, from)
		}
	} else if from > to {
		return nil, fmt.Errorf("audit: bad range [%d, %d]", fromSeq, toSeq)
	}
	rep := &Report{OK: true, FromSeq: from, ToSeq: to}
	v := &verifier{ctx: ctx, db: db, roots: roots, rep: rep, signers: map[string]*signerInfo{}}

	// The anchor: the stored hash before the range, trusted as is.
	v.prev = make([]byte, HashSize)
	if from > 1 {
		anchor, err := db.AuditChainEntry(ctx, from-1)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return rep.fail(ProblemGap, from-1, 0, "chain entry %d, the range's anchor, is missing", from-1), nil
		case err != nil:
			return nil, fmt.Errorf("audit: read chain entry %d: %w", from-1, err)
		case anchor.Event == nil:
			return rep.fail(ProblemEventMissing, from-1, anchor.EventID,
				"event %d, sealed at seq %d (the range's anchor), is missing", anchor.EventID, from-1), nil
		}
		v.prev, v.cursor = anchor.Hash, anchor.Event.Cursor()
	}
	lo := v.cursor
	v.expect = from
	v.cpAfter, v.cpTo = from-1, to

	if to >= from {
		err = db.AuditChain(ctx, from, to, v.link)
		if err != nil && !errors.Is(err, errStop) {
			return nil, fmt.Errorf("audit: read chain: %w", err)
		}
		if !rep.OK {
			return rep, nil
		}
		if v.expect <= to {
			if v.expect > headSeq {
				return rep.fail(ProblemGap, v.expect, 0, "the chain ends at seq %d, before %d", headSeq, to), nil
			}
			return rep.fail(ProblemGap, v.expect, 0, "chain entry %d is missing", v.expect), nil
		}
	}

	if to == headSeq {
		// A sealer may have extended the chain since the head was read; a
		// checkpoint without its chain entry is what shows a cut.
		orphan, err := db.OrphanAuditCheckpoint(ctx, headSeq)
		if err != nil {
			return nil, fmt.Errorf("audit: read checkpoints: %w", err)
		}
		if orphan != nil {
			return rep.fail(ProblemCheckpointOrphan, headSeq+1, 0,
				"checkpoint at seq %d lies beyond the chain's end at seq %d: entries at the end of the chain were removed",
				orphan.Seq, headSeq), nil
		}
	}

	if rep.Checked > 0 {
		// The chain is a prefix of the log in seal order: between its first
		// and last event of the range, every event must have an entry.
		n, err := db.AuditEventsBetween(ctx, lo, v.cursor)
		if err != nil {
			return nil, fmt.Errorf("audit: count events: %w", err)
		}
		if n != rep.Checked {
			ev, nextSeq, err := db.FirstUnsealedAuditEvent(ctx, lo, v.cursor)
			if err != nil {
				return nil, fmt.Errorf("audit: find unsealed event: %w", err)
			}
			if ev == nil {
				return rep.fail(ProblemUnsealed, 0, 0, "%d events lie among the %d sealed ones in seal order", n, rep.Checked), nil
			}
			return rep.fail(ProblemUnsealed, nextSeq, ev.ID,
				"event %d (xid %s) has no chain entry although events after it in seal order were sealed: it was inserted afterwards",
				ev.ID, ev.Xid), nil
		}
	}
	return rep, nil
}

// errStop ends the chain read at the first problem.
var errStop = errors.New("stop")

type verifier struct {
	ctx   context.Context
	db    *store.DB
	roots *x509.CertPool
	rep   *Report

	ch     chainer
	prev   []byte
	expect int64
	cursor store.AuditCursor

	// Checkpoints are read a page at a time alongside the chain.
	cps           []*store.AuditCheckpoint
	cpAfter, cpTo int64
	cpDone        bool
	signers       map[string]*signerInfo
}

// signerInfo caches one checkpoint certificate's verification.
type signerInfo struct {
	leaf  *x509.Certificate
	chain []*x509.Certificate
	err   error
}

func (v *verifier) link(l *store.AuditLink) error {
	ctx := v.ctx
	rep := v.rep
	if l.Seq != v.expect {
		rep.fail(ProblemGap, v.expect, 0, "chain entry %d is missing (the next one is %d)", v.expect, l.Seq)
		return errStop
	}
	if l.Event == nil {
		rep.fail(ProblemEventMissing, l.Seq, l.EventID, "event %d, sealed at seq %d, is missing (deleted)", l.EventID, l.Seq)
		return errStop
	}
	if v.ch.h == nil {
		v.ch = *newChainer()
	}
	h := v.ch.next(v.prev, l.Event)
	if !bytes.Equal(h, l.Hash) {
		rep.fail(ProblemHashMismatch, l.Seq, l.EventID,
			"event %d at seq %d does not hash to the stored chain hash: it was altered, moved or replaced", l.EventID, l.Seq)
		return errStop
	}
	c := l.Event.Cursor()
	if cmpCursor(v.cursor, c) >= 0 {
		rep.fail(ProblemSealOrder, l.Seq, l.EventID,
			"event %d at seq %d does not come after the previous entry's event in seal order (xid, id)", l.EventID, l.Seq)
		return errStop
	}
	cp, err := v.checkpointAt(ctx, l.Seq)
	if err != nil {
		return err
	}
	if cp != nil && !v.checkCheckpoint(cp, h, l) {
		return errStop
	}
	v.prev, v.cursor = h, c
	v.expect++
	rep.Checked++
	return nil
}

// checkpointAt returns the checkpoint at seq, if any, fetching the next
// page when the buffered ones are used up. Checkpoints at a seq the chain
// does not reach are skipped here; a missing chain entry is reported as a
// gap anyway.
func (v *verifier) checkpointAt(ctx context.Context, seq int64) (*store.AuditCheckpoint, error) {
	for {
		for len(v.cps) > 0 && v.cps[0].Seq < seq {
			v.cps = v.cps[1:]
		}
		if len(v.cps) > 0 {
			if v.cps[0].Seq == seq {
				cp := v.cps[0]
				v.cps = v.cps[1:]
				return cp, nil
			}
			return nil, nil
		}
		if v.cpDone {
			return nil, nil
		}
		page, err := v.db.AuditCheckpointPage(ctx, v.cpAfter, v.cpTo, checkpointPage)
		if err != nil {
			return nil, fmt.Errorf("read checkpoints: %w", err)
		}
		if len(page) < checkpointPage {
			v.cpDone = true
		}
		if len(page) > 0 {
			v.cpAfter = page[len(page)-1].Seq
		}
		v.cps = page
	}
}

// checkCheckpoint verifies cp's certificate, its signature, then that it
// signs the recomputed hash h of link l. It records a problem and returns
// false if anything is wrong.
func (v *verifier) checkCheckpoint(cp *store.AuditCheckpoint, h []byte, l *store.AuditLink) bool {
	rep := v.rep
	at := cp.SignedAt.UTC().Format(time.RFC3339Nano)
	pub, err := v.signer(cp.SignerDER, cp.SignedAt)
	if err != nil {
		rep.fail(ProblemCheckpointSigner, cp.Seq, l.EventID, "checkpoint at seq %d (signed %s): %v", cp.Seq, at, err)
		return false
	}
	if !ecdsa.VerifyASN1(pub, CheckpointDigest(cp.Seq, cp.Hash, cp.SignedAt), cp.Signature) {
		rep.fail(ProblemCheckpointSignature, cp.Seq, l.EventID,
			"checkpoint at seq %d (signed %s): the signature does not verify: the checkpoint was altered or forged", cp.Seq, at)
		return false
	}
	if !bytes.Equal(cp.Hash, h) {
		since := "the start of the range"
		if rep.CheckpointSeq > 0 {
			since = "seq " + strconv.FormatInt(rep.CheckpointSeq, 10) + " (the previous good checkpoint)"
		}
		rep.fail(ProblemCheckpointHash, cp.Seq, l.EventID,
			"checkpoint at seq %d (signed %s) signs chain hash %s but the events recompute to %s: "+
				"events after %s up to seq %d were altered and the chain's hashes rewritten",
			cp.Seq, at, hex.EncodeToString(cp.Hash), hex.EncodeToString(h), since, cp.Seq)
		return false
	}
	rep.CheckpointSeq, rep.CheckpointAt = cp.Seq, cp.SignedAt
	return true
}

// signer checks that der is an audit signer certificate, with its chain,
// that chains to the roots and was valid at signedAt, and returns its key.
func (v *verifier) signer(der []byte, signedAt time.Time) (*ecdsa.PublicKey, error) {
	si, ok := v.signers[string(der)]
	if !ok {
		si = v.verifySigner(der, signedAt)
		v.signers[string(der)] = si
	}
	if si.err != nil {
		return nil, si.err
	}
	for _, c := range si.chain {
		if signedAt.Before(c.NotBefore) || signedAt.After(c.NotAfter) {
			// Outside the cached chain's validity: verify again at this
			// time for the precise reason.
			if err := v.verifySigner(der, signedAt).err; err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("certificate %q was not valid at %s", c.Subject, signedAt.UTC().Format(time.RFC3339))
		}
	}
	return si.leaf.PublicKey.(*ecdsa.PublicKey), nil
}

func (v *verifier) verifySigner(der []byte, signedAt time.Time) *signerInfo {
	certs, err := x509.ParseCertificates(der)
	if err != nil || len(certs) == 0 {
		return &signerInfo{err: fmt.Errorf("the signer certificate does not parse: %v", err)}
	}
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: v.roots, Intermediates: inter, CurrentTime: signedAt,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return &signerInfo{err: fmt.Errorf("signer certificate %q (serial %s) is not issued by the CA: %v",
			leaf.Subject, leaf.SerialNumber.Text(16), err)}
	}
	if !isAuditSigner(leaf) {
		return &signerInfo{err: fmt.Errorf("certificate %q (serial %s) is not an audit signer certificate "+
			"(KeyUsage digitalSignature, policy %s and an ECDSA P-256 key are required)",
			leaf.Subject, leaf.SerialNumber.Text(16), PolicyAuditSigner)}
	}
	return &signerInfo{leaf: leaf, chain: chains[0]}
}

func isAuditSigner(c *x509.Certificate) bool {
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() || c.KeyUsage&x509.KeyUsageDigitalSignature == 0 || c.IsCA {
		return false
	}
	return slices.ContainsFunc(c.Policies, func(o x509.OID) bool { return o.Equal(policyAuditSigner) }) ||
		slices.ContainsFunc(c.PolicyIdentifiers, func(o asn1.ObjectIdentifier) bool { return o.Equal(PolicyAuditSigner) })
}

// cmpCursor compares two positions in seal order.
func cmpCursor(a, b store.AuditCursor) int {
	ax, _ := strconv.ParseUint(a.Xid, 10, 64)
	bx, _ := strconv.ParseUint(b.Xid, 10, 64)
	switch {
	case ax != bx:
		if ax < bx {
			return -1
		}
		return 1
	case a.ID < b.ID:
		return -1
	case a.ID > b.ID:
		return 1
	}
	return 0
}
