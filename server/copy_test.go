package server_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/cpace"
	"github.com/signet-ca/signet/devicecopy"
	"github.com/signet-ca/signet/npki"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
	"github.com/signet-ca/signet/server"
)

const copyPassword = "Sign3t!pass"

// copyFiles is what a sending device holds: an NPKI pair, and the
// plaintext forms that must never reach the relay.
type copyFiles struct {
	pkg       *devicecopy.Package
	plainKey  []byte // PKCS#8, decrypted
	certClear []byte
}

func newCopyFiles(t testing.TB) *copyFiles {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "홍길동()0880012345678901"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := npki.EncryptPKCS8(key, []byte(copyPassword))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &copyFiles{pkg: &devicecopy.Package{Certificate: der, PrivateKey: enc}, plainKey: plain, certClear: der}
}

// device is one side of a copy as the CLI drives it.
type device struct {
	t       testing.TB
	relay   signetv1.CopyServiceClient
	id      []byte
	token   []byte
	attempt int32
	offer   []byte // the sender's last, for the scan's positive control
}

func (d *device) sid() []byte {
	return binary.BigEndian.AppendUint32(append([]byte(nil), d.id...), uint32(d.attempt))
}

func (h *harness) copySender() (*device, string) {
	h.t.Helper()
	relay := signetv1.NewCopyServiceClient(h.conn)
	resp, err := relay.StartCopy(ctx(h.t), &signetv1.StartCopyRequest{})
	if err != nil {
		h.t.Fatal(err)
	}
	drawn, err := devicecopy.NewCode()
	if err != nil {
		h.t.Fatal(err)
	}
	return &device{t: h.t, relay: relay, id: resp.SessionId, token: resp.SenderToken, attempt: resp.Session.Attempt},
		resp.Slot + string(drawn)[2:]
}

func (h *harness) copyReceiver(slot string) (*device, error) {
	relay := signetv1.NewCopyServiceClient(h.conn)
	resp, err := relay.JoinCopy(ctx(h.t), &signetv1.JoinCopyRequest{Slot: slot})
	if err != nil {
		return nil, err
	}
	return &device{t: h.t, relay: relay, id: resp.SessionId, token: resp.ReceiverToken, attempt: resp.Session.Attempt}, nil
}

func (d *device) post(kind signetv1.CopyMessageKind, payload []byte) (*signetv1.CopySession, error) {
	resp, err := d.relay.ExchangeCopy(ctx(d.t), &signetv1.ExchangeCopyRequest{SessionId: d.id, Token: d.token,
		Attempt: d.attempt, Kind: kind, Payload: payload})
	return resp.GetSession(), err
}

func (d *device) mustPost(kind signetv1.CopyMessageKind, payload []byte) *signetv1.CopySession {
	d.t.Helper()
	s, err := d.post(kind, payload)
	if err != nil {
		d.t.Fatalf("post %s: %v", kind, err)
	}
	return s
}

func (d *device) fetch(kind signetv1.CopyMessageKind, wait int32) *signetv1.FetchCopyResponse {
	d.t.Helper()
	resp, err := d.relay.FetchCopy(ctx(d.t), &signetv1.FetchCopyRequest{SessionId: d.id, Token: d.token,
		Attempt: d.attempt, Kind: kind, WaitSeconds: wait})
	if err != nil {
		d.t.Fatalf("fetch %s: %v", kind, err)
	}
	return resp
}

func (d *device) mustFetch(kind signetv1.CopyMessageKind) []byte {
	d.t.Helper()
	resp := d.fetch(kind, 5)
	if !resp.Ready {
		d.t.Fatalf("fetch %s: not ready, session %v", kind, resp.Session)
	}
	return resp.Payload
}

