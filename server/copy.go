package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/signet-ca/signet/ca"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
	"github.com/signet-ca/signet/store"
)

// The copy relay (issue 9 §1; the argument is devicecopy/SECURITY.md,
// "Finding the session"). It carries three opaque messages per attempt
// between two devices and keeps the rules it can keep without the code:
// a short life, single use, a few failed attempts, size limits.
const (
	// CopyLifetime is how long a session lasts from StartCopy, retries
	// included: long enough to pick up the other device and type 6 digits.
	CopyLifetime = 3 * time.Minute
	// CopyMaxFailures failed confirmations burn a session and its code:
	// at most this many online guesses per code.
	CopyMaxFailures = 3
	// CopySlots is the number of two-digit slots, hence of live sessions.
	CopySlots = 100
	// MaxCopyPackage bounds the sealed package: a certificate, its key
	// file and a chain are a few KiB.
	MaxCopyPackage = 64 << 10
	// maxCopyMessage bounds a CPace message (about 60 bytes) or a reply
	// (a 64-byte tag and a message).
	maxCopyMessage = 1 << 10
	maxFetchWait   = 20 * time.Second
	copyTokenSize  = 32
	copyIDSize     = 16
	// copyRetention keeps an ended session (no slot, no payload) so that
	// the other device can still learn how it ended.
	copyRetention  = 10 * time.Minute
	copySweepEvery = 30 * time.Second
	copySweepBatch = 500
	// copyPoll is how often a waiting FetchCopy rereads the row, for
	// messages posted through another replica; this one wakes it at once.
	copyPoll = 250 * time.Millisecond
)

var copyStates = map[string]signetv1.CopyState{
	store.CopyOpen: signetv1.CopyState_COPY_STATE_OPEN, store.CopyJoined: signetv1.CopyState_COPY_STATE_JOINED,
	store.CopyCompleted: signetv1.CopyState_COPY_STATE_COMPLETED, store.CopyExpired: signetv1.CopyState_COPY_STATE_EXPIRED,
	store.CopyBurned: signetv1.CopyState_COPY_STATE_BURNED, store.CopyCancelled: signetv1.CopyState_COPY_STATE_CANCELLED,
}

// copyService is the gRPC face of the relay.
type copyService struct {
	signetv1.UnimplementedCopyServiceServer
	db      *store.DB
	now     func() time.Time
	log     *slog.Logger
	waiters copyWaiters
}

var _ signetv1.CopyServiceServer = (*copyService)(nil)

func newCopyService(db *store.DB, now func() time.Time, log *slog.Logger) *copyService {
	return &copyService{db: db, now: now, log: log, waiters: copyWaiters{m: map[string]chan struct{}{}}}
}

type copyRole int

const (
	roleNone copyRole = iota
	roleSender
	roleReceiver
)

func (r copyRole) String() string {
	if r == roleSender {
		return "sender"
	}
	return "receiver"
}

func refuseCopy(kind ca.Kind, reason, msg string) error {
	return &ca.Error{Kind: kind, Reason: reason, Msg: msg}
}

var (
	errCopyUnknown = refuseCopy(ca.KindNotFound, "copy_unknown",
		"no such copy session for this device: start again on the sending device")
	errCopyNoSlot = refuseCopy(ca.KindNotFound, "copy_no_session",
		"no copy is waiting for this code: check the 6 digits on the sending device, or start again there (a code lasts 3 minutes)")
	errCopyTaken = refuseCopy(ca.KindPrecondition, "copy_joined",
		"another device has already joined this copy: wait a moment and retry; if it was not yours, cancel on the sending device")
	errCopyStale = refuseCopy(ca.KindPrecondition, "copy_stale_attempt",
		"this message belongs to an earlier attempt of the copy: type the code again")
)

