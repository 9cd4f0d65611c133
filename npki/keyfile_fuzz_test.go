package npki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

// FuzzOpenKey feeds arbitrary bytes to OpenKey, which reads a signPri.key
// copied from anywhere. A refusal must never panic and must be one of the
// package's own errors (ErrWrongPassword, ErrUnsupportedAlgorithm, or an
// "npki:" message saying what is malformed); an accepted key must seal and
// open again to the same key.
func FuzzOpenKey(f *testing.F) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	pw := []byte("fuzz-password")
	for _, s := range []Scheme{PBES2AES, PBES2SEED} {
		der, err := (&Key{Signer: k}).Seal(pw, s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
	}
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		key, err := OpenKey(der, pw)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "npki: ") {
				t.Fatalf("refusal is not an npki error: %v", err)
			}
			if errors.Is(err, ErrWrongPassword) && errors.Is(err, ErrUnsupportedAlgorithm) {
				t.Fatalf("refusal is both a wrong password and an unsupported algorithm: %v", err)
			}
			return
		}
		again, err := key.Seal(pw, PBES2AES)
		if err != nil {
			t.Fatalf("an opened key does not seal again: %v", err)
		}
		back, err := OpenKey(again, pw)
		if err != nil {
			t.Fatalf("a sealed key does not open again: %v", err)
		}
		pub, ok := key.Signer.Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(back.Signer.Public()) {
			t.Fatalf("the key changed on a round trip")
		}
	})
}
