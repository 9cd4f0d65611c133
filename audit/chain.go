// Package audit makes Signet's audit log tamper-evident.
//
// Every state change and every refused attempt is written to audit_events
// by the transaction that makes it, as before, with no hash: hashing there
// would make all issuance wait on the chain's tail. A Sealer, run by one
// replica at a time, appends committed events to a SHA-256 hash chain
// (audit_chain) afterwards and signs checkpoints of the chain's head
// (audit_checkpoints) with a short-lived ECDSA P-256 key whose certificate
// the CA issues through its CAS. Verify recomputes the chain and checks
// the checkpoints against the CA root, so that editing, deleting,
// inserting or reordering a sealed event is detected, and so is rewriting
// the chain to match, up to the last signed checkpoint.
//
// # The chain
//
//	hash(0)   = 32 zero bytes
//	hash(seq) = SHA-256(hash(seq-1) || Canonical(event sealed at seq))
//
// Canonical(event) is a sequence of length-prefixed fields, each a 4-byte
// big-endian length followed by that many bytes:
//
//	field("signet-audit-event/v1")
//	for each column of store.AuditColumns, in that order:
//	    field(column name)
//	    one byte: 0 if the value is NULL (and nothing follows), 1 if not,
//	    then field(value as canonical text)
//
// The canonical text of each column is PostgreSQL's own and does not
// depend on session settings: id and xid in decimal, at in UTC with
// microseconds (2006-01-02T15:04:05.000000Z), details as jsonb's output
// (which sorts keys), text columns as stored. An outside verifier can
// recompute it from a SELECT (see store/auditchain.go).
//
// The seal order is (xid, id): the inserting transaction's id, then the
// event id. The sealer takes only events whose transaction id is below the
// snapshot's xmin, which no later insert can precede (migration
// 0004_audit_chain explains why), so the chain is a prefix of the whole
// log in seal order and grows only at its end.
//
// # Checkpoints
//
// A checkpoint signs
//
//	SHA-256( field("signet-audit-checkpoint/v1") || seq (8 bytes, big-endian)
//	         || hash(seq) (32 bytes) || signed_at (Unix microseconds, 8 bytes, big-endian) )
//
// with ECDSA P-256 (ASN.1 signature). The signer's certificate is issued by
// the CA, carries KeyUsage digitalSignature, the OU "Audit Log Signer" and
// the certificate policy PolicyAuditSigner, and is stored with each
// checkpoint together with its issuing chain.
//
// What a chain cannot show: events inserted or changed before they are
// sealed (the sealing lag, about Interval plus the longest open write
// transaction), and a rewrite of the unsigned tail after the last
// checkpoint, or of the chain's tail together with its checkpoints, by
// someone who can write the database as a superuser. Copy checkpoints
// somewhere the database's administrators cannot write to close the
// latter.
package audit

import (
	"crypto/sha256"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"hash"
	"time"

	"github.com/signet-ca/signet/store"
)

// HashSize is the size of a chain hash (SHA-256).
const HashSize = sha256.Size

const (
	eventDomain      = "signet-audit-event/v1"
	checkpointDomain = "signet-audit-checkpoint/v1"
)

// PolicyAuditSigner is the certificate policy that marks a certificate as
// Signet's audit checkpoint signer, under the RFC 5612 documentation arc
// the default profiles use (ca.ExampleArc). Verify accepts checkpoint
// signatures only from certificates that carry it, so that no subscriber
// or OCSP responder certificate of the same CA can sign a checkpoint.
var PolicyAuditSigner = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 9, 1}

// SignerOU is the organizational unit of the audit signer's subject.
const SignerOU = "Audit Log Signer"

// Canonical returns the canonical bytes of an event row, as hashed into
// the chain.
func Canonical(r *store.AuditRow) []byte {
	n := 4 + len(eventDomain)
	for i, v := range r.Values {
		n += 4 + len(store.AuditColumns[i]) + 1 + 4 + len(v)
	}
	return appendCanonical(make([]byte, 0, n), r)
}

func appendField(b, v []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

// chainer computes successive chain hashes with one reusable SHA-256
// state and buffer.
type chainer struct {
	h   hash.Hash
	buf []byte
}

func newChainer() *chainer { return &chainer{h: sha256.New()} }

// next returns SHA-256(prev || Canonical(r)) in a new slice.
func (c *chainer) next(prev []byte, r *store.AuditRow) []byte {
	if len(r.Values) != len(store.AuditColumns) {
		panic(fmt.Sprintf("audit: row has %d values for %d columns", len(r.Values), len(store.AuditColumns)))
	}
	c.buf = appendCanonical(c.buf[:0], r)
	c.h.Reset()
	c.h.Write(prev)
	c.h.Write(c.buf)
	return c.h.Sum(make([]byte, 0, HashSize))
}

func appendCanonical(b []byte, r *store.AuditRow) []byte {
	b = appendField(b, []byte(eventDomain))
	for i, v := range r.Values {
		b = appendField(b, []byte(store.AuditColumns[i]))
		if v == nil {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = appendField(b, v)
	}
	return b
}

// ChainHash returns SHA-256(prev || Canonical(r)): the chain hash of r
// sealed after an entry whose hash is prev (32 zero bytes for seq 1).
func ChainHash(prev []byte, r *store.AuditRow) []byte { return newChainer().next(prev, r) }

// CheckpointDigest is the SHA-256 digest that a checkpoint's signature
// signs. signedAt is taken to whole microseconds, as PostgreSQL stores it.
func CheckpointDigest(seq int64, hash []byte, signedAt time.Time) []byte {
	b := appendField(nil, []byte(checkpointDomain))
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	b = append(b, hash...)
	b = binary.BigEndian.AppendUint64(b, uint64(signedAt.UnixMicro()))
	sum := sha256.Sum256(b)
	return sum[:]
}
