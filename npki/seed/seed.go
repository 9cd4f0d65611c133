// Package seed implements the SEED block cipher of KISA (RFC 4269), the
// cipher older Korean NPKI software uses to encrypt signPri.key.
//
// SEED is a 16-round Feistel cipher on 128-bit blocks with a 128-bit key.
// NewCipher returns a cipher.Block, so modes come from crypto/cipher (NPKI
// key files use CBC). Like most software SEED, this implementation looks up
// tables indexed by secret data and is therefore not constant-time; it is
// meant for opening and writing key files on the holder's own device, not
// for a service that encrypts attacker-chosen data with a long-lived key.
package seed

import (
	"crypto/cipher"
	"encoding/binary"
	"strconv"
)

// BlockSize is the SEED block size in bytes.
const BlockSize = 16

// KeySize is the SEED key size in bytes (RFC 4269 §1.2: 128-bit keys only).
const KeySize = 16

// KeySizeError reports a key that is not 16 bytes long.
type KeySizeError int

func (k KeySizeError) Error() string {
	return "seed: invalid key size " + strconv.Itoa(int(k)) + " (SEED keys are 16 bytes)"
}

// seedCipher holds the 16 round keys K_{i,0}, K_{i,1} of RFC 4269 §2.4.
type seedCipher struct {
	rk [32]uint32
}

// NewCipher returns a SEED cipher.Block for a 16-byte key.
func NewCipher(key []byte) (cipher.Block, error) {
	if len(key) != KeySize {
		return nil, KeySizeError(len(key))
	}
	c := new(seedCipher)
	c.expandKey(key)
	return c, nil
}

func (c *seedCipher) BlockSize() int { return BlockSize }

func (c *seedCipher) Encrypt(dst, src []byte) {
	checkBlock(dst, src)
	c.crypt(dst, src, false)
}

func (c *seedCipher) Decrypt(dst, src []byte) {
	checkBlock(dst, src)
	c.crypt(dst, src, true)
}

func checkBlock(dst, src []byte) {
	if len(src) < BlockSize {
		panic("seed: input not full block")
	}
	if len(dst) < BlockSize {
		panic("seed: output not full block")
	}
	// dst and src may overlap in any way: crypt reads the whole block
	// before it writes.
}

// kc are the key schedule constants KC_i of RFC 4269 §2.4: the golden ratio
// constant 0x9e3779b9 rotated left by i bits.
var kc = func() (k [16]uint32) {
	for i := range k {
		k[i] = 0x9e3779b9<<i | 0x9e3779b9>>(32-i)
	}
	return k
}()

// expandKey is the key schedule of RFC 4269 §2.4.
func (c *seedCipher) expandKey(key []byte) {
	k0 := binary.BigEndian.Uint32(key[0:])
	k1 := binary.BigEndian.Uint32(key[4:])
	k2 := binary.BigEndian.Uint32(key[8:])
	k3 := binary.BigEndian.Uint32(key[12:])
	for i := 0; i < 16; i++ {
		c.rk[2*i] = g(k0 + k2 - kc[i])
		c.rk[2*i+1] = g(k1 - k3 + kc[i])
		if i%2 == 0 {
			// (K0||K1) rotated right by 8 bits.
			k0, k1 = k0>>8|k1<<24, k1>>8|k0<<24
		} else {
			// (K2||K3) rotated left by 8 bits.
			k2, k3 = k2<<8|k3>>24, k3<<8|k2>>24
		}
	}
}

// crypt runs the 16 Feistel rounds of RFC 4269 §2.1; decryption is the
// same network with the round keys in reverse order.
func (c *seedCipher) crypt(dst, src []byte, decrypt bool) {
	l0 := binary.BigEndian.Uint32(src[0:])
	l1 := binary.BigEndian.Uint32(src[4:])
	r0 := binary.BigEndian.Uint32(src[8:])
	r1 := binary.BigEndian.Uint32(src[12:])
	for i := 0; i < 16; i++ {
		j := i
		if decrypt {
			j = 15 - i
		}
		f0, f1 := round(r0, r1, c.rk[2*j], c.rk[2*j+1])
		l0, l1, r0, r1 = r0, r1, l0^f0, l1^f1
	}
	// The last round does not swap the halves.
	binary.BigEndian.PutUint32(dst[0:], r0)
	binary.BigEndian.PutUint32(dst[4:], r1)
	binary.BigEndian.PutUint32(dst[8:], l0)
	binary.BigEndian.PutUint32(dst[12:], l1)
}

// round is the F function of RFC 4269 §2.2 on the right half (r0, r1) with
// round key (k0, k1): three G layers joined by additions mod 2^32.
func round(r0, r1, k0, k1 uint32) (uint32, uint32) {
	c := r0 ^ k0
	d := r1 ^ k1
	d = g(c ^ d)
	c = g(c + d)
	d = g(d + c)
	c += d
	return c, d
}

// g is the G function of RFC 4269 §2.3, with S-boxes and the byte
// permutation folded into the four SS tables.
func g(x uint32) uint32 {
	return ss[0][byte(x)] ^ ss[1][byte(x>>8)] ^ ss[2][byte(x>>16)] ^ ss[3][byte(x>>24)]
}
