package audit

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signet-ca/signet/ca/signer"
	"github.com/signet-ca/signet/store"
)

// Options tune a Sealer. Zero values take the defaults.
type Options struct {
	// Interval is how long the sealer waits between seals when it has
	// caught up. Default 1 s.
	Interval time.Duration
	// Batch is the most events one seal transaction appends. With a
	// backlog, the sealer seals batch after batch without waiting.
	// Default 5000.
	Batch int
	// CheckpointEvery is the least time between two signed checkpoints: a
	// seal signs the new head when this long has passed since this Sealer
	// last signed one. Default 10 s.
	CheckpointEvery time.Duration
	// SignerValidity is the audit signer certificate's lifetime; a new key
	// and certificate replace it two thirds in. Default 30 days.
	SignerValidity time.Duration
	// Retry is how often a replica that does not run the sealer tries to
	// take over, and how often the runner checks that the connection
	// holding its lock is alive. Default 5 s.
	Retry time.Duration
	// Now is the clock for signed_at and the certificate's validity;
	// default time.Now.
	Now func() time.Time
	// Log receives errors, leadership changes and key rotations; default
	// slog.Default().
	Log *slog.Logger
}

// CA is what the sealer needs of the CA: its chain, to put beside each
// checkpoint, and a delegated signing key (signer.Delegates).
type CA interface {
	Issuer() *x509.Certificate
	Chain() []*x509.Certificate
	Get(ctx context.Context, kind signer.Kind, now time.Time, validity time.Duration, shape func(*x509.Certificate)) (*signer.Delegate, error)
}

// Sealer appends committed audit events to the hash chain and signs
// checkpoints. Run it on every replica: one at a time seals.
type Sealer struct {
	db   *store.DB
	ca   CA
	opts Options

	// mu serializes this Sealer's seals (the database serializes seals
	// across processes) and guards key and lastCheckpoint.
	mu  sync.Mutex
	key *signingKey
	// lastCheckpoint is when (monotonic clock) this Sealer last committed a
	// checkpoint; zero means never, so the first seal signs.
	lastCheckpoint time.Time
	// xidsChecked: the transaction id counter was found past the chain's
	// last event once; it only moves forward.
	xidsChecked bool

	sealed      atomic.Int64
	checkpoints atomic.Int64
	leader      *store.Leadership
}

// NewSealer returns a Sealer that issues its signing certificates through
// signer. It does nothing until Run, SealOnce or Checkpoint is called.
func NewSealer(db *store.DB, signer CA, opts Options) *Sealer {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Batch <= 0 {
		opts.Batch = 5000
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = 10 * time.Second
	}
	if opts.SignerValidity <= 0 {
		opts.SignerValidity = 30 * 24 * time.Hour
	}
	if opts.Retry <= 0 {
		opts.Retry = store.LeaderRetry
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	s := &Sealer{db: db, ca: signer, opts: opts}
	s.leader = &store.Leadership{Name: "audit sealer", Retry: opts.Retry, Log: opts.Log,
		Try: func(ctx context.Context) (*store.LeaderLock, error) { return db.TryAuditSealer(ctx, opts.Retry) }}
	return s
}

// SealOnce appends up to Batch sealable events to the chain in one
// transaction, and signs a checkpoint of the new head in the same
// transaction if CheckpointEvery has passed since this Sealer's last one.
// It returns how many events it sealed. It is safe to call while another
// Sealer, here or on another replica, seals too.
func (s *Sealer) SealOnce(ctx context.Context) (int, error) {
	return s.seal(ctx, s.opts.Batch, false)
}

// Checkpoint signs a checkpoint of the chain's current head now, unless
// the head already has one, without sealing anything. It returns the head
// seq (0 for an empty chain).
func (s *Sealer) Checkpoint(ctx context.Context) (int64, error) {
	var seq int64
	_, err := s.sealWith(ctx, 0, true, &seq)
	return seq, err
}

// Sealed and Checkpoints count what this Sealer committed; Leading reports
// whether Run currently holds the lead. For tests and metrics.
func (s *Sealer) Sealed() int64      { return s.sealed.Load() }
func (s *Sealer) Checkpoints() int64 { return s.checkpoints.Load() }
func (s *Sealer) Leading() bool      { return s.leader.Leading() }

func (s *Sealer) seal(ctx context.Context, limit int, force bool) (int, error) {
	var seq int64
	return s.sealWith(ctx, limit, force, &seq)
}

func (s *Sealer) sealWith(ctx context.Context, limit int, force bool, headSeq *int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var key *signingKey
	if force || s.lastCheckpoint.IsZero() || time.Since(s.lastCheckpoint) >= s.opts.CheckpointEvery {
		k, err := s.currentKey(ctx, s.opts.Now())
		switch {
		case err == nil:
			key = k
		case force:
			return 0, err
		default:
			// The chain matters more than its signature: seal anyway, and
			// sign once the CA answers again.
			s.opts.Log.Error("audit: no signing key, sealing without a checkpoint", "err", err)
		}
	}
	var (
		n           int
		cp          *store.AuditCheckpoint
		xidsChecked bool
	)
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		n, cp = 0, nil
		if err := tx.LockAuditSeal(ctx); err != nil {
			return err
		}
		head, err := tx.AuditChainHead(ctx)
		if err != nil {
			return err
		}
		var (
			seq    int64
			prev   = make([]byte, HashSize)
			cursor store.AuditCursor
		)
		if head != nil {
			if head.Event == nil {
				return fmt.Errorf("%w (seq %d, event %d)", store.ErrAuditHeadMissing, head.Seq, head.EventID)
			}
			seq, prev, cursor = head.Seq, head.Hash, head.Event.Cursor()
			if !s.xidsChecked {
				behind, err := tx.AuditXidsBehind(ctx, cursor)
				if err != nil {
					return err
				}
				if behind {
					return fmt.Errorf("the last sealed event (%d) has transaction id %s, ahead of this cluster's: "+
						"the database was restored into another cluster, and the chain cannot go on", head.EventID, cursor.Xid)
				}
				xidsChecked = true
			}
		}
		if limit > 0 {
			links := make([]store.AuditLink, 0, min(limit, 1024))
			ch := newChainer()
			err = tx.SealableAuditEvents(ctx, cursor, limit, func(r *store.AuditRow) error {
				seq++
				prev = ch.next(prev, r)
				links = append(links, store.AuditLink{Seq: seq, EventID: r.ID, Hash: prev})
				return nil
			})
			if err != nil {
				return fmt.Errorf("read events: %w", err)
			}
			if err := tx.AppendAuditChain(ctx, links); err != nil {
				return fmt.Errorf("append chain: %w", err)
			}
			n = len(links)
		}
		*headSeq = seq
		if key == nil || seq == 0 {
			return nil
		}
		last, err := tx.LatestAuditCheckpoint(ctx)
		if err != nil {
			return err
		}
		if last != nil && last.Seq >= seq {
			return nil
		}
		cp, err = key.sign(seq, prev, s.opts.Now())
		if err != nil {
			return err
		}
		return tx.InsertAuditCheckpoint(ctx, cp)
	})
	if err != nil {
		return 0, fmt.Errorf("audit: seal: %w", err)
	}
	s.xidsChecked = s.xidsChecked || xidsChecked
	s.sealed.Add(int64(n))
	if cp != nil {
		s.lastCheckpoint = time.Now()
		s.checkpoints.Add(1)
		s.opts.Log.Debug("audit: checkpoint signed", "seq", cp.Seq, "signed_at", cp.SignedAt)
	}
	return n, nil
}