// endedRefusal says why a session takes no more messages.
func endedRefusal(state string) error {
	switch state {
	case store.CopyCompleted:
		return refuseCopy(ca.KindPrecondition, "copy_completed", "this copy has already completed: nothing more to do")
	case store.CopyExpired:
		return refuseCopy(ca.KindPrecondition, "copy_expired",
			"the copy session expired (it lasts 3 minutes): start again on the sending device for a new code")
	case store.CopyBurned:
		return refuseCopy(ca.KindPrecondition, "copy_burned",
			"too many wrong codes: this copy is burned; start again on the sending device for a new code")
	case store.CopyCancelled:
		return refuseCopy(ca.KindPrecondition, "copy_cancelled",
			"the copy was cancelled on one of the devices: start again on the sending device")
	}
	return fmt.Errorf("copy session in unknown state %q", state)
}

func (c *copyService) StartCopy(ctx context.Context, req *signetv1.StartCopyRequest) (*signetv1.StartCopyResponse, error) {
	token, err := newToken()
	if err != nil {
		return nil, c.fail(ctx, "StartCopy", err)
	}
	id := uuid.New()
	var sess *store.CopySession
	err = c.db.InTx(ctx, func(tx *store.Tx) error {
		now := c.now().UTC()
		for try := 0; ; try++ {
			slot, err := freeSlot(ctx, tx)
			if errors.Is(err, errRelayFull) && try == 0 {
				// Sessions past their deadline still hold slots until the
				// sweep: end a batch of them here and look again.
				if err := c.expireOverdue(ctx, tx, now, CopySlots); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			sess = &store.CopySession{ID: id.String(), Slot: slot, SenderTokenHash: tokenHash(token),
				MaxFailures: CopyMaxFailures, CreatedAt: now, ExpiresAt: now.Add(CopyLifetime)}
			err = tx.CreateCopySession(ctx, sess)
			if errors.Is(err, store.ErrSlotTaken) && try < 5 {
				continue
			}
			if err != nil {
				return err
			}
			return tx.AppendAudit(ctx, copyAudit(now, "sender", "copy_started", sess))
		}
	})
	if errors.Is(err, errRelayFull) {
		return nil, c.fail(ctx, "StartCopy", status.Error(codes.ResourceExhausted, "the copy relay is busy (100 copies in progress): try again in a minute"))
	}
	if err != nil {
		return nil, c.fail(ctx, "StartCopy", err)
	}
	return &signetv1.StartCopyResponse{SessionId: id[:], Slot: sess.Slot, SenderToken: token, Session: sessionPB(sess)}, nil
}

var errRelayFull = errors.New("copy relay: every slot is live")

// freeSlot draws a slot uniformly among the free ones, so that an outsider
// cannot predict which slot the next session gets.
func freeSlot(ctx context.Context, tx *store.Tx) (string, error) {
	live, err := tx.LiveCopySlots(ctx)
	if err != nil {
		return "", err
	}
	taken := make(map[string]bool, len(live))
	for _, s := range live {
		taken[s] = true
	}
	var free []string
	for i := range CopySlots {
		if s := fmt.Sprintf("%02d", i); !taken[s] {
			free = append(free, s)
		}
	}
	if len(free) == 0 {
		return "", errRelayFull
	}
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(free))))
	if err != nil {
		return "", err
	}
	return free[n.Int64()], nil
}

func (c *copyService) JoinCopy(ctx context.Context, req *signetv1.JoinCopyRequest) (*signetv1.JoinCopyResponse, error) {
	slot := req.GetSlot()
	if !utf8.ValidString(slot) || len(slot) != 2 || slot[0] < '0' || slot[0] > '9' || slot[1] < '0' || slot[1] > '9' {
		return nil, c.fail(ctx, "JoinCopy", invalid("slot must be the first two digits of the code shown on the sending device"))
	}
	token, err := newToken()
	if err != nil {
		return nil, c.fail(ctx, "JoinCopy", err)
	}
	var sess *store.CopySession
	var refusal error
	err = c.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if sess, err = tx.LiveCopySessionBySlot(ctx, slot); errors.Is(err, store.ErrNotFound) {
			refusal = errCopyNoSlot
			return nil
		} else if err != nil {
			return err
		}
		if refusal, err = c.checkLive(ctx, tx, sess); err != nil || refusal != nil {
			return err
		}
		if sess.State != store.CopyOpen {
			refusal = errCopyTaken
			return nil
		}
		if err := tx.JoinCopySession(ctx, sess.ID, tokenHash(token)); err != nil {
			return err
		}
		sess.State = store.CopyJoined
		tx.OnCommit(func() { c.waiters.wake(sess.ID) })
		return nil
	})
	if err == nil {
		err = refusal
	}
	if err != nil {
		return nil, c.fail(ctx, "JoinCopy", err)
	}
	id := uuid.MustParse(sess.ID)
	return &signetv1.JoinCopyResponse{SessionId: id[:], ReceiverToken: token, Session: sessionPB(sess)}, nil
}