const (
	kOffer    = signetv1.CopyMessageKind_COPY_MESSAGE_KIND_OFFER
	kReply    = signetv1.CopyMessageKind_COPY_MESSAGE_KIND_REPLY
	kSealed   = signetv1.CopyMessageKind_COPY_MESSAGE_KIND_SEALED
	kReceived = signetv1.CopyMessageKind_COPY_MESSAGE_KIND_RECEIVED
	kFailed   = signetv1.CopyMessageKind_COPY_MESSAGE_KIND_FAILED
)

// copyOnce runs one attempt through the relay with the receiver typing
// typed; check runs after each message lands.
func copyOnce(t testing.TB, snd, rcv *device, code, typed string, pkg *devicecopy.Package, check func(stage string)) (*devicecopy.Package, error) {
	t.Helper()
	s, offer, err := devicecopy.Offer(devicecopy.Code(code), snd.sid())
	if err != nil {
		t.Fatal(err)
	}
	snd.mustPost(kOffer, offer)
	snd.offer = offer
	check("offer")
	r, reply, err := devicecopy.Accept(devicecopy.Code(typed), rcv.sid(), rcv.mustFetch(kOffer))
	if err != nil {
		t.Fatal(err)
	}
	rcv.mustPost(kReply, reply)
	check("reply")
	sealed, err := s.Seal(snd.mustFetch(kReply), pkg)
	if err != nil {
		snd.mustPost(kFailed, nil)
		return nil, err
	}
	snd.mustPost(kSealed, sealed)
	check("sealed")
	got, err := r.Open(rcv.mustFetch(kSealed))
	if err != nil {
		rcv.mustPost(kFailed, nil)
		return nil, err
	}
	rcv.mustPost(kReceived, nil)
	check("received")
	return got, nil
}

func wantRefusal(t testing.TB, err error, code codes.Code, reason string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("got %v, want %s", err, code)
	}
	if reason == "" {
		return
	}
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(interface{ GetReason() string }); ok && info.GetReason() == reason {
			return
		}
	}
	t.Fatalf("got %v, want reason %s", err, reason)
}

func (h *harness) copyActions() []string {
	h.t.Helper()
	rows, err := h.pool.Query(ctx(h.t), `SELECT action FROM audit_events WHERE outcome = 'ok' AND action LIKE 'copy\_%' ORDER BY id`)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// scanRows fails if any column of any copy session row, or any audit
// event, contains one of the secrets.
func (h *harness) scanRows(stage string, secrets map[string][]byte) {
	h.t.Helper()
	for _, hit := range h.findInRows(secrets) {
		h.t.Errorf("%s: %s", stage, hit)
	}
}

// findInRows says which secret sits in which column.
func (h *harness) findInRows(secrets map[string][]byte) []string {
	h.t.Helper()
	var hits []string
	for _, q := range []string{`SELECT * FROM copy_sessions`, `SELECT details::text, coalesce(reason, '') FROM audit_events`} {
		rows, err := h.pool.Query(ctx(h.t), q)
		if err != nil {
			h.t.Fatal(err)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				h.t.Fatal(err)
			}
			for i, v := range vals {
				var b []byte
				switch v := v.(type) {
				case []byte:
					b = v
				case string:
					b = []byte(v)
				default:
					b = fmt.Append(nil, v)
				}
				for name, s := range secrets {
					if len(s) > 0 && bytes.Contains(b, s) {
						hits = append(hits, fmt.Sprintf("column %s of %q holds the %s", rows.FieldDescriptions()[i].Name, q, name))
					}
				}
			}
		}
		rows.Close()
	}
	return hits
}

