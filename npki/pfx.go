package npki

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
	"unicode/utf16"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// A PKCS#12 writer of our own, because the key bag must hold the PKCS#8
// with its attributes: the randomNum that the certificate's VID is made
// from travels with the key, or the holder can no longer prove identity
// after an import. go-pkcs12 encodes the bare key. The layout is RFC 7292's
// and what OpenSSL 3 writes by default, except that the certificates are
// not encrypted (they are public):
//
//	PFX { 3, data(AuthenticatedSafe), MacData(HMAC-SHA256, PKCS#12 KDF) }
//	AuthenticatedSafe { data(SafeContents{ pkcs8ShroudedKeyBag }),
//	                    data(SafeContents{ certBag... }) }
//
// The key bag is the same PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) as
// signPri.key, with the password as UTF-8, as OpenSSL does for PBES2.

var (
	oidData                = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidShroudedKeyBag      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidCertBag             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}
	oidX509CertificateType = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}
	oidLocalKeyID          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 21}
	oidSHA256              = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
)

// EncodePFX writes the key, with its randomNum, the certificate and its
// chain as a PKCS#12 file under password, with iterations rounds of PBKDF2
// for the key and of the PKCS#12 KDF for the MAC.
func (k *Key) EncodePFX(cert *x509.Certificate, chain []*x509.Certificate, password []byte, iterations int) ([]byte, error) {
	if k == nil || k.Signer == nil || cert == nil {
		return nil, errors.New("npki: a PKCS#12 file needs a key and its certificate")
	}
	if iterations < 1 {
		return nil, errors.New("npki: PKCS#12 iterations must be positive")
	}
	shrouded, err := k.sealWith(password, iterations)
	if err != nil {
		return nil, err
	}
	keyID := sha1.Sum(cert.Raw)
	localKeyID := func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SET, func(attrs *cryptobyte.Builder) {
			attrs.AddASN1(cbasn1.SEQUENCE, func(a *cryptobyte.Builder) {
				a.AddASN1ObjectIdentifier(oidLocalKeyID)
				a.AddASN1(cbasn1.SET, func(v *cryptobyte.Builder) { v.AddASN1OctetString(keyID[:]) })
			})
		})
	}
	var keys cryptobyte.Builder
	keys.AddASN1(cbasn1.SEQUENCE, func(bags *cryptobyte.Builder) {
		bags.AddASN1(cbasn1.SEQUENCE, func(bag *cryptobyte.Builder) {
			bag.AddASN1ObjectIdentifier(oidShroudedKeyBag)
			bag.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(v *cryptobyte.Builder) { v.AddBytes(shrouded) })
			localKeyID(bag)
		})
	})
	var certs cryptobyte.Builder
	certs.AddASN1(cbasn1.SEQUENCE, func(bags *cryptobyte.Builder) {
		for i, c := range append([]*x509.Certificate{cert}, chain...) {
			bags.AddASN1(cbasn1.SEQUENCE, func(bag *cryptobyte.Builder) {
				bag.AddASN1ObjectIdentifier(oidCertBag)
				bag.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(v *cryptobyte.Builder) {
					v.AddASN1(cbasn1.SEQUENCE, func(cb *cryptobyte.Builder) {
						cb.AddASN1ObjectIdentifier(oidX509CertificateType)
						cb.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(x *cryptobyte.Builder) { x.AddASN1OctetString(c.Raw) })
					})
				})
				if i == 0 {
					localKeyID(bag)
				}
			})
		}
	})
	keysDER, err := keys.Bytes()
	if err != nil {
		return nil, err
	}
	certsDER, err := certs.Bytes()
	if err != nil {
		return nil, err
	}
	var safe cryptobyte.Builder
	safe.AddASN1(cbasn1.SEQUENCE, func(s *cryptobyte.Builder) {
		for _, content := range [][]byte{keysDER, certsDER} {
			addData(s, content)
		}
	})
	authSafe, err := safe.Bytes()
	if err != nil {
		return nil, err
	}

	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("npki: reading random salt: %w", err)
	}
	macKey := pkcs12KDF(sha256.New, 64, bmpPassword(password), salt, iterations, 3, sha256.Size)
	mac := hmac.New(sha256.New, macKey)
	mac.Write(authSafe)

	var pfx cryptobyte.Builder
	pfx.AddASN1(cbasn1.SEQUENCE, func(p *cryptobyte.Builder) {
		p.AddASN1Int64(3)
		addData(p, authSafe)
		p.AddASN1(cbasn1.SEQUENCE, func(md *cryptobyte.Builder) { // MacData
			md.AddASN1(cbasn1.SEQUENCE, func(di *cryptobyte.Builder) { // DigestInfo
				di.AddASN1(cbasn1.SEQUENCE, func(alg *cryptobyte.Builder) {
					alg.AddASN1ObjectIdentifier(oidSHA256)
					alg.AddASN1NULL()
				})
				di.AddASN1OctetString(mac.Sum(nil))
			})
			md.AddASN1OctetString(salt)
			md.AddASN1Int64(int64(iterations))
		})
	})
	return pfx.Bytes()
}