func (c *copyService) ExchangeCopy(ctx context.Context, req *signetv1.ExchangeCopyRequest) (*signetv1.ExchangeCopyResponse, error) {
	id, err := checkSessionRef(req.GetSessionId(), req.GetToken(), req.GetAttempt())
	if err != nil {
		return nil, c.fail(ctx, "ExchangeCopy", err)
	}
	kind, payload := req.GetKind(), req.GetPayload()
	switch kind {
	case signetv1.CopyMessageKind_COPY_MESSAGE_KIND_OFFER, signetv1.CopyMessageKind_COPY_MESSAGE_KIND_REPLY:
		if len(payload) == 0 || len(payload) > maxCopyMessage {
			return nil, c.fail(ctx, "ExchangeCopy", invalid("an offer or reply is 1 to 1024 bytes: is the app up to date?"))
		}
	case signetv1.CopyMessageKind_COPY_MESSAGE_KIND_SEALED:
		if len(payload) == 0 || len(payload) > MaxCopyPackage {
			return nil, c.fail(ctx, "ExchangeCopy", invalid("the sealed package is 1 byte to 64 KiB: a certificate, its key file and chain fit in a few KiB"))
		}
	case signetv1.CopyMessageKind_COPY_MESSAGE_KIND_RECEIVED, signetv1.CopyMessageKind_COPY_MESSAGE_KIND_FAILED:
		if len(payload) != 0 {
			return nil, c.fail(ctx, "ExchangeCopy", invalid("RECEIVED and FAILED carry no payload"))
		}
	default:
		return nil, c.fail(ctx, "ExchangeCopy", invalid("kind must be OFFER, REPLY, SEALED, RECEIVED or FAILED"))
	}
	attempt := int(req.GetAttempt())
	var sess *store.CopySession
	var refusal error
	err = c.db.InTx(ctx, func(tx *store.Tx) error {
		var role copyRole
		var err error
		sess, role, refusal, err = c.lockSession(ctx, tx, id, req.GetToken())
		if err != nil || refusal != nil {
			return err
		}
		if refusal, err = c.checkLive(ctx, tx, sess); err != nil || refusal != nil {
			return err
		}
		if attempt != sess.Attempt {
			refusal = errCopyStale
			return nil
		}
		refusal, err = c.apply(ctx, tx, sess, role, kind, payload)
		if err == nil && refusal == nil {
			tx.OnCommit(func() { c.waiters.wake(sess.ID) })
		}
		return err
	})
	if err == nil {
		err = refusal
	}
	if err != nil {
		return nil, c.fail(ctx, "ExchangeCopy", err)
	}
	return &signetv1.ExchangeCopyResponse{Session: sessionPB(sess)}, nil
}

