// Package devicecopy is the cryptographic protocol two devices run to copy
// a joint certificate from one to the other through Signet's relay, which
// they do not trust. The sending device shows a 6-digit code; the person
// types it on the receiving device. The code is the CPace password
// (package cpace, CPACE-RISTR255-SHA512), so the relay can neither read the
// package nor test codes offline; see SECURITY.md.
//
// Three messages, each carried by the relay under the session id it
// assigned (no networking lives here):
//
//	sender → receiver  offer  = CPace message A: lv_cat(Ya, ADa)
//	receiver → sender  reply  = Tb || CPace message B: lv_cat(Yb, ADb)
//	sender → receiver  sealed = Ta || nonce || AES-256-GCM(package)
//
// The sender seals only after Tb has verified, so a receiver holding the
// wrong code learns nothing of the package; the receiver opens only after
// Ta has verified. Either side that fails is finished: the person starts a
// new session with a new code.
package devicecopy

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"fmt"

	"github.com/signet-ca/signet/cpace"
)

// protocolLabel versions every input that binds the run: CPace's CI and
// AD, the HKDF info and the AEAD associated data.
const protocolLabel = "signet-devicecopy/1"

// Party identities for CPace. Both roles are fixed and known to both sides
// at the start, so they go into CI, initiator first (draft-irtf-cfrg-cpace,
// "Guidance regarding party identifier integration"); AD repeats them in
// clear so a version or role mismatch is reported as such.
var (
	channelID  = cpace.LVCat([]byte(protocolLabel), []byte("sender"), []byte("receiver"))
	senderAD   = []byte(protocolLabel + " sender")
	receiverAD = []byte(protocolLabel + " receiver")
)

const (
	maxSessionID = 256
	nonceSize    = 12
	keySize      = 32
)

// Errors a caller shows the person. ErrConfirmation deliberately does not
// say whether the code was mistyped or the relay interfered: from the
// device's view the two are the same event.
var (
	ErrConfirmation = errors.New("devicecopy: the code did not match or a message was altered; start again with a new code")
	ErrPeerVersion  = errors.New("devicecopy: the other device speaks another copy protocol version or role, or the relay altered its message; update the app and start again")
	ErrSealed       = errors.New("devicecopy: the sealed package failed to open; start again with a new code")
	ErrUsed         = errors.New("devicecopy: this session has already finished or failed; start a new one")
)

func checkInputs(code Code, sessionID []byte) error {
	if !code.valid() {
		return errCodeFormat
	}
	if len(sessionID) == 0 || len(sessionID) > maxSessionID {
		return errors.New("devicecopy: the relay's session id must be 1 to 256 bytes")
	}
	return nil
}

// Sender is the device that holds the certificate and shows the code.
type Sender struct {
	sid   []byte
	party *cpace.Party
	offer []byte
	used  bool
}

// Offer starts the sending side: it returns the sender and the offer
// message to post to the relay session sessionID.
func Offer(code Code, sessionID []byte) (*Sender, []byte, error) {
	if err := checkInputs(code, sessionID); err != nil {
		return nil, nil, err
	}
	p, msg, err := cpace.Start(cpace.Initiator, []byte(code), channelID, sessionID, senderAD)
	if err != nil {
		return nil, nil, err
	}
	return &Sender{sid: append([]byte(nil), sessionID...), party: p, offer: msg}, msg, nil
}

// Seal checks the receiver's reply and, only if its key confirmation
// verifies, returns the sealed message carrying pkg. A Sender seals once.
func (s *Sender) Seal(reply []byte, pkg *Package) ([]byte, error) {
	if s == nil || s.used {
		return nil, ErrUsed
	}
	if err := pkg.Validate(); err != nil {
		return nil, err
	}
	s.used = true
	key, tagA, err := s.confirm(reply)
	if err != nil {
		return nil, err
	}
	return seal(key, tagA, pkg)
}

