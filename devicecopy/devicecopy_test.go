package devicecopy

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"testing/quick"

	"github.com/signet-ca/signet/cpace"
)

func testPackage(size int) *Package {
	cert := make([]byte, size/2)
	key := make([]byte, size/4)
	ca := make([]byte, size/4)
	rand.Read(cert)
	rand.Read(key)
	rand.Read(ca)
	return &Package{Certificate: cert, PrivateKey: key, Chain: [][]byte{ca}}
}

func newSID() []byte {
	b := make([]byte, 16)
	rand.Read(b)
	return b
}

// transcript is one complete run's messages.
type transcript struct {
	sid, offer, reply, sealed []byte
}

// copyOver runs the whole exchange in memory; relay may rewrite each
// message in flight (nil leaves them alone).
func copyOver(t *testing.T, senderCode, receiverCode Code, sid []byte, pkg *Package,
	relay func(step string, msg []byte) []byte) (*Package, transcript, error) {
	t.Helper()
	if relay == nil {
		relay = func(_ string, m []byte) []byte { return m }
	}
	tr := transcript{sid: sid}
	s, offer, err := Offer(senderCode, sid)
	if err != nil {
		t.Fatal(err)
	}
	tr.offer = relay("offer", offer)
	r, reply, err := Accept(receiverCode, sid, tr.offer)
	if err != nil {
		return nil, tr, fmt.Errorf("accept: %w", err)
	}
	tr.reply = relay("reply", reply)
	sealed, err := s.Seal(tr.reply, pkg)
	if err != nil {
		return nil, tr, fmt.Errorf("seal: %w", err)
	}
	tr.sealed = relay("sealed", sealed)
	got, err := r.Open(tr.sealed)
	if err != nil {
		return nil, tr, fmt.Errorf("open: %w", err)
	}
	return got, tr, nil
}

func TestCopy_InMemory(t *testing.T) {
	code, err := NewCode()
	if err != nil {
		t.Fatal(err)
	}
	pkg := testPackage(10 << 10)
	pkg.Chain = append(pkg.Chain, []byte("root CA DER"))
	got, _, err := copyOver(t, code, code, newSID(), pkg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, pkg) {
		t.Error("opened package differs from the sealed one")
	}
}

// TestCopy_WrongCodeFailsOnBothSides: the sender refuses the reply (Tb),
// and the receiver refuses a sealed message even from a sender that
// ignored its own failed check.
func TestCopy_WrongCodeFailsOnBothSides(t *testing.T) {
	sid, pkg := newSID(), testPackage(1024)
	s, offer, _ := Offer("123456", sid)
	r, reply, err := Accept("123457", sid, offer)
	if err != nil {
		t.Fatalf("accept cannot know the code is wrong yet: %v", err)
	}
	if sealed, err := s.Seal(reply, pkg); !errors.Is(err, ErrConfirmation) || sealed != nil {
		t.Fatalf("sender sealed for a wrong code: %v", err)
	}

	// A sender that seals anyway (a broken or hostile peer).
	s2, offer2, _ := Offer("123456", sid)
	r2, reply2, _ := Accept("654321", sid, offer2)
	key, tagA, err := s2.confirmUnchecked(reply2)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := seal(key, tagA, pkg)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r2.Open(sealed); !errors.Is(err, ErrConfirmation) || got != nil {
		t.Errorf("receiver opened with a wrong code: %v", err)
	}
	// Even past Ta, the AEAD key differs: the receiver's key cannot open it.
	if got, err := open(r2.key, sealed[len(tagA):]); err == nil || got != nil {
		t.Error("package opened under the wrong code's key")
	}
	// The honest receiver, whose sender refused, has nothing it could open.
	if got, err := r.Open(nil); err == nil || got != nil {
		t.Error("receiver opened an empty message")
	}
}

// TestCopy_RelayGuessingCodeRefused: a relay that runs the protocol itself
// with a guessed code against each device (a man in the middle) gets
// refused by both, and spends its one guess per device on each attempt.
func TestCopy_RelayGuessingCodeRefused(t *testing.T) {
	sid, pkg := newSID(), testPackage(512)
	const code, guess = Code("271828"), Code("271829")
	sender, offer, _ := Offer(code, sid)

	// Towards the sender, the relay plays receiver with its guess.
	_, forgedReply, err := Accept(guess, sid, offer)
	if err != nil {
		t.Fatal(err)
	}
	if sealed, err := sender.Seal(forgedReply, pkg); !errors.Is(err, ErrConfirmation) || sealed != nil {
		t.Errorf("sender sealed to a relay that guessed: %v", err)
	}

	// Towards the receiver, the relay plays sender with its guess.
	fakeSender, forgedOffer, _ := Offer(guess, sid)
	receiver, reply, err := Accept(code, sid, forgedOffer)
	if err != nil {
		t.Fatal(err)
	}
	key, tagA, err := fakeSender.confirmUnchecked(reply)
	if err != nil {
		t.Fatal(err)
	}
	if err := fakeSender.party.VerifyConfirmation(reply[:cpace.TagSize]); err == nil {
		t.Error("receiver's tag confirmed the relay's wrong guess")
	}
	sealed, _ := seal(key, tagA, &Package{Certificate: []byte("evil"), PrivateKey: []byte("evil")})
	if got, err := receiver.Open(sealed); !errors.Is(err, ErrConfirmation) || got != nil {
		t.Errorf("receiver installed a package from a relay that guessed: %v", err)
	}
}