// apply is the relay's state machine for one message of the current
// attempt: who may post what, in which order, once. Like checkLive it
// returns (refusal, err): a refusal is the caller's answer and still
// commits what was written; err rolls the transaction back.
func (c *copyService) apply(ctx context.Context, tx *store.Tx, s *store.CopySession, role copyRole,
	kind signetv1.CopyMessageKind, payload []byte) (error, error) {
	wrongRole := refuseCopy(ca.KindForbidden, "copy_wrong_role",
		fmt.Sprintf("the %s does not send %s messages: is the app up to date?", role, kind))
	outOfOrder := func(what string) error {
		return refuseCopy(ca.KindPrecondition, "copy_out_of_order", what)
	}
	put := func(column string) (error, error) {
		err := tx.PutCopyMessage(ctx, s.ID, s.Attempt, column, payload)
		if errors.Is(err, store.ErrNotFound) {
			return refuseCopy(ca.KindConflict, "copy_message_posted", "this message was already posted for this attempt"), nil
		}
		return nil, err
	}
	now := c.now().UTC()
	switch kind {
	case signetv1.CopyMessageKind_COPY_MESSAGE_KIND_OFFER:
		if role != roleSender {
			return wrongRole, nil
		}
		return put(store.CopyOffer)
	case signetv1.CopyMessageKind_COPY_MESSAGE_KIND_REPLY:
		switch {
		case role != roleReceiver || s.State != store.CopyJoined:
			return wrongRole, nil
		case s.Offer == nil:
			return outOfOrder("the sending device has not posted its offer yet: fetch it first"), nil
		}
		return put(store.CopyReply)
	case signetv1.CopyMessageKind_COPY_MESSAGE_KIND_SEALED:
		switch {
		case role != roleSender:
			return wrongRole, nil
		case s.Reply == nil:
			return outOfOrder("the receiving device has not replied yet: fetch its reply first"), nil
		}
		return put(store.CopySealed)
	case signetv1.CopyMessageKind_COPY_MESSAGE_KIND_RECEIVED:
		switch {
		case role != roleReceiver || s.State != store.CopyJoined:
			return wrongRole, nil
		case s.Sealed == nil:
			return outOfOrder("no sealed package was posted: nothing can have been received"), nil
		}
		if err := tx.EndCopySession(ctx, s.ID, store.CopyCompleted, now, false); err != nil {
			return nil, err
		}
		s.State = store.CopyCompleted
		return nil, tx.AppendAudit(ctx, copyAudit(now, role.String(), "copy_completed", s))
	case signetv1.CopyMessageKind_COPY_MESSAGE_KIND_FAILED:
		// A device reports a failure only after a message of the other
		// device in this attempt: the sender after a reply, the receiver
		// after an offer.
		switch {
		case role == roleReceiver && (s.State != store.CopyJoined || s.Offer == nil):
			return outOfOrder("no offer to have failed on in this attempt"), nil
		case role == roleSender && s.Reply == nil:
			return outOfOrder("no reply to have failed on in this attempt"), nil
		}
		if s.Failures+1 >= s.MaxFailures {
			if err := tx.EndCopySession(ctx, s.ID, store.CopyBurned, now, true); err != nil {
				return nil, err
			}
			s.State, s.Failures = store.CopyBurned, s.Failures+1
			return nil, tx.AppendAudit(ctx, copyAudit(now, role.String(), "copy_burned", s))
		}
		if err := tx.RetryCopySession(ctx, s.ID, s.Attempt); err != nil {
			return nil, err
		}
		s.State, s.Attempt, s.Failures = store.CopyOpen, s.Attempt+1, s.Failures+1
		return nil, nil
	}
	return invalid("unknown message kind"), nil
}

func (c *copyService) FetchCopy(ctx context.Context, req *signetv1.FetchCopyRequest) (*signetv1.FetchCopyResponse, error) {
	id, err := checkSessionRef(req.GetSessionId(), req.GetToken(), req.GetAttempt())
	if err != nil {
		return nil, c.fail(ctx, "FetchCopy", err)
	}
	wait := time.Duration(req.GetWaitSeconds()) * time.Second
	if wait < 0 || wait > maxFetchWait {
		return nil, c.fail(ctx, "FetchCopy", invalid("wait_seconds must be 0 to 20"))
	}
	kind, attempt := req.GetKind(), int(req.GetAttempt())
	deadline := time.Now().Add(wait)
	for {
		woken := c.waiters.wait(id)
		sess, err := c.db.CopySession(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, c.fail(ctx, "FetchCopy", errCopyUnknown)
		} else if err != nil {
			return nil, c.fail(ctx, "FetchCopy", err)
		}
		role := roleOf(sess, req.GetToken())
		if role == roleNone {
			return nil, c.fail(ctx, "FetchCopy", errCopyUnknown)
		}
		if sess.Live() && !c.now().Before(sess.ExpiresAt) {
			if err := c.expire(ctx, id); err != nil {
				return nil, c.fail(ctx, "FetchCopy", err)
			}
			continue
		}
		payload, ready, err := fetchable(sess, role, kind, attempt)
		if err != nil {
			return nil, c.fail(ctx, "FetchCopy", err)
		}
		if !sess.Live() {
			// Nothing will wake a waiter on an ended session again.
			c.waiters.wake(id)
		}
		left := time.Until(deadline)
		if ready || !sess.Live() || sess.Attempt != attempt || left <= 0 {
			return &signetv1.FetchCopyResponse{Payload: payload, Ready: ready, Session: sessionPB(sess)}, nil
		}
		t := time.NewTimer(min(left, copyPoll))
		select {
		case <-woken:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, c.fail(ctx, "FetchCopy", ctx.Err())
		}
		t.Stop()
	}
}