// confirm finishes CPace on the reply, verifies Tb and returns the
// session's package key and this side's tag Ta.
func (s *Sender) confirm(reply []byte) (*sessionKey, []byte, error) {
	if len(reply) < cpace.TagSize {
		return nil, nil, ErrConfirmation
	}
	tagB, msgB := reply[:cpace.TagSize], reply[cpace.TagSize:]
	isk, err := s.party.Finish(msgB)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (%w)", ErrConfirmation, err)
	}
	if !bytes.Equal(s.party.PeerAD(), receiverAD) {
		return nil, nil, ErrPeerVersion
	}
	if err := s.party.VerifyConfirmation(tagB); err != nil {
		return nil, nil, ErrConfirmation
	}
	tagA, err := s.party.ConfirmationTag()
	if err != nil {
		return nil, nil, err
	}
	key, err := deriveKey(isk, s.sid, s.offer, msgB)
	return key, tagA, err
}

// Receiver is the device the person types the code into.
type Receiver struct {
	party *cpace.Party
	key   *sessionKey
	used  bool
}

// Accept starts the receiving side on the sender's offer: it returns the
// receiver and the reply to post to the relay.
func Accept(code Code, sessionID, offer []byte) (*Receiver, []byte, error) {
	if err := checkInputs(code, sessionID); err != nil {
		return nil, nil, err
	}
	p, msgB, err := cpace.Start(cpace.Responder, []byte(code), channelID, sessionID, receiverAD)
	if err != nil {
		return nil, nil, err
	}
	isk, err := p.Finish(offer)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (%w)", ErrConfirmation, err)
	}
	if !bytes.Equal(p.PeerAD(), senderAD) {
		return nil, nil, ErrPeerVersion
	}
	tagB, err := p.ConfirmationTag()
	if err != nil {
		return nil, nil, err
	}
	key, err := deriveKey(isk, sessionID, offer, msgB)
	if err != nil {
		return nil, nil, err
	}
	r := &Receiver{party: p, key: key}
	return r, append(tagB, msgB...), nil
}

// Open verifies the sender's key confirmation Ta, then decrypts and
// decodes the package. A Receiver opens once, whatever the outcome.
func (r *Receiver) Open(sealed []byte) (*Package, error) {
	if r == nil || r.used {
		return nil, ErrUsed
	}
	r.used = true
	if len(sealed) < cpace.TagSize+nonceSize {
		return nil, ErrConfirmation
	}
	if err := r.party.VerifyConfirmation(sealed[:cpace.TagSize]); err != nil {
		return nil, ErrConfirmation
	}
	return open(r.key, sealed[cpace.TagSize:])
}

// sessionKey is the AEAD and its associated data for one session.
type sessionKey struct {
	aead cipher.AEAD
	ad   []byte
}

// deriveKey turns ISK into the package key with HKDF-SHA-512, as the draft
// recommends before using ISK in a higher-level protocol (section "Key
// derivation"). The associated data binds the session id and both CPace
// messages as sent on the wire.
func deriveKey(isk, sid, msgA, msgB []byte) (*sessionKey, error) {
	k, err := hkdf.Key(sha512.New, isk, sid, protocolLabel+" package key AES-256-GCM", keySize)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sessionKey{aead: aead, ad: cpace.LVCat([]byte(protocolLabel), sid, msgA, msgB)}, nil
}

// seal returns prefix || nonce || ciphertext. The key is fresh per
// session and used for one message; the nonce is random all the same.
func seal(k *sessionKey, prefix []byte, pkg *Package) ([]byte, error) {
	plain := pkg.marshal()
	out := make([]byte, len(prefix)+nonceSize, len(prefix)+nonceSize+len(plain)+k.aead.Overhead())
	copy(out, prefix)
	nonce := out[len(prefix):]
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return k.aead.Seal(out, nonce, plain, k.ad), nil
}

func open(k *sessionKey, box []byte) (*Package, error) {
	if len(box) < nonceSize {
		return nil, ErrSealed
	}
	plain, err := k.aead.Open(nil, box[:nonceSize], box[nonceSize:], k.ad)
	if err != nil {
		return nil, ErrSealed
	}
	return unmarshalPackage(plain)
}
