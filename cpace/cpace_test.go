package cpace

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"testing"
	"testing/quick"
)

type run struct {
	a, b       *Party
	msgA, msgB []byte
	iskA, iskB []byte
	errA, errB error
}

// exchange runs both sides in the initiator-responder setting.
func exchange(t *testing.T, prsA, prsB, sid []byte) run {
	t.Helper()
	ci := LVCat([]byte("A_initiator"), []byte("B_responder"))
	var r run
	var err error
	if r.a, r.msgA, err = Start(Initiator, prsA, ci, sid, []byte("ADa")); err != nil {
		t.Fatal(err)
	}
	if r.b, r.msgB, err = Start(Responder, prsB, ci, sid, []byte("ADb")); err != nil {
		t.Fatal(err)
	}
	r.iskB, r.errB = r.b.Finish(r.msgA)
	r.iskA, r.errA = r.a.Finish(r.msgB)
	return r
}

// confirms reports whether both tags verify on the other side.
func confirms(t *testing.T, a, b *Party) (atB, atA bool) {
	t.Helper()
	ta, err := a.ConfirmationTag()
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.ConfirmationTag()
	if err != nil {
		t.Fatal(err)
	}
	return b.VerifyConfirmation(ta) == nil, a.VerifyConfirmation(tb) == nil
}

// TestProperty_SameKeyIffSamePassword: for random PRS pairs that are equal
// half of the time, ISKs agree and confirmation passes exactly when PRS does.
func TestProperty_SameKeyIffSamePassword(t *testing.T) {
	f := func(prsA, prsB, sid []byte, same bool) bool {
		if same {
			prsB = prsA
		}
		r := exchange(t, prsA, prsB, sid)
		if r.errA != nil || r.errB != nil {
			t.Logf("finish: %v %v", r.errA, r.errB)
			return false
		}
		equalPRS := bytes.Equal(prsA, prsB)
		atB, atA := confirms(t, r.a, r.b)
		return bytes.Equal(r.iskA, r.iskB) == equalPRS && atB == equalPRS && atA == equalPRS
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 200}); err != nil {
		t.Error(err)
	}
}

// TestConfirmation_RejectsTamperedMessage flips each byte of each message in
// transit (one at a time); every run must fail to confirm on both sides or
// abort in Finish, never succeed.
func TestConfirmation_RejectsTamperedMessage(t *testing.T) {
	prs, sid := []byte("123456"), []byte("session-1")
	ci := []byte("ci")
	for _, tamperA := range []bool{true, false} {
		for i := 0; i < ElementSize+5; i++ {
			a, msgA, _ := Start(Initiator, prs, ci, sid, []byte("ADa"))
			b, msgB, _ := Start(Responder, prs, ci, sid, []byte("ADb"))
			target := &msgB
			if tamperA {
				target = &msgA
			}
			if i >= len(*target) {
				continue
			}
			(*target)[i] ^= 0x01
			_, errB := b.Finish(msgA)
			_, errA := a.Finish(msgB)
			if errA != nil || errB != nil {
				continue // refused before confirmation: malformed length or invalid element
			}
			if atB, atA := confirms(t, a, b); atB || atA {
				t.Errorf("tamperA=%v byte %d: confirmation passed (at B %v, at A %v)", tamperA, i, atB, atA)
			}
		}
	}
}

func TestConfirmation_RejectsTamperedTag(t *testing.T) {
	r := exchange(t, []byte("pw"), []byte("pw"), []byte("sid"))
	ta, _ := r.a.ConfirmationTag()
	tb, _ := r.b.ConfirmationTag()
	if err := r.a.VerifyConfirmation(ta); !errors.Is(err, ErrConfirmation) {
		t.Errorf("A accepted its own tag reflected back: %v", err)
	}
	for _, bad := range [][]byte{nil, tb[:TagSize-1], append(append([]byte(nil), tb...), 0)} {
		if err := r.a.VerifyConfirmation(bad); !errors.Is(err, ErrConfirmation) {
			t.Errorf("tag of length %d accepted", len(bad))
		}
	}
	tb[7] ^= 0x80
	if err := r.a.VerifyConfirmation(tb); !errors.Is(err, ErrConfirmation) {
		t.Error("flipped tag accepted")
	}
}