// sign makes the checkpoint of (seq, hash) at now.
func (k *signingKey) sign(seq int64, hash []byte, now time.Time) (*store.AuditCheckpoint, error) {
	at := now.Truncate(time.Microsecond)
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, CheckpointDigest(seq, hash, at))
	if err != nil {
		return nil, err
	}
	return &store.AuditCheckpoint{Seq: seq, Hash: hash, SignedAt: at, Signature: sig, SignerDER: k.der}, nil
}

// currentKey returns the signing key, making a new one at first use, two
// thirds into the certificate's life, or when the clock is outside it.
func (s *Sealer) currentKey(ctx context.Context, now time.Time) (*signingKey, error) {
	if k := s.key; k != nil && now.Before(k.rotateAt) && !now.Before(k.cert.NotBefore) {
		return k, nil
	}
	k, err := s.newSigningKey(ctx, now)
	if err != nil {
		return nil, err
	}
	s.key = k
	s.opts.Log.Info("audit: new checkpoint signer", "serial", k.cert.SerialNumber.Text(16),
		"not_after", k.cert.NotAfter)
	return k, nil
}

// Run seals until ctx ends. Among all replicas that run it, the one
// holding a session-level PostgreSQL advisory lock seals; the others try
// again every Retry and take over when its session ends.
func (s *Sealer) Run(ctx context.Context) { s.leader.Run(ctx, s.lead) }

func (s *Sealer) lead(parent context.Context, lock *store.LeaderLock) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var lost atomic.Bool
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-lock.Lost():
			lost.Store(true)
			s.opts.Log.Warn("audit: lost the connection holding the sealer lock")
			cancel()
		case <-ctx.Done():
		}
	}()
	wait := time.NewTimer(0)
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
		case <-wait.C:
			n, err := s.SealOnce(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				s.opts.Log.Error("audit: seal failed", "err", err)
				wait.Reset(s.opts.Interval)
			case err == nil && n == s.opts.Batch:
				wait.Reset(0) // a backlog: go on at once
			default:
				wait.Reset(s.opts.Interval)
			}
			continue
		}
		break
	}
	cancel()
	<-watched
	if lost.Load() {
		return
	}
	// A clean stop: seal what is ready and sign the head, so that the
	// next runner finds no unsigned tail from this one.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(parent), 3*time.Second)
	defer fcancel()
	if _, err := s.seal(fctx, s.opts.Batch, true); err != nil {
		s.opts.Log.Warn("audit: final checkpoint", "err", err)
	}
}