// TestCopy_TamperedMessagesRefused flips one bit at a spread of positions in
// each of the three messages; no run may deliver a package.
func TestCopy_TamperedMessagesRefused(t *testing.T) {
	pkg := testPackage(2048)
	for _, step := range []string{"offer", "reply", "sealed"} {
		for _, pos := range []int{0, 1, 2, 17, 33, 34, 40, 63, 64, 65, 80, 100, 140, 1000, -1} {
			relay := func(s string, m []byte) []byte {
				if s != step {
					return m
				}
				m = append([]byte(nil), m...)
				i := pos
				if i < 0 || i >= len(m) {
					i = len(m) - 1
				}
				m[i] ^= 0x04
				return m
			}
			got, _, err := copyOver(t, "000042", "000042", newSID(), pkg, relay)
			if err == nil || got != nil {
				t.Errorf("%s byte %d altered: package delivered", step, pos)
			}
		}
	}
	// Truncation and extension are tampering too.
	for _, step := range []string{"offer", "reply", "sealed"} {
		for _, cut := range []func([]byte) []byte{
			func(m []byte) []byte { return m[:len(m)-1] },
			func(m []byte) []byte { return append(m, 0) },
			func([]byte) []byte { return nil },
		} {
			relay := func(s string, m []byte) []byte {
				if s == step {
					return cut(append([]byte(nil), m...))
				}
				return m
			}
			if got, _, err := copyOver(t, "999999", "999999", newSID(), pkg, relay); err == nil || got != nil {
				t.Errorf("%s resized: package delivered", step)
			}
		}
	}
}

// TestCopy_ReplayIntoNewSessionRefused records one complete session and
// replays its messages into a later one, with a new or a reused session id.
func TestCopy_ReplayIntoNewSessionRefused(t *testing.T) {
	pkg := testPackage(1024)
	const code = Code("314159")
	_, old, err := copyOver(t, code, code, newSID(), pkg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, sid := range map[string][]byte{"new sid": newSID(), "reused sid": old.sid} {
		// Old offer and old sealed package into a new receiver.
		r, _, err := Accept(code, sid, old.offer)
		if err != nil {
			t.Fatalf("%s: accept: %v", name, err)
		}
		if got, err := r.Open(old.sealed); err == nil || got != nil {
			t.Errorf("%s: receiver opened a replayed package", name)
		}
		// Old reply into a new sender.
		s, _, _ := Offer(code, sid)
		if sealed, err := s.Seal(old.reply, pkg); err == nil || sealed != nil {
			t.Errorf("%s: sender accepted a replayed reply", name)
		}
	}
}

// TestProperty_RandomCodes: over random code pairs (equal half of the
// time) the copy succeeds exactly when the codes match.
func TestProperty_RandomCodes(t *testing.T) {
	pkg := testPackage(512)
	f := func(same bool) bool {
		a, err := NewCode()
		if err != nil {
			return false
		}
		b := a
		if !same {
			if b, err = NewCode(); err != nil {
				return false
			}
		}
		got, _, err := copyOver(t, a, b, newSID(), pkg, nil)
		if a == b {
			return err == nil && reflect.DeepEqual(got, pkg)
		}
		return errors.Is(err, ErrConfirmation) && got == nil
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 100}); err != nil {
		t.Error(err)
	}
}

