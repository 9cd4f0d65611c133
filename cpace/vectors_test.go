package cpace

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/gtank/ristretto255"
)

// The vectors come from /work/shared/cpace at draft commit 8fb4056e:
// testdata/testvectors.json is the draft's machine-readable file verbatim
// (the ristretto255 suite is "G_Coffee25519"); testdata/draft_embedded.json
// holds the base64 JSON blocks embedded in the draft's appendix for the
// string utilities and the ristretto255 generator, decoded. Values that the
// draft prints only as text (DSI_ISK, the ISK hash inputs, transcripts of
// the ristretto255 run, lexicographical-order cases) are copied below.

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func equal(t *testing.T, name string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got  %x\n want %x", name, got, want)
	}
}

type suiteVectors struct {
	PRS, CI, Sid, G, Ya, ADa, YaEnc, Yb, ADb, YbEnc, K hexBytes
	ISKIR, ISKSY, SidOutputIR, SidOutputOC             hexBytes
}

func (v *suiteVectors) UnmarshalJSON(b []byte) error {
	var m map[string]hexBytes
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*v = suiteVectors{
		PRS: m["PRS"], CI: m["CI"], Sid: m["sid"], G: m["g"],
		Ya: m["ya"], ADa: m["ADa"], YaEnc: m["Ya"], Yb: m["yb"], ADb: m["ADb"], YbEnc: m["Yb"], K: m["K"],
		ISKIR: m["ISK_IR"], ISKSY: m["ISK_SY"], SidOutputIR: m["sid_output_ir"], SidOutputOC: m["sid_output_oc"],
	}
	return nil
}

type pointVectors struct {
	// Keys of "Valid" contain commas, which json struct tags cannot name.
	Valid     map[string]hexBytes
	InvalidY1 hexBytes `json:"Invalid Y1"`
	InvalidY2 hexBytes `json:"Invalid Y2"`
}

func ristrettoVectors(t *testing.T) (suiteVectors, pointVectors) {
	var all struct {
		Suite  suiteVectors `json:"G_Coffee25519"`
		Points pointVectors `json:"G_Coffee25519_points"`
	}
	loadJSON(t, "testvectors.json", &all)
	if len(all.Suite.G) != ElementSize || len(all.Points.Valid["s"]) != 32 {
		t.Fatal("testvectors.json: G_Coffee25519 entries missing")
	}
	return all.Suite, all.Points
}

func embeddedVectors(t *testing.T) map[string]map[string]json.RawMessage {
	var m map[string]map[string]json.RawMessage
	loadJSON(t, "draft_embedded.json", &m)
	return m
}

func field(t *testing.T, m map[string]json.RawMessage, key string) []byte {
	t.Helper()
	raw, ok := m[key]
	if !ok {
		t.Fatalf("vector %q missing", key)
	}
	var h hexBytes
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatalf("vector %q: %v", key, err)
	}
	return h
}

func TestVectors_PrependLen(t *testing.T) {
	v := embeddedVectors(t)["prepend_len"]
	r127, r128 := make([]byte, 127), make([]byte, 128)
	for i := range r128 {
		r128[i] = byte(i)
		if i < 127 {
			r127[i] = byte(i)
		}
	}
	equal(t, "prepend_len(b'')", prependLen(nil), field(t, v, "prepend_len(b'')"))
	equal(t, "prepend_len(b'1234')", prependLen([]byte("1234")), field(t, v, "prepend_len(b'1234')"))
	equal(t, "prepend_len(range(127))", prependLen(r127), field(t, v, "prepend_len(bytes(range(127)))"))
	equal(t, "prepend_len(range(128))", prependLen(r128), field(t, v, "prepend_len(bytes(range(128)))"))
	// lvLen must agree with the encoding around the LEB128 byte boundaries.
	for _, n := range []int{0, 1, 127, 128, 16383, 16384} {
		if got, want := lvLen(make([]byte, n)), len(prependLen(make([]byte, n))); got != want {
			t.Errorf("lvLen(%d bytes) = %d, want %d", n, got, want)
		}
	}
}

