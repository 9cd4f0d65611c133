// Package cpace implements the balanced PAKE CPace as specified by the CFRG
// draft "CPace, a balanced composable PAKE" (draft-irtf-cfrg-cpace, source
// of the editor's copy at commit 8fb4056e1b9201927d9f651b9970d9d5660c7892,
// 2026-04-23), for the cipher suite CPACE-RISTR255-SHA512: the group
// abstraction ristretto255 (RFC 9496, section "CPace group objects
// G_Ristretto255 and G_Decaf448") with SHA-512 as H.
//
// Two parties that share a low-entropy password-related string (PRS) each
// send one message and derive the same intermediate session key (ISK) if and
// only if PRS, CI, sid and both messages agree. An active attacker gets one
// password guess per protocol run; a passive one (or a relay) learns nothing
// it can test a password against.
//
// Beyond the draft's core protocol the package offers the explicit key
// confirmation the draft recommends in its section "Key confirmation", and
// fixes the one thing the draft leaves to the application: the framing of a
// message on the wire, which is lv_cat(Y, AD) — the same byte string the
// draft hashes into the transcript and MACs for confirmation.
package cpace

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"io"

	"github.com/gtank/ristretto255"
)

// Suite constants of CPACE-RISTR255-SHA512.
const (
	// DSI is G_Ristretto255.DSI.
	DSI = "CPaceRistretto255"
	// hashBlockSize is H.s_in_bytes for SHA-512.
	hashBlockSize = 128
	// ElementSize is the length of an encoded ristretto255 element
	// (G_Ristretto255.field_size_bytes), hence of Ya and Yb.
	ElementSize = 32
	// ISKSize is the length of the ISK: H.b_in_bytes of SHA-512.
	ISKSize = sha512.Size
	// TagSize is the length of a key-confirmation tag (HMAC-SHA-512).
	TagSize = sha512.Size
)

// identity is G.I, the public encoding of the neutral element.
var identity [ElementSize]byte

// Errors. They name the step that failed and never say why a MAC differs.
var (
	ErrInvalidPeerElement = errors.New("cpace: peer element is invalid or the neutral element; abort")
	ErrReflected          = errors.New("cpace: peer message equals our own message (reflection); abort")
	ErrConfirmation       = errors.New("cpace: key confirmation failed: wrong password or tampered messages")
	ErrState              = errors.New("cpace: party used out of order or after it finished")
)

// Role selects how the transcript orders the two messages (draft section
// "Notation for string operations", transcript): Initiator and Responder use
// transcript_ir with the initiator's message first; Symmetric uses
// transcript_oc for applications where either side may speak first.
type Role int

const (
	Initiator Role = iota + 1 // party A
	Responder                 // party B
	Symmetric                 // parallel setting, no fixed order
)

func (r Role) valid() bool { return r == Initiator || r == Responder || r == Symmetric }

// calculateGenerator is G.calculate_generator(H,PRS,CI,sid) for
// ristretto255: hash generator_string to 2*field_size_bytes = 64 bytes with
// SHA-512 and apply the RFC 9496 element derivation (one-way map).
func calculateGenerator(prs, ci, sid []byte) *ristretto255.Element {
	h := sha512.Sum512(generatorString([]byte(DSI), prs, ci, sid, hashBlockSize))
	return ristretto255.NewElement().FromUniformBytes(h[:])
}

// sampleScalar is the draft's recommended G.sample_scalar(): 32 random
// bytes with the bits above group_size_bits = 252 cleared, read as a
// little-endian integer. The result is below 2^252 < group_order and hence
// a canonical scalar encoding.
func sampleScalar(r io.Reader) (*ristretto255.Scalar, error) {
	var b [32]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, err
	}
	b[31] &= 0x0f
	s := ristretto255.NewScalar()
	if err := s.Decode(b[:]); err != nil { // unreachable: b < 2^252
		return nil, err
	}
	return s, nil
}

// scalarMult is G.scalar_mult(y, _g) = encode(y * _g).
func scalarMult(y *ristretto255.Scalar, g *ristretto255.Element) []byte {
	return ristretto255.NewElement().ScalarMult(y, g).Encode(make([]byte, 0, ElementSize))
}

// scalarMultVfy is G.scalar_mult_vfy(y, X): G.I if X does not decode,
// otherwise encode(y * decode(X)). The caller aborts on G.I.
func scalarMultVfy(y *ristretto255.Scalar, x []byte) []byte {
	p := ristretto255.NewElement()
	if err := p.Decode(x); err != nil {
		return identity[:]
	}
	return scalarMult(y, p)
}

// isIdentity compares an encoding with G.I in constant time: K is secret.
func isIdentity(k []byte) bool {
	return subtle.ConstantTimeCompare(k, identity[:]) == 1
}

// Party is one side of a CPace run. It is single-use: Start, then Finish
// once, then optionally the confirmation methods.
type Party struct {
	role Role
	sid  []byte
	y    *ristretto255.Scalar
	own  []byte // own Y
	ad   []byte // own AD

	peer   []byte // peer Y, after Finish
	peerAD []byte
	isk    []byte
	macKey []byte
	done   bool // Finish was called (successfully or not)
}

// Start computes the generator from PRS, CI and sid, samples the secret
// scalar and returns the party and its message lv_cat(Y, AD) to send to
// the peer. ad is sent in clear and authenticated by the run.
func Start(role Role, prs, ci, sid, ad []byte) (*Party, []byte, error) {
	return start(role, prs, ci, sid, ad, rand.Reader)
}