// TestConfirmation_MatchesDraftConstruction pins the tags to the draft's
// "Key confirmation" construction, computed independently here from the
// published ISK_IR (the draft gives no vectors for this step).
func TestConfirmation_MatchesDraftConstruction(t *testing.T) {
	v, _ := ristrettoVectors(t)
	mk := sha512.Sum512(append(append([]byte("CPaceMac"), v.Sid...), v.ISKIR...))
	want := func(y, ad []byte) []byte {
		m := hmac.New(sha512.New, mk[:])
		m.Write(append(append([]byte{byte(len(y))}, y...), append([]byte{byte(len(ad))}, ad...)...))
		return m.Sum(nil)
	}
	a, _, _ := start(Initiator, v.PRS, v.CI, v.Sid, v.ADa, bytes.NewReader(v.Ya))
	b, msgB, _ := start(Responder, v.PRS, v.CI, v.Sid, v.ADb, bytes.NewReader(v.Yb))
	if _, err := a.Finish(msgB); err != nil {
		t.Fatal(err)
	}
	ta, _ := a.ConfirmationTag()
	equal(t, "Ta", ta, want(v.YaEnc, v.ADa))
	if err := b.VerifyConfirmation(ta); !errors.Is(err, ErrState) {
		t.Errorf("B verified a tag before Finish: %v", err)
	}
	if err := a.VerifyConfirmation(want(v.YbEnc, v.ADb)); err != nil {
		t.Errorf("A refused the draft's Tb: %v", err)
	}
}

func TestFinish_RefusesReflectedMessage(t *testing.T) {
	for _, role := range []Role{Initiator, Responder, Symmetric} {
		p, msg, _ := Start(role, []byte("pw"), nil, []byte("sid"), []byte("AD"))
		if _, err := p.Finish(msg); !errors.Is(err, ErrReflected) {
			t.Errorf("role %d: own message accepted: %v", role, err)
		}
	}
}

func TestFinish_RefusesMalformedMessages(t *testing.T) {
	p, msg, _ := Start(Responder, []byte("pw"), nil, []byte("sid"), []byte("AD"))
	y := msg[1 : 1+ElementSize]
	cases := map[string][]byte{
		"empty":              nil,
		"Y only":             prependLen(y),
		"short Y":            LVCat(y[:31], nil),
		"long Y":             LVCat(append(y, 0), nil),
		"trailing byte":      append(LVCat(y, nil), 0),
		"non-minimal length": append(append([]byte{0xa0, 0x00}, y...), 0x00),
		"length past end":    append(append([]byte{0x20}, y...), 0x05, 'a'),
		"huge length":        append(append([]byte{0x20}, y...), 0xff, 0xff, 0xff, 0x7f),
	}
	for name, m := range cases {
		q, _, _ := Start(Initiator, []byte("pw"), nil, []byte("sid"), nil)
		if _, err := q.Finish(m); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// The state machine: Finish once, confirmation only after success.
	if _, err := p.ConfirmationTag(); !errors.Is(err, ErrState) {
		t.Errorf("tag before Finish: %v", err)
	}
	_, msgQ, _ := Start(Initiator, []byte("pw"), nil, []byte("sid"), nil)
	if _, err := p.Finish(msgQ); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Finish(msgQ); !errors.Is(err, ErrState) {
		t.Errorf("second Finish: %v", err)
	}
	if _, _, err := Start(Role(0), []byte("pw"), nil, nil, nil); err == nil {
		t.Error("zero Role accepted")
	}
}

func TestSampleScalar_ClearsTopBits(t *testing.T) {
	ff := bytes.Repeat([]byte{0xff}, 32)
	s, err := sampleScalar(bytes.NewReader(ff))
	if err != nil {
		t.Fatal(err)
	}
	want := append(bytes.Repeat([]byte{0xff}, 31), 0x0f)
	equal(t, "sample_scalar(ff..ff)", s.Encode(nil), want)
	if _, err := sampleScalar(bytes.NewReader(ff[:10])); err == nil {
		t.Error("short randomness accepted")
	}
}

func BenchmarkExchange(b *testing.B) {
	sid := make([]byte, 16)
	rand.Read(sid)
	for b.Loop() {
		a, msgA, _ := Start(Initiator, []byte("123456"), nil, sid, nil)
		r, msgB, _ := Start(Responder, []byte("123456"), nil, sid, nil)
		if _, err := r.Finish(msgA); err != nil {
			b.Fatal(err)
		}
		if _, err := a.Finish(msgB); err != nil {
			b.Fatal(err)
		}
	}
}