func TestVectors_LVCat(t *testing.T) {
	v := embeddedVectors(t)["lv_cat"]
	got := LVCat([]byte("1234"), []byte("5"), []byte(""), []byte("678"))
	equal(t, "lv_cat(b'1234',b'5',b'',b'678')", got, field(t, v, "lv_cat(b'1234',b'5',b'',b'678')"))
}

func TestVectors_OrderedConcatenation(t *testing.T) {
	// "Test vectors ordered concatenation", printed as text in the draft.
	cases := []struct {
		a, b string
		want bool
	}{
		{"\x00", "\x00\x00", false},
		{"\x01", "\x00\x00", true},
		{"\x00\x00", "\x00", true},
		{"\x00\x00", "\x01", false},
		{"\x00\x01", "\x01", false},
		{"ABCD", "BCD", false},
	}
	for _, c := range cases {
		if got := lexicographicallyLarger([]byte(c.a), []byte(c.b)); got != c.want {
			t.Errorf("lexiographically_larger(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
	v := embeddedVectors(t)["o_cat"]
	equal(t, "o_cat(b'ABCD',b'BCD')", oCat([]byte("ABCD"), []byte("BCD")), field(t, v, "o_cat(b'ABCD',b'BCD')"))
	equal(t, "o_cat(b'BCD',b'ABCDE')", oCat([]byte("BCD"), []byte("ABCDE")), field(t, v, "o_cat(b'BCD',b'ABCDE')"))
}

func TestVectors_Transcripts(t *testing.T) {
	e := embeddedVectors(t)
	ir, oc := e["transcript_ir"], e["transcript_oc"]
	a, b := []byte("PartyA"), []byte("PartyB")
	equal(t, "transcript_ir(123,PartyA,234,PartyB)", transcriptIR([]byte("123"), a, []byte("234"), b),
		field(t, ir, "transcript_ir(b'123',b'PartyA',b'234',b'PartyB')"))
	equal(t, "transcript_ir(3456,PartyA,2345,PartyB)", transcriptIR([]byte("3456"), a, []byte("2345"), b),
		field(t, ir, "transcript_ir(b'3456',b'PartyA',b'2345',b'PartyB')"))
	equal(t, "transcript_oc(123,PartyA,234,PartyB)", transcriptOC([]byte("123"), a, []byte("234"), b),
		field(t, oc, "transcript_oc(b'123',b'PartyA',b'234',b'PartyB')"))
	equal(t, "transcript_oc(3456,PartyA,2345,PartyB)", transcriptOC([]byte("3456"), a, []byte("2345"), b),
		field(t, oc, "transcript_oc(b'3456',b'PartyA',b'2345',b'PartyB')"))
}

func TestVectors_Ristretto255Generator(t *testing.T) {
	v := embeddedVectors(t)["ristretto255_generator"]
	var sIn, zpad int
	if err := json.Unmarshal(v["H.s_in_bytes"], &sIn); err != nil || sIn != hashBlockSize {
		t.Fatalf("H.s_in_bytes = %d (%v), want %d", sIn, err, hashBlockSize)
	}
	if err := json.Unmarshal(v["ZPAD length"], &zpad); err != nil {
		t.Fatal(err)
	}
	dsi, prs, ci, sid := field(t, v, "DSI"), field(t, v, "PRS"), field(t, v, "CI"), field(t, v, "sid")
	equal(t, "DSI", []byte(DSI), dsi)
	if got := hashBlockSize - 1 - lvLen(prs) - lvLen(dsi); got != zpad {
		t.Errorf("len_zpad = %d, want %d", got, zpad)
	}
	gs := generatorString(dsi, prs, ci, sid, sIn)
	equal(t, "generator_string", gs, field(t, v, "generator_string(G.DSI,PRS,CI,sid,H.s_in_bytes)"))
	h := sha512Sum(gs)
	equal(t, "hash result", h, field(t, v, "hash result"))
	g := calculateGenerator(prs, ci, sid).Encode(nil)
	equal(t, "encoded generator g", g, field(t, v, "encoded generator g"))

	// testvectors.json repeats g for the same inputs.
	s, _ := ristrettoVectors(t)
	equal(t, "G_Coffee25519.g", calculateGenerator(s.PRS, s.CI, s.Sid).Encode(nil), s.G)
}

// TestVectors_Ristretto255Run drives the public API with the draft's fixed
// scalars (fed through sample_scalar) and checks every value of the run.
func TestVectors_Ristretto255Run(t *testing.T) {
	v, _ := ristrettoVectors(t)

	// Intermediates the draft prints as text in "Test vector for ISK
	// calculation initiator/responder" and "... parallel execution".
	dsiISK := mustHex(t, "435061636552697374726574746f3235355f49534b")
	trIR := mustHex(t, `20d6bac480f2c386c394efc7c47adb9925dcd2630b64f240c50f8d0e
      ec482b915703414461203ea7e0b19560d7c0b0f5734f63b955286dfa
      8232b5ebe63324e2d9e7433f725803414462`)
	trOC := mustHex(t, `6f6320d6bac480f2c386c394efc7c47adb9925dcd2630b64f240c50f
      8d0eec482b915703414461203ea7e0b19560d7c0b0f5734f63b95528
      6dfa8232b5ebe63324e2d9e7433f725803414462`)
	hashInIR := mustHex(t, `15435061636552697374726574746f3235355f49534b107e4b4791d6
      a8ef019b936c79fb7f2c572080b69a8a76457ab6a4d7f887a4bf6b55
      a2f80ac19c333f917a05fc9887c8b40f20d6bac480f2c386c394efc7
      c47adb9925dcd2630b64f240c50f8d0eec482b915703414461203ea7
      e0b19560d7c0b0f5734f63b955286dfa8232b5ebe63324e2d9e7433f
      725803414462`)
	hashInOC := mustHex(t, `15435061636552697374726574746f3235355f49534b107e4b4791d6
      a8ef019b936c79fb7f2c572080b69a8a76457ab6a4d7f887a4bf6b55
      a2f80ac19c333f917a05fc9887c8b40f6f6320d6bac480f2c386c394
      efc7c47adb9925dcd2630b64f240c50f8d0eec482b91570341446120
      3ea7e0b19560d7c0b0f5734f63b955286dfa8232b5ebe63324e2d9e7
      433f725803414462`)

	equal(t, "G.DSI_ISK", []byte(DSI+"_ISK"), dsiISK)

	// Message encoding and the secret points K.
	ya, yb := scalar(t, v.Ya), scalar(t, v.Yb)
	g := calculateGenerator(v.PRS, v.CI, v.Sid)
	equal(t, "Ya", scalarMult(ya, g), v.YaEnc)
	equal(t, "Yb", scalarMult(yb, g), v.YbEnc)
	equal(t, "scalar_mult_vfy(ya,Yb)", scalarMultVfy(ya, v.YbEnc), v.K)
	equal(t, "scalar_mult_vfy(yb,Ya)", scalarMultVfy(yb, v.YaEnc), v.K)

	equal(t, "transcript_ir(Ya,ADa,Yb,ADb)", transcriptIR(v.YaEnc, v.ADa, v.YbEnc, v.ADb), trIR)
	equal(t, "transcript_oc(Ya,ADa,Yb,ADb)", transcriptOC(v.YaEnc, v.ADa, v.YbEnc, v.ADb), trOC)
	equal(t, "lv_cat(DSI,sid,K)||transcript_ir", append(LVCat(dsiISK, v.Sid, v.K), trIR...), hashInIR)
	equal(t, "lv_cat(DSI,sid,K)||transcript_oc", append(LVCat(dsiISK, v.Sid, v.K), trOC...), hashInOC)
	equal(t, "ISK_IR (deriveISK)", deriveISK(v.Sid, v.K, trIR), v.ISKIR)
	equal(t, "ISK_SY (deriveISK)", deriveISK(v.Sid, v.K, trOC), v.ISKSY)
	equal(t, "sid_output_ir", sidOutput(trIR), v.SidOutputIR)
	equal(t, "sid_output_oc", sidOutput(trOC), v.SidOutputOC)

	// The same values through Start/Finish, initiator-responder and symmetric.
	for _, tc := range []struct {
		name   string
		ra, rb Role
		isk    []byte
		sidOut []byte
	}{
		{"initiator-responder", Initiator, Responder, v.ISKIR, v.SidOutputIR},
		{"symmetric", Symmetric, Symmetric, v.ISKSY, v.SidOutputOC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, msgA, err := start(tc.ra, v.PRS, v.CI, v.Sid, v.ADa, bytes.NewReader(v.Ya))
			if err != nil {
				t.Fatal(err)
			}
			b, msgB, err := start(tc.rb, v.PRS, v.CI, v.Sid, v.ADb, bytes.NewReader(v.Yb))
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "message A = lv_cat(Ya,ADa)", msgA, LVCat(v.YaEnc, v.ADa))
			equal(t, "message B = lv_cat(Yb,ADb)", msgB, LVCat(v.YbEnc, v.ADb))
			iskB, err := b.Finish(msgA)
			if err != nil {
				t.Fatal(err)
			}
			iskA, err := a.Finish(msgB)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "ISK at A", iskA, tc.isk)
			equal(t, "ISK at B", iskB, tc.isk)
			equal(t, "PeerAD at A", a.PeerAD(), v.ADb)
			equal(t, "PeerAD at B", b.PeerAD(), v.ADa)
			for _, p := range []*Party{a, b} {
				got, err := p.SessionIDOutput()
				if err != nil {
					t.Fatal(err)
				}
				equal(t, "sid_output", got, tc.sidOut)
			}
		})
	}
}