func start(role Role, prs, ci, sid, ad []byte, r io.Reader) (*Party, []byte, error) {
	if !role.valid() {
		return nil, nil, errors.New("cpace: unknown role; use Initiator, Responder or Symmetric")
	}
	if len(ad) > maxFieldLen {
		return nil, nil, errors.New("cpace: associated data longer than 1 MiB")
	}
	y, err := sampleScalar(r)
	if err != nil {
		return nil, nil, errors.Join(errors.New("cpace: sampling the secret scalar"), err)
	}
	p := &Party{
		role: role,
		sid:  append([]byte(nil), sid...),
		y:    y,
		ad:   append([]byte(nil), ad...),
	}
	p.own = scalarMult(y, calculateGenerator(prs, ci, sid))
	return p, LVCat(p.own, p.ad), nil
}

// parseMessage splits a wire message lv_cat(Y, AD) into Y and AD. It
// accepts only the encoding LVCat produces, with nothing after it.
func parseMessage(msg []byte) (y, ad []byte, err error) {
	y, rest, err := readLV(msg)
	if err != nil {
		return nil, nil, err
	}
	ad, rest, err = readLV(rest)
	if err != nil {
		return nil, nil, err
	}
	if len(rest) != 0 || len(y) != ElementSize {
		return nil, nil, errMalformed
	}
	return y, ad, nil
}

// Finish processes the peer's message and returns ISK (draft section
// "CPace protocol instructions"): K = scalar_mult_vfy(y, Y_peer), abort if
// K = G.I, else ISK = H(lv_cat(DSI||"_ISK", sid, K) || transcript). The
// caller must check PeerAD when the application puts identities in AD.
//
// In addition to the draft, Finish refuses a peer Y equal to its own: such
// a message can only be our own reflected back, and with it the peer's
// confirmation tag would equal ours (draft section "Rationale for the above
// guidance" on loopback attacks).
func (p *Party) Finish(peerMsg []byte) ([]byte, error) {
	if p == nil || p.done {
		return nil, ErrState
	}
	p.done = true
	defer func() { p.y = nil }() // scalars MUST NOT be reused (section "Nonce values")

	peerY, peerAD, err := parseMessage(peerMsg)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(peerY, p.own) == 1 {
		return nil, ErrReflected
	}
	k := scalarMultVfy(p.y, peerY)
	if isIdentity(k) {
		return nil, ErrInvalidPeerElement
	}
	p.peer = append([]byte(nil), peerY...)
	p.peerAD = append([]byte(nil), peerAD...)
	p.isk = deriveISK(p.sid, k, p.transcript())
	p.macKey = macKey(p.sid, p.isk)
	return append([]byte(nil), p.isk...), nil
}

// transcript orders the messages as the role requires.
func (p *Party) transcript() []byte {
	switch p.role {
	case Initiator:
		return transcriptIR(p.own, p.ad, p.peer, p.peerAD)
	case Responder:
		return transcriptIR(p.peer, p.peerAD, p.own, p.ad)
	default:
		return transcriptOC(p.own, p.ad, p.peer, p.peerAD)
	}
}

// deriveISK is ISK = H.hash(lv_cat(G.DSI || b"_ISK", sid, K) || transcript).
func deriveISK(sid, k, transcript []byte) []byte {
	h := sha512.New()
	h.Write(LVCat([]byte(DSI+"_ISK"), sid, k))
	h.Write(transcript)
	return h.Sum(nil)
}

// PeerAD returns the associated data the peer sent, once Finish succeeded.
func (p *Party) PeerAD() []byte { return append([]byte(nil), p.peerAD...) }

// SessionIDOutput is the draft's optional sid_output =
// H.hash(b"CPaceSidOutput" || transcript) (section "Calculating a session
// identifier alongside with the CPace run"), for runs started without sid.
func (p *Party) SessionIDOutput() ([]byte, error) {
	if p.isk == nil {
		return nil, ErrState
	}
	return sidOutput(p.transcript()), nil
}

func sidOutput(transcript []byte) []byte {
	h := sha512.New()
	h.Write([]byte("CPaceSidOutput"))
	h.Write(transcript)
	return h.Sum(nil)
}

// Explicit key confirmation, draft section "Key confirmation": mac_key =
// H.hash(b"CPaceMac" || sid || ISK); each party sends
// MAC(mac_key, lv_cat(Y, AD)) over the message it sent, and checks the
// peer's tag over the message it received. The draft names HMAC as a
// suitable MAC; this package uses HMAC-SHA-512, matching H. The draft gives
// no test vectors for this step.

func macKey(sid, isk []byte) []byte {
	h := sha512.New()
	h.Write([]byte("CPaceMac"))
	h.Write(sid)
	h.Write(isk)
	return h.Sum(nil)
}

func tag(key, y, ad []byte) []byte {
	m := hmac.New(sha512.New, key)
	m.Write(LVCat(y, ad))
	return m.Sum(nil)
}

// ConfirmationTag returns this party's tag, MAC(mac_key, lv_cat(Y, AD)) over
// its own message, to send after Finish.
func (p *Party) ConfirmationTag() ([]byte, error) {
	if p.macKey == nil {
		return nil, ErrState
	}
	return tag(p.macKey, p.own, p.ad), nil
}

// VerifyConfirmation checks the peer's tag in constant time. On failure
// the caller must abort and discard ISK: the peer used another password,
// or a message was altered in transit.
func (p *Party) VerifyConfirmation(peerTag []byte) error {
	if p.macKey == nil {
		return ErrState
	}
	if !hmac.Equal(peerTag, tag(p.macKey, p.peer, p.peerAD)) {
		return ErrConfirmation
	}
	return nil
}