// fetchable returns the message of the other device a role may fetch.
func fetchable(s *store.CopySession, role copyRole, kind signetv1.CopyMessageKind, attempt int) ([]byte, bool, error) {
	var want copyRole
	var payload []byte
	switch kind {
	case signetv1.CopyMessageKind_COPY_MESSAGE_KIND_OFFER:
		want, payload = roleReceiver, s.Offer
	case signetv1.CopyMessageKind_COPY_MESSAGE_KIND_REPLY:
		want, payload = roleSender, s.Reply
	case signetv1.CopyMessageKind_COPY_MESSAGE_KIND_SEALED:
		want, payload = roleReceiver, s.Sealed
	case signetv1.CopyMessageKind_COPY_MESSAGE_KIND_RECEIVED:
		return nil, role == roleSender && s.State == store.CopyCompleted && s.Attempt == attempt, checkFetchRole(role, roleSender, kind)
	default:
		return nil, false, invalid("kind must be OFFER, REPLY, SEALED or RECEIVED")
	}
	if err := checkFetchRole(role, want, kind); err != nil {
		return nil, false, err
	}
	if s.Attempt != attempt || payload == nil {
		return nil, false, nil
	}
	return payload, true, nil
}

func checkFetchRole(role, want copyRole, kind signetv1.CopyMessageKind) error {
	if role != want {
		return status.Errorf(codes.PermissionDenied, "the %s does not fetch %s messages: is the app up to date?", role, kind)
	}
	return nil
}

func (c *copyService) CancelCopy(ctx context.Context, req *signetv1.CancelCopyRequest) (*signetv1.CancelCopyResponse, error) {
	id, err := checkSessionRef(req.GetSessionId(), req.GetToken(), 1)
	if err != nil {
		return nil, c.fail(ctx, "CancelCopy", err)
	}
	var sess *store.CopySession
	var refusal error
	err = c.db.InTx(ctx, func(tx *store.Tx) error {
		var role copyRole
		var err error
		sess, role, refusal, err = c.lockSession(ctx, tx, id, req.GetToken())
		if err != nil || refusal != nil || !sess.Live() {
			return err // an ended session stays as it ended
		}
		// A joined receiver may cancel too: the person may give up on
		// either device.
		now := c.now().UTC()
		if err := tx.EndCopySession(ctx, sess.ID, store.CopyCancelled, now, false); err != nil {
			return err
		}
		sess.State = store.CopyCancelled
		tx.OnCommit(func() { c.waiters.wake(sess.ID) })
		return tx.AppendAudit(ctx, copyAudit(now, role.String(), "copy_cancelled", sess))
	})
	if err == nil {
		err = refusal
	}
	if err != nil {
		return nil, c.fail(ctx, "CancelCopy", err)
	}
	return &signetv1.CancelCopyResponse{Session: sessionPB(sess)}, nil
}