func TestCopy_EndToEndLeavesNoKeyMaterialOnTheRelay(t *testing.T) {
	h := newHarness(t)
	f := newCopyFiles(t)
	snd, code := h.copySender()
	rcv, err := h.copyReceiver(code[:2])
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]byte{"key file": f.pkg.PrivateKey, "plaintext key": f.plainKey,
		"certificate": f.certClear, "code": []byte(code)}
	got, err := copyOnce(t, snd, rcv, code, code, f.pkg, func(stage string) {
		h.scanRows(stage, secrets)
		// The scan does see what the relay holds: the offer, while live.
		if stage != "received" && len(h.findInRows(map[string][]byte{"offer": snd.offer})) == 0 {
			t.Fatalf("%s: the scan did not find the offer the relay holds", stage)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Certificate, f.pkg.Certificate) || !bytes.Equal(got.PrivateKey, f.pkg.PrivateKey) {
		t.Fatal("the received pair differs from the sent one")
	}
	if _, err := npki.OpenKey(got.PrivateKey, []byte(copyPassword)); err != nil {
		t.Fatalf("received key does not open with the password: %v", err)
	}
	if resp := snd.fetch(kReceived, 0); !resp.Ready || resp.Session.State != signetv1.CopyState_COPY_STATE_COMPLETED {
		t.Fatalf("sender sees %v", resp)
	}
	var payloads int
	if err := h.pool.QueryRow(ctx(t), `SELECT count(*) FROM copy_sessions
		WHERE offer IS NOT NULL OR reply IS NOT NULL OR sealed IS NOT NULL OR slot IS NOT NULL`).Scan(&payloads); err != nil {
		t.Fatal(err)
	}
	if payloads != 0 {
		t.Fatal("a completed session still holds its messages or slot")
	}
	// Single use: the session takes nothing more.
	_, err = snd.post(kOffer, []byte("again"))
	wantRefusal(t, err, codes.FailedPrecondition, "copy_completed")
	if a := h.copyActions(); fmt.Sprint(a) != "[copy_started copy_completed]" {
		t.Fatalf("audit: %v", a)
	}

	// The CPace ISK: a run at the cpace level through the relay, with the
	// parameters devicecopy uses, so that the test knows the key.
	snd2, code2 := h.copySender()
	rcv2, err := h.copyReceiver(code2[:2])
	if err != nil {
		t.Fatal(err)
	}
	ci := cpace.LVCat([]byte("signet-devicecopy/1"), []byte("sender"), []byte("receiver"))
	p, msgA, err := cpace.Start(cpace.Initiator, []byte(code2), ci, snd2.sid(), []byte("signet-devicecopy/1 sender"))
	if err != nil {
		t.Fatal(err)
	}
	snd2.mustPost(kOffer, msgA)
	_, reply, err := devicecopy.Accept(devicecopy.Code(code2), rcv2.sid(), rcv2.mustFetch(kOffer))
	if err != nil {
		t.Fatal(err)
	}
	rcv2.mustPost(kReply, reply)
	isk, err := p.Finish(snd2.mustFetch(kReply)[cpace.TagSize:])
	if err != nil {
		t.Fatal(err)
	}
	if err := p.VerifyConfirmation(reply[:cpace.TagSize]); err != nil {
		t.Fatal(err)
	}
	h.scanRows("cpace run", map[string][]byte{"ISK": isk, "code": []byte(code2)})
}

func TestCopy_WrongCodeFailsBothSidesAndBurnsAfterLimit(t *testing.T) {
	h := newHarness(t)
	f := newCopyFiles(t)
	snd, code := h.copySender()
	wrong := code[:2] + "0000"
	if wrong == code {
		wrong = code[:2] + "0001"
	}
	for i := 1; i <= server.CopyMaxFailures; i++ {
		rcv, err := h.copyReceiver(code[:2])
		if err != nil {
			t.Fatalf("attempt %d: join: %v", i, err)
		}
		if _, err := copyOnce(t, snd, rcv, code, wrong, f.pkg, func(string) {}); !errors.Is(err, devicecopy.ErrConfirmation) {
			t.Fatalf("attempt %d: sender got %v, want ErrConfirmation", i, err)
		}
		// The receiver's wait ends without a package, and it learns why.
		resp := rcv.fetch(kSealed, 5)
		if resp.Ready || int(resp.Session.Failures) != i {
			t.Fatalf("attempt %d: receiver sees %v", i, resp)
		}
		if i < server.CopyMaxFailures {
			if resp.Session.State != signetv1.CopyState_COPY_STATE_OPEN || resp.Session.Attempt != int32(i+1) {
				t.Fatalf("attempt %d: session %v, want open for the next attempt", i, resp.Session)
			}
			snd.attempt = resp.Session.Attempt
		} else if resp.Session.State != signetv1.CopyState_COPY_STATE_BURNED {
			t.Fatalf("after %d failures: %v, want burned", i, resp.Session)
		}
	}
	_, err := h.copyReceiver(code[:2])
	wantRefusal(t, err, codes.NotFound, "copy_no_session")
	_, err = snd.post(kOffer, []byte("x"))
	wantRefusal(t, err, codes.FailedPrecondition, "copy_burned")
	if a := h.copyActions(); fmt.Sprint(a) != "[copy_started copy_burned]" {
		t.Fatalf("audit: %v", a)
	}
}

func TestCopy_RightCodeAfterOneWrongOne(t *testing.T) {
	h := newHarness(t)
	f := newCopyFiles(t)
	snd, code := h.copySender()
	rcv, err := h.copyReceiver(code[:2])
	if err != nil {
		t.Fatal(err)
	}
	wrong := code[:2] + "0000"
	if wrong == code {
		wrong = code[:2] + "0001"
	}
	if _, err := copyOnce(t, snd, rcv, code, wrong, f.pkg, func(string) {}); !errors.Is(err, devicecopy.ErrConfirmation) {
		t.Fatal(err)
	}
	snd.attempt++
	rcv, err = h.copyReceiver(code[:2])
	if err != nil {
		t.Fatal(err)
	}
	if rcv.attempt != 2 {
		t.Fatalf("joined attempt %d, want 2", rcv.attempt)
	}
	if _, err := copyOnce(t, snd, rcv, code, code, f.pkg, func(string) {}); err != nil {
		t.Fatal(err)
	}
}

func TestCopy_ExpiredSession(t *testing.T) {
	h := newHarness(t)
	snd, code := h.copySender()
	h.clock.Advance(server.CopyLifetime)
	_, err := h.copyReceiver(code[:2])
	wantRefusal(t, err, codes.FailedPrecondition, "copy_expired")
	_, err = snd.post(kOffer, []byte("x"))
	wantRefusal(t, err, codes.FailedPrecondition, "copy_expired")
	if resp := snd.fetch(kReply, 0); resp.Session.State != signetv1.CopyState_COPY_STATE_EXPIRED {
		t.Fatalf("fetch sees %v", resp.Session)
	}

	// The sweep ends the ones nobody touches, and purges ended rows later.
	h.copySender()
	h.clock.Advance(server.CopyLifetime + time.Second)
	expired, purged, err := h.built.SweepCopies(ctx(t))
	if err != nil || expired != 1 || purged != 0 {
		t.Fatalf("sweep: %d expired, %d purged, %v", expired, purged, err)
	}
	h.clock.Advance(time.Hour)
	if _, purged, err = h.built.SweepCopies(ctx(t)); err != nil || purged != 2 {
		t.Fatalf("purge: %d, %v", purged, err)
	}
	if a := h.copyActions(); fmt.Sprint(a) != "[copy_started copy_expired copy_started copy_expired]" {
		t.Fatalf("audit: %v", a)
	}
}

func TestCopy_ReplayedMessagesFailInANewSession(t *testing.T) {
	h := newHarness(t)
	f := newCopyFiles(t)
	// Session A completes; the relay keeps a copy of every message.
	sndA, code := h.copySender()
	rcvA, err := h.copyReceiver(code[:2])
	if err != nil {
		t.Fatal(err)
	}
	s, offerA, _ := devicecopy.Offer(devicecopy.Code(code), sndA.sid())
	sndA.mustPost(kOffer, offerA)
	_, replyA, err := devicecopy.Accept(devicecopy.Code(code), rcvA.sid(), rcvA.mustFetch(kOffer))
	if err != nil {
		t.Fatal(err)
	}
	rcvA.mustPost(kReply, replyA)
	sealedA, err := s.Seal(sndA.mustFetch(kReply), f.pkg)
	if err != nil {
		t.Fatal(err)
	}
	sndA.mustPost(kSealed, sealedA)

	// Session B, even with the same code: the relay replays A's reply to
	// the sender and A's offer and sealed package to the receiver.
	sndB, _ := h.copySender()
	s2, offerB, _ := devicecopy.Offer(devicecopy.Code(code), sndB.sid())
	if _, err := s2.Seal(replyA, f.pkg); !errors.Is(err, devicecopy.ErrConfirmation) {
		t.Fatalf("sender accepted a replayed reply: %v", err)
	}
	_ = offerB
	r, _, err := devicecopy.Accept(devicecopy.Code(code), sndB.sid(), offerA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Open(sealedA); !errors.Is(err, devicecopy.ErrConfirmation) {
		t.Fatalf("receiver opened a replayed package: %v", err)
	}
	// And the relay refuses a message for an attempt that is not current.
	rcvA.attempt = 2
	_, err = rcvA.post(kReply, replyA)
	wantRefusal(t, err, codes.FailedPrecondition, "copy_stale_attempt")
}

func TestCopy_TamperedCiphertextCountsAFailure(t *testing.T) {
	h := newHarness(t)
	f := newCopyFiles(t)
	snd, code := h.copySender()
	rcv, err := h.copyReceiver(code[:2])
	if err != nil {
		t.Fatal(err)
	}
	s, offer, _ := devicecopy.Offer(devicecopy.Code(code), snd.sid())
	snd.mustPost(kOffer, offer)
	r, reply, err := devicecopy.Accept(devicecopy.Code(code), rcv.sid(), rcv.mustFetch(kOffer))
	if err != nil {
		t.Fatal(err)
	}
	rcv.mustPost(kReply, reply)
	sealed, err := s.Seal(snd.mustFetch(kReply), f.pkg)
	if err != nil {
		t.Fatal(err)
	}
	sealed[len(sealed)-20] ^= 1 // in the ciphertext, past tag and nonce
	snd.mustPost(kSealed, sealed)
	if _, err := r.Open(rcv.mustFetch(kSealed)); !errors.Is(err, devicecopy.ErrSealed) {
		t.Fatalf("tampered package: %v, want ErrSealed", err)
	}
	sess := rcv.mustPost(kFailed, nil)
	if sess.Failures != 1 || sess.Attempt != 2 || sess.State != signetv1.CopyState_COPY_STATE_OPEN {
		t.Fatalf("after a tampered package: %v", sess)
	}
	// The sender, waiting for RECEIVED, sees the attempt end.
	if resp := snd.fetch(kReceived, 0); resp.Ready || resp.Session.Attempt != 2 {
		t.Fatalf("sender sees %v", resp)
	}
}

func TestCopy_Cancelled(t *testing.T) {
	h := newHarness(t)
	snd, code := h.copySender()
	rcv, err := h.copyReceiver(code[:2])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snd.relay.CancelCopy(ctx(t), &signetv1.CancelCopyRequest{SessionId: snd.id, Token: snd.token}); err != nil {
		t.Fatal(err)
	}
	if resp := rcv.fetch(kOffer, 0); resp.Session.State != signetv1.CopyState_COPY_STATE_CANCELLED {
		t.Fatalf("receiver sees %v", resp.Session)
	}
	_, err = rcv.post(kReply, []byte("x"))
	wantRefusal(t, err, codes.FailedPrecondition, "copy_cancelled")
	if a := h.copyActions(); fmt.Sprint(a) != "[copy_started copy_cancelled]" {
		t.Fatalf("audit: %v", a)
	}
}

func TestCopy_RefusesBadInput(t *testing.T) {
	h := newHarness(t)
	snd, code := h.copySender()
	relay := snd.relay
	// (Invalid UTF-8 never reaches the handler: proto3 refuses it.)
	for _, slot := range []string{"", "4", "4x", "123", "٤٢"} {
		_, err := relay.JoinCopy(ctx(t), &signetv1.JoinCopyRequest{Slot: slot})
		wantRefusal(t, err, codes.InvalidArgument, "")
	}
	free := "00"
	if code[:2] == free {
		free = "01"
	}
	_, err := relay.JoinCopy(ctx(t), &signetv1.JoinCopyRequest{Slot: free})
	wantRefusal(t, err, codes.NotFound, "copy_no_session")

	_, err = snd.post(kSealed, make([]byte, server.MaxCopyPackage+1))
	wantRefusal(t, err, codes.InvalidArgument, "")
	_, err = snd.post(kOffer, make([]byte, 1025))
	wantRefusal(t, err, codes.InvalidArgument, "")
	_, err = snd.post(signetv1.CopyMessageKind_COPY_MESSAGE_KIND_UNSPECIFIED, nil)
	wantRefusal(t, err, codes.InvalidArgument, "")
	// The sender cannot play the receiver, nor fail an attempt it never saw.
	_, err = snd.post(kReply, []byte("x"))
	wantRefusal(t, err, codes.PermissionDenied, "copy_wrong_role")
	_, err = snd.post(kFailed, nil)
	wantRefusal(t, err, codes.FailedPrecondition, "copy_out_of_order")
	// Someone else's token reads like no session at all.
	other := &device{t: t, relay: relay, id: snd.id, token: bytes.Repeat([]byte{1}, 32), attempt: 1}
	_, err = other.post(kOffer, []byte("x"))
	wantRefusal(t, err, codes.NotFound, "copy_unknown")
	// A second device cannot join a joined session.
	if _, err := h.copyReceiver(code[:2]); err != nil {
		t.Fatal(err)
	}
	_, err = h.copyReceiver(code[:2])
	wantRefusal(t, err, codes.FailedPrecondition, "copy_joined")
}

// BenchmarkCopySession measures whole copies through the relay over
// gRPC/TLS into PostgreSQL: StartCopy, JoinCopy, the three messages with
// their fetches, RECEIVED, with CPace and AES-GCM on both devices.
//
//	go test ./server -run '^$' -bench 'Copy' -benchtime 300x -cpu 2
func BenchmarkCopySession(b *testing.B) {
	h := newHarness(b)
	f := newCopyFiles(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			snd, code := h.copySender()
			rcv, err := h.copyReceiver(code[:2])
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := copyOnce(b, snd, rcv, code, code, f.pkg, func(string) {}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
}

// BenchmarkCopyPAKE is the devices' cryptography alone (both sides of
// CPace with key confirmation, HKDF, seal and open of a 2 KiB package):
// the latency the PAKE adds to a copy.
func BenchmarkCopyPAKE(b *testing.B) {
	f := newCopyFiles(b)
	sid := make([]byte, 20)
	for b.Loop() {
		s, offer, err := devicecopy.Offer("421337", sid)
		if err != nil {
			b.Fatal(err)
		}
		r, reply, err := devicecopy.Accept("421337", sid, offer)
		if err != nil {
			b.Fatal(err)
		}
		sealed, err := s.Seal(reply, f.pkg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Open(sealed); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCopy_HundredSlotsThenBusyUntilOneExpires(t *testing.T) {
	h := newHarness(t)
	slots := map[string]bool{}
	for range server.CopySlots {
		_, code := h.copySender()
		if slots[code[:2]] {
			t.Fatalf("slot %s given twice", code[:2])
		}
		slots[code[:2]] = true
	}
	relay := signetv1.NewCopyServiceClient(h.conn)
	_, err := relay.StartCopy(ctx(t), &signetv1.StartCopyRequest{})
	wantRefusal(t, err, codes.ResourceExhausted, "")
	// Sessions past their deadline give their slots back at once.
	h.clock.Advance(server.CopyLifetime)
	if _, err := relay.StartCopy(ctx(t), &signetv1.StartCopyRequest{}); err != nil {
		t.Fatal(err)
	}
}