func TestSession_SingleUse(t *testing.T) {
	pkg := testPackage(256)
	sid := newSID()
	s, offer, _ := Offer("111111", sid)
	r, reply, _ := Accept("111111", sid, offer)
	sealed, err := s.Seal(reply, pkg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seal(reply, pkg); !errors.Is(err, ErrUsed) {
		t.Errorf("second Seal: %v", err)
	}
	if _, err := r.Open(sealed); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Open(sealed); !errors.Is(err, ErrUsed) {
		t.Errorf("second Open: %v", err)
	}
}

func TestOffer_RefusesBadInputs(t *testing.T) {
	for _, c := range []Code{"", "12345", "1234567", "12345a", "١٢٣٤٥٦"} {
		if _, _, err := Offer(c, newSID()); err == nil {
			t.Errorf("code %q accepted", c)
		}
	}
	for _, sid := range [][]byte{nil, make([]byte, maxSessionID+1)} {
		if _, _, err := Offer("123456", sid); err == nil {
			t.Errorf("session id of %d bytes accepted", len(sid))
		}
	}
	s, offer, _ := Offer("123456", newSID())
	// The sender's own offer reflected as the reply.
	if _, err := s.Seal(append(make([]byte, 64), offer...), testPackage(64)); err == nil {
		t.Error("reflected offer accepted as reply")
	}
	s2, _, _ := Offer("123456", newSID())
	if _, err := s2.Seal(nil, &Package{Certificate: []byte{1}}); err == nil {
		t.Error("package without key file sealed")
	}
}

func TestAccept_RefusesWrongRole(t *testing.T) {
	sid := newSID()
	// A receiver's reply fed to another receiver as if it were an offer.
	_, offer, _ := Offer("123456", sid)
	_, reply, _ := Accept("123456", sid, offer)
	if _, _, err := Accept("123456", sid, reply[64:]); !errors.Is(err, ErrPeerVersion) {
		t.Errorf("receiver message accepted as offer: %v", err)
	}
}

func TestPackage_RoundTripAndStrictDecode(t *testing.T) {
	for _, p := range []*Package{
		{Certificate: []byte{1}, PrivateKey: []byte{2}},
		testPackage(300),
		{Certificate: bytes.Repeat([]byte{7}, 200), PrivateKey: []byte{2}, Chain: [][]byte{{3}, {4, 5}}},
	} {
		got, err := unmarshalPackage(p.marshal())
		if err != nil || !reflect.DeepEqual(got, p) {
			t.Errorf("round trip: %v", err)
		}
		enc := p.marshal()
		for _, bad := range [][]byte{nil, enc[:len(enc)-1], append(enc, 0), append([]byte{2}, enc[1:]...)} {
			if _, err := unmarshalPackage(bad); err == nil {
				t.Errorf("malformed package of %d bytes decoded", len(bad))
			}
		}
	}
}

func TestCode_UniformAndWellFormed(t *testing.T) {
	seen := map[Code]bool{}
	for range 2000 {
		c, err := NewCode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseCode(string(c)); err != nil || len(c) != CodeDigits {
			t.Fatalf("NewCode gave %q", c)
		}
		seen[c] = true
	}
	if len(seen) < 1990 {
		t.Errorf("only %d distinct codes in 2000 draws", len(seen))
	}
	// Values at or above the rejection bound are drawn again, not reduced.
	over := []byte{0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x2a}
	if c, err := newCode(bytes.NewReader(over)); err != nil || c != "000042" {
		t.Errorf("newCode(reject, 42) = %q, %v", c, err)
	}
	if rejectAbove != 4_294_000_000 {
		t.Errorf("rejectAbove = %d", rejectAbove)
	}
	for in, want := range map[string]Code{"042917": "042917", "042 917": "042917", "042-917": "042917"} {
		if got, err := ParseCode(in); err != nil || got != want {
			t.Errorf("ParseCode(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "04291", "0429170", "04291x", "０４２９１７"} {
		if _, err := ParseCode(in); err == nil {
			t.Errorf("ParseCode(%q) accepted", in)
		}
	}
}

// BenchmarkExchange is one complete PAKE run on both devices: both CPace
// messages, both ISKs, both confirmation tags and the package keys.
func BenchmarkExchange(b *testing.B) {
	sid := newSID()
	for b.Loop() {
		s, offer, _ := Offer("123456", sid)
		_, reply, err := Accept("123456", sid, offer)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := s.confirm(reply); err != nil {
			b.Fatal(err)
		}
	}
}

func benchKey(b *testing.B) *sessionKey {
	k, err := deriveKey(make([]byte, 64), newSID(), []byte("offer"), []byte("reply"))
	if err != nil {
		b.Fatal(err)
	}
	return k
}

func BenchmarkSeal10KB(b *testing.B) {
	k, pkg := benchKey(b), testPackage(10<<10)
	b.SetBytes(10 << 10)
	for b.Loop() {
		if _, err := seal(k, make([]byte, 64), pkg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen10KB(b *testing.B) {
	k, pkg := benchKey(b), testPackage(10<<10)
	box, err := seal(k, nil, pkg)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(10 << 10)
	for b.Loop() {
		if _, err := open(k, box); err != nil {
			b.Fatal(err)
		}
	}
}

// confirmUnchecked is Sender.confirm without the check of Tb: what a broken
// or hostile sender would do.
func (s *Sender) confirmUnchecked(reply []byte) (*sessionKey, []byte, error) {
	msgB := reply[cpace.TagSize:]
	isk, err := s.party.Finish(msgB)
	if err != nil {
		return nil, nil, err
	}
	tagA, err := s.party.ConfirmationTag()
	if err != nil {
		return nil, nil, err
	}
	key, err := deriveKey(isk, s.sid, s.offer, msgB)
	return key, tagA, err
}