// sealWith is Seal's default scheme with the caller's iteration count.
func (k *Key) sealWith(password []byte, rounds int) ([]byte, error) {
	plain, err := k.marshalPKCS8()
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return sealPBES2(plain, password, rounds, oidHMACWithSHA256, sha256.New, oidAES256CBC, aesKeyLen, true, newAES)
}

// addData appends ContentInfo { data, [0] EXPLICIT OCTET STRING content }.
func addData(b *cryptobyte.Builder, content []byte) {
	b.AddASN1(cbasn1.SEQUENCE, func(ci *cryptobyte.Builder) {
		ci.AddASN1ObjectIdentifier(oidData)
		ci.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(x *cryptobyte.Builder) { x.AddASN1OctetString(content) })
	})
}

// bmpPassword is the password as the PKCS#12 KDF wants it: UTF-16 big
// endian with a two-byte NUL terminator (RFC 7292 Appendix B.1).
func bmpPassword(password []byte) []byte {
	s := string(password)
	out := make([]byte, 0, 2*len(s)+2)
	for _, r := range utf16.Encode([]rune(s)) {
		out = append(out, byte(r>>8), byte(r))
	}
	return append(out, 0, 0)
}

// pkcs12KDF is RFC 7292 Appendix B.2 with hash h of block size v bytes.
func pkcs12KDF(h func() hash.Hash, v int, password, salt []byte, rounds int, id byte, n int) []byte {
	u := h().Size()
	fill := func(src []byte) []byte {
		if len(src) == 0 {
			return nil
		}
		out := make([]byte, v*((len(src)+v-1)/v))
		for i := range out {
			out[i] = src[i%len(src)]
		}
		return out
	}
	D := make([]byte, v)
	for i := range D {
		D[i] = id
	}
	I := append(fill(salt), fill(password)...)
	var out []byte
	for len(out) < n {
		d := h()
		d.Write(D)
		d.Write(I)
		A := d.Sum(nil)
		for r := 1; r < rounds; r++ {
			d.Reset()
			d.Write(A)
			A = d.Sum(A[:0])
		}
		out = append(out, A...)
		if len(out) >= n {
			break
		}
		B := make([]byte, v)
		for i := range B {
			B[i] = A[i%u]
		}
		// I_j = (I_j + B + 1) mod 2^(8v), for each v-byte block.
		for j := 0; j < len(I); j += v {
			carry := 1
			for i := v - 1; i >= 0; i-- {
				x := int(I[j+i]) + int(B[i]) + carry
				I[j+i] = byte(x)
				carry = x >> 8
			}
		}
	}
	return out[:n]
}

// PFXRandomNum reads the randomNum of the key in a PKCS#12 file: the first
// pkcs8ShroudedKeyBag in a plain data SafeContents, opened with OpenKey. It
// returns nil and no error when the key has none. It does not check the
// MAC: decode the file with a full PKCS#12 reader first.
func PFXRandomNum(pfx, password []byte) ([]byte, error) {
	bad := errors.New("npki: not a PKCS#12 file")
	in := cryptobyte.String(pfx)
	var p cryptobyte.String
	var version int64
	if !in.ReadASN1(&p, cbasn1.SEQUENCE) || !p.ReadASN1Int64WithTag(&version, cbasn1.INTEGER) || version != 3 {
		return nil, bad
	}
	authSafe, ok := readData(&p)
	if !ok {
		return nil, bad
	}
	var infos cryptobyte.String
	if !authSafe.ReadASN1(&infos, cbasn1.SEQUENCE) {
		return nil, bad
	}
	for !infos.Empty() {
		var ci cryptobyte.String
		if !infos.ReadASN1Element(&ci, cbasn1.SEQUENCE) {
			return nil, bad
		}
		contents, ok := readData(&ci)
		if !ok {
			continue // encryptedData: certificates, in what other software writes
		}
		var bags cryptobyte.String
		if !contents.ReadASN1(&bags, cbasn1.SEQUENCE) {
			return nil, bad
		}
		for !bags.Empty() {
			var bag, value cryptobyte.String
			var id asn1.ObjectIdentifier
			if !bags.ReadASN1(&bag, cbasn1.SEQUENCE) || !bag.ReadASN1ObjectIdentifier(&id) ||
				!bag.ReadASN1(&value, cbasn1.Tag(0).Constructed().ContextSpecific()) {
				return nil, bad
			}
			if !id.Equal(oidShroudedKeyBag) {
				continue
			}
			k, err := OpenKey(value, password)
			if err != nil {
				return nil, err
			}
			return k.RandomNum, nil
		}
	}
	return nil, nil
}

// readData reads ContentInfo { data, [0] OCTET STRING } and returns the
// content; ok is false for another content type.
func readData(s *cryptobyte.String) (cryptobyte.String, bool) {
	var ci, x cryptobyte.String
	var typ asn1.ObjectIdentifier
	var content []byte
	if !s.ReadASN1(&ci, cbasn1.SEQUENCE) || !ci.ReadASN1ObjectIdentifier(&typ) || !typ.Equal(oidData) ||
		!ci.ReadASN1(&x, cbasn1.Tag(0).Constructed().ContextSpecific()) || !x.ReadASN1Bytes(&content, cbasn1.OCTET_STRING) {
		return nil, false
	}
	return cryptobyte.String(content), true
}