func TestVectors_Ristretto255ScalarMult(t *testing.T) {
	_, pv := ristrettoVectors(t)
	valid := pv.Valid
	s := scalar(t, valid["s"])
	x := ristretto255.NewElement()
	if err := x.Decode(valid["X"]); err != nil {
		t.Fatal(err)
	}
	equal(t, "G.scalar_mult(s,decode(X))", scalarMult(s, x), valid["G.scalar_mult(s,decode(X))"])
	equal(t, "G.scalar_mult_vfy(s,X)", scalarMultVfy(s, valid["X"]), valid["G.scalar_mult_vfy(s,X)"])
	equal(t, "G.scalar_mult_vfy(s,Y_i1)", scalarMultVfy(s, pv.InvalidY1), identity[:])
	equal(t, "G.scalar_mult_vfy(s,Y_i2)", scalarMultVfy(s, pv.InvalidY2), identity[:])
}

// TestVectors_InvalidPointsAbort puts Y_i1 (not a valid encoding) and Y_i2
// (= G.I) into the peer's message, as the draft's "Implementation
// verification" section asks, and expects both roles to abort.
func TestVectors_InvalidPointsAbort(t *testing.T) {
	v, pv := ristrettoVectors(t)
	for name, bad := range map[string][]byte{"Invalid Y1": pv.InvalidY1, "Invalid Y2": pv.InvalidY2} {
		for _, role := range []Role{Initiator, Responder, Symmetric} {
			p, _, err := Start(role, v.PRS, v.CI, v.Sid, v.ADa)
			if err != nil {
				t.Fatal(err)
			}
			isk, err := p.Finish(LVCat(bad, v.ADb))
			if err != ErrInvalidPeerElement || isk != nil {
				t.Errorf("%s, role %d: Finish = %x, %v; want abort with ErrInvalidPeerElement", name, role, isk, err)
			}
			if _, err := p.ConfirmationTag(); err != ErrState {
				t.Errorf("%s: confirmation available after abort", name)
			}
		}
	}
}

func scalar(t *testing.T, b []byte) *ristretto255.Scalar {
	t.Helper()
	s, err := sampleScalar(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var enc [32]byte
	if !bytes.Equal(s.Encode(enc[:0]), b) {
		t.Fatalf("vector scalar %x has bits above 252 set; sample_scalar would clear them", b)
	}
	return s
}

func sha512Sum(b []byte) []byte {
	h := sha512.Sum512(b)
	return h[:]
}