// lockSession reads and locks a session and tells which device the token
// belongs to. An unknown session and a wrong token read the same.
func (c *copyService) lockSession(ctx context.Context, tx *store.Tx, id string, token []byte) (*store.CopySession, copyRole, error, error) {
	s, err := tx.CopySession(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, roleNone, errCopyUnknown, nil
	}
	if err != nil {
		return nil, roleNone, nil, err
	}
	role := roleOf(s, token)
	if role == roleNone {
		return nil, roleNone, errCopyUnknown, nil
	}
	return s, role, nil, nil
}

// checkLive ends a session past its deadline (the sweep may not have come
// by yet) and refuses one that has ended.
func (c *copyService) checkLive(ctx context.Context, tx *store.Tx, s *store.CopySession) (error, error) {
	if s.Live() && !c.now().Before(s.ExpiresAt) {
		if err := c.endExpired(ctx, tx, s, c.now().UTC()); err != nil {
			return nil, err
		}
	}
	if !s.Live() {
		return endedRefusal(s.State), nil
	}
	return nil, nil
}

func (c *copyService) endExpired(ctx context.Context, tx *store.Tx, s *store.CopySession, now time.Time) error {
	if err := tx.EndCopySession(ctx, s.ID, store.CopyExpired, now, false); err != nil {
		return err
	}
	s.State = store.CopyExpired
	tx.OnCommit(func() { c.waiters.wake(s.ID) })
	return tx.AppendAudit(ctx, copyAudit(now, "signet", "copy_expired", s))
}

// expire ends one session past its deadline in its own transaction.
func (c *copyService) expire(ctx context.Context, id string) error {
	return c.db.InTx(ctx, func(tx *store.Tx) error {
		s, err := tx.CopySession(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil // purged meanwhile: the next read says so
		}
		if err != nil {
			return err
		}
		if !s.Live() || c.now().Before(s.ExpiresAt) {
			return nil
		}
		return c.endExpired(ctx, tx, s, c.now().UTC())
	})
}

func (c *copyService) expireOverdue(ctx context.Context, tx *store.Tx, now time.Time, limit int) error {
	overdue, err := tx.OverdueCopySessions(ctx, now, limit)
	if err != nil {
		return err
	}
	for _, s := range overdue {
		if err := c.endExpired(ctx, tx, s, now); err != nil {
			return err
		}
	}
	return nil
}

// SweepCopies ends the copy sessions past their deadline and deletes those
// that ended more than copyRetention ago, a batch per transaction, one
// replica at a time. Each expiry is audited; each purge batch leaves a
// "purge" event with its count, as ca.PurgeSpent does.
func (s *Server) SweepCopies(ctx context.Context) (expired, purged int64, err error) {
	c := s.copy
	for {
		var n, p int64
		err := c.db.InTx(ctx, func(tx *store.Tx) error {
			ok, err := tx.TryJobLock(ctx, "copy-sessions")
			if err != nil || !ok {
				return err
			}
			now := c.now().UTC()
			overdue, err := tx.OverdueCopySessions(ctx, now, copySweepBatch)
			if err != nil {
				return err
			}
			for _, sess := range overdue {
				if err := c.endExpired(ctx, tx, sess, now); err != nil {
					return err
				}
			}
			n = int64(len(overdue))
			cutoff := now.Add(-copyRetention)
			if p, err = tx.PurgeCopySessions(ctx, cutoff, copySweepBatch); err != nil || p == 0 {
				return err
			}
			return tx.AppendAudit(ctx, &store.AuditEvent{At: now, Actor: "signet", Action: "purge", Outcome: "ok",
				Details: map[string]any{"copy_sessions": p, "before": cutoff, "why": "ended copy sessions (server.copyRetention)"}})
		})
		if err != nil {
			return expired, purged, err
		}
		expired, purged = expired+n, purged+p
		if n < copySweepBatch && p < copySweepBatch {
			return expired, purged, nil
		}
	}
}

// sweepCopies runs SweepCopies every copySweepEvery until ctx ends.
func (s *Server) sweepCopies(ctx context.Context) {
	t := time.NewTicker(copySweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, _, err := s.SweepCopies(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("sweep copy sessions", "err", err)
		}
	}
}

// copyAudit is a session event without any of its content: no slot (two
// digits of the code), no token, no message.
func copyAudit(at time.Time, actor, action string, s *store.CopySession) *store.AuditEvent {
	return &store.AuditEvent{At: at, Actor: "copy:" + actor, Action: action, Outcome: "ok",
		Details: map[string]any{"session": s.ID, "attempt": s.Attempt, "failures": s.Failures}}
}

func checkSessionRef(id, token []byte, attempt int32) (string, error) {
	switch {
	case len(id) != copyIDSize:
		return "", invalid("session_id must be the 16 bytes StartCopy or JoinCopy returned")
	case len(token) != copyTokenSize:
		return "", invalid("token must be the 32 bytes StartCopy or JoinCopy returned")
	case attempt < 1 || attempt > CopyMaxFailures:
		return "", invalid(fmt.Sprintf("attempt must be 1 to %d", CopyMaxFailures))
	}
	u, err := uuid.FromBytes(id)
	if err != nil {
		return "", invalid("session_id is not a session id")
	}
	return u.String(), nil
}

func roleOf(s *store.CopySession, token []byte) copyRole {
	h := tokenHash(token)
	switch {
	case subtle.ConstantTimeCompare(h, s.SenderTokenHash) == 1:
		return roleSender
	case s.ReceiverTokenHash != nil && subtle.ConstantTimeCompare(h, s.ReceiverTokenHash) == 1:
		return roleReceiver
	}
	return roleNone
}

func newToken() ([]byte, error) {
	b := make([]byte, copyTokenSize)
	_, err := rand.Read(b)
	return b, err
}

func tokenHash(token []byte) []byte {
	h := sha256.Sum256(token)
	return h[:]
}

func sessionPB(s *store.CopySession) *signetv1.CopySession {
	return &signetv1.CopySession{State: copyStates[s.State], Attempt: int32(s.Attempt), Failures: int32(s.Failures),
		MaxFailures: int32(s.MaxFailures), ExpiresAt: timestamppb.New(s.ExpiresAt)}
}

// copyWaiters wakes FetchCopy calls waiting on a session when this
// replica changes it.
type copyWaiters struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

func (w *copyWaiters) wait(id string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch, ok := w.m[id]
	if !ok {
		ch = make(chan struct{})
		w.m[id] = ch
	}
	return ch
}

func (w *copyWaiters) wake(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch, ok := w.m[id]; ok {
		close(ch)
		delete(w.m, id)
	}
}

// fail maps err like every other handler and, when it is a refusal (a core
// refusal, or a status the relay's own checks made), audits it: a refused
// copy call leaves its trace like any refusal, and the content of a session
// never goes into the event.
func (c *copyService) fail(ctx context.Context, method string, err error) error {
	var out error
	var code, reason, msg string
	if rerr, ok := ca.AsError(err); ok {
		out, code, reason, msg = toStatus(ctx, c.log, err), rerr.Kind.Name(), rerr.Reason, rerr.Msg
	} else if st, ok := status.FromError(err); ok && refusalCodes[st.Code()] != "" {
		out, code, reason, msg = err, refusalCodes[st.Code()], "copy_"+refusalCodes[st.Code()], st.Message()
	} else {
		return toStatus(ctx, c.log, err)
	}
	ev := &store.AuditEvent{At: c.now().UTC(), Actor: actor(ctx), Action: "copy:" + method, Outcome: "refused",
		Code: code, Reason: reason, Details: map[string]any{"message": msg}}
	if aerr := c.db.InTx(context.WithoutCancel(ctx), func(tx *store.Tx) error { return tx.AppendAudit(ctx, ev) }); aerr != nil {
		c.log.Error("audit a refused copy call", "method", method, "err", aerr)
	}
	return out
}

// refusalCodes are the status codes the relay's own checks refuse with,
// named as the audit log names kinds.
var refusalCodes = map[codes.Code]string{
	codes.InvalidArgument: "invalid", codes.NotFound: "not_found", codes.PermissionDenied: "forbidden",
	codes.FailedPrecondition: "precondition", codes.ResourceExhausted: "exhausted",
}
