package npki

import (
	"bytes"
	"crypto"
	"crypto/cipher"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"slices"

	"github.com/signet-ca/signet/npki/seed"
)

// Scheme is how a signPri.key is encrypted (DESIGN.md, appendix "Key file
// encryption variants").
type Scheme int

const (
	// PBES2AES is PBES2 with PBKDF2 and AES-CBC. Signet writes it with
	// hmacWithSHA256 and AES-256; it reads any prf and key size in
	// OpenKey's list. The default: stock OpenSSL opens it.
	PBES2AES Scheme = iota + 1
	// PBES2SEED is PBES2 with PBKDF2 and SEED-CBC (1.2.410.200004.1.4),
	// what current Korean software writes. Signet writes it with the
	// hmacWithSHA1 default prf, which every NPKI reader supports; use it
	// only for software that cannot read PBES2AES.
	PBES2SEED
	// SEEDCBCWithSHA1 is seedCBCWithSHA1 (1.2.410.200004.1.15) from older
	// NPKI software: PBKDF1-SHA1 and SEED-CBC. Read only.
	SEEDCBCWithSHA1
	// SEEDCBCFixedIV is the oldest NPKI form: id-seedCBC at the top level,
	// PBKDF1-SHA1 and the fixed IV "0123456789012345". Read only.
	SEEDCBCFixedIV
)

func (s Scheme) String() string {
	switch s {
	case PBES2AES:
		return "PBES2/PBKDF2/AES-CBC"
	case PBES2SEED:
		return "PBES2/PBKDF2/SEED-CBC"
	case SEEDCBCWithSHA1:
		return "seedCBCWithSHA1"
	case SEEDCBCFixedIV:
		return "SEED-CBC with fixed IV"
	}
	return fmt.Sprintf("Scheme(%d)", int(s))
}

func (s Scheme) cipherName() string {
	if s == PBES2AES {
		return "AES-CBC"
	}
	return "SEED-CBC"
}

// oidRandomNum is the PKCS#8 attribute in which NPKI keeps the holder's
// random R for identity checks (DESIGN.md appendix, "Identity extension"):
// Attribute { 1.2.410.200004.10.1.1.3, SET { BIT STRING R } }.
var oidRandomNum = asn1.ObjectIdentifier{1, 2, 410, 200004, 10, 1, 1, 3}

// Key is a decrypted signPri.key.
type Key struct {
	Signer crypto.Signer
	// RandomNum is the holder's random R (20 bytes in real NPKI files)
	// from the randomNum attribute, or nil when the file has none. The VID
	// in the certificate is a hash over R and the ID number, so losing R
	// loses the holder's way to prove identity to a relying party: Seal
	// writes it back.
	RandomNum []byte
	// Scheme is how the file was encrypted; zero for a Key made in memory.
	Scheme Scheme
	// otherAttrs are the DER of any other PKCS#8 attributes, kept as read.
	otherAttrs [][]byte
}

// pkcs8 is OneAsymmetricKey, RFC 5958 §2, as far as NPKI uses it. The
// optional publicKey [1] that may follow is not read (encoding/asn1 allows
// trailing elements in a SEQUENCE) and not written back.
type pkcs8 struct {
	Version    int
	Algo       pkix.AlgorithmIdentifier
	PrivateKey []byte
	Attributes asn1.RawValue `asn1:"optional"`
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue // SET OF AttributeValue
}

// OpenKey decrypts a DER PKCS#8 EncryptedPrivateKeyInfo (signPri.key) in any
// of the forms Korean software and Signet write:
//
//   - PBES2 (RFC 8018 §6.2) with PBKDF2 (hmacWithSHA1, the default when the
//     prf is absent, or hmacWithSHA256) and AES-128/192/256-CBC or SEED-CBC
//     (1.2.410.200004.1.4, RFC 4010 §3);
//   - seedCBCWithSHA1 (1.2.410.200004.1.15);
//   - top-level SEED-CBC with PBKDF1 and a fixed IV.
//
// A wrong password returns ErrWrongPassword; another algorithm returns an
// error wrapping ErrUnsupportedAlgorithm that names its OID.
func OpenKey(der, password []byte) (*Key, error) {
	var info encryptedPrivateKeyInfo
	if err := unmarshalAll(der, &info); err != nil {
		return nil, fmt.Errorf("npki: key file is not a DER PKCS#8 EncryptedPrivateKeyInfo (is it PEM, or not a key?): %w", err)
	}
	var (
		scheme Scheme
		block  cipher.Block
		iv     []byte
		err    error
	)
	params := info.Algorithm.Parameters.FullBytes
	switch alg := info.Algorithm.Algorithm; {
	case alg.Equal(oidPBES2):
		scheme, block, iv, err = openPBES2(params, password)
	case alg.Equal(oidSEEDCBCWithSHA1):
		scheme = SEEDCBCWithSHA1
		block, iv, err = openKISAPBE(params, password, false)
	case alg.Equal(oidSEEDCBC):
		scheme = SEEDCBCFixedIV
		block, iv, err = openKISAPBE(params, password, true)
	default:
		return nil, unsupported("key encryption scheme", alg)
	}
	if err != nil {
		return nil, err
	}

	ct := info.EncryptedData
	bs := block.BlockSize()
	if len(ct) == 0 || len(ct)%bs != 0 {
		return nil, fmt.Errorf("npki: encrypted key is %d bytes, not a positive multiple of the %s block size; the file is truncated or corrupt", len(ct), scheme.cipherName())
	}
	plain := make([]byte, len(ct))
	defer clear(plain)
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, ct)

	// With a wrong password the padding is garbage (checked first) or, about
	// once in 256 tries, valid by chance; then the PKCS#8 parse fails.
	unpadded, ok := pkcs7Unpad(plain, bs)
	if !ok {
		return nil, ErrWrongPassword
	}
	k, err := parsePKCS8(unpadded)
	if err != nil {
		return nil, err
	}
	k.Scheme = scheme
	return k, nil
}

// parsePKCS8 reads a decrypted OneAsymmetricKey with its attributes. Any
// parse failure is reported as a wrong password: that is by far the likely
// cause, since the schemes have no integrity check.
func parsePKCS8(der []byte) (*Key, error) {
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, ErrWrongPassword
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("npki: key file holds a %T, which cannot sign; a certificate key must be RSA, ECDSA or Ed25519", key)
	}
	var p pkcs8
	if _, err := asn1.Unmarshal(der, &p); err != nil {
		return nil, ErrWrongPassword
	}
	k := &Key{Signer: signer}
	a := p.Attributes
	if len(a.FullBytes) == 0 {
		return k, nil
	}
	if a.Class != asn1.ClassContextSpecific || a.Tag != 0 || !a.IsCompound {
		return k, nil // publicKey [1] without attributes
	}
	for rest := a.Bytes; len(rest) > 0; {
		var attr attribute
		var raw asn1.RawValue
		next, err := asn1.Unmarshal(rest, &raw)
		if err != nil {
			return nil, fmt.Errorf("npki: malformed PKCS#8 attributes in the key: %w", err)
		}
		if _, err := asn1.Unmarshal(raw.FullBytes, &attr); err != nil {
			return nil, fmt.Errorf("npki: malformed PKCS#8 attribute in the key: %w", err)
		}
		rest = next
		if !attr.Type.Equal(oidRandomNum) {
			k.otherAttrs = append(k.otherAttrs, bytes.Clone(raw.FullBytes))
			continue
		}
		var r asn1.BitString
		if _, err := asn1.Unmarshal(attr.Values.Bytes, &r); err != nil || r.BitLength%8 != 0 || len(r.Bytes) == 0 {
			return nil, fmt.Errorf("npki: the key's randomNum attribute (%s) is not a whole-byte BIT STRING", oidRandomNum)
		}
		k.RandomNum = bytes.Clone(r.Bytes)
	}
	return k, nil
}

// marshalPKCS8 encodes the key with its randomNum and other attributes.
func (k *Key) marshalPKCS8() ([]byte, error) {
	plain, err := x509.MarshalPKCS8PrivateKey(k.Signer)
	if err != nil {
		return nil, fmt.Errorf("npki: cannot encode private key as PKCS#8: %w", err)
	}
	attrs := slices.Clone(k.otherAttrs)
	if k.RandomNum != nil {
		values, err := asn1.Marshal([]asn1.BitString{{Bytes: k.RandomNum, BitLength: 8 * len(k.RandomNum)}})
		if err != nil {
			return nil, err
		}
		values[0] = 0x31 // SET OF, not SEQUENCE OF
		a, err := asn1.Marshal(attribute{Type: oidRandomNum, Values: asn1.RawValue{FullBytes: values}})
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, a)
	}
	if len(attrs) == 0 {
		return plain, nil
	}
	defer clear(plain)
	var p pkcs8
	if _, err := asn1.Unmarshal(plain, &p); err != nil {
		return nil, fmt.Errorf("npki: re-reading PKCS#8: %w", err)
	}
	// [0] IMPLICIT SET OF Attribute, in DER order (X.690 §11.6).
	slices.SortFunc(attrs, bytes.Compare)
	p.Attributes = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: bytes.Join(attrs, nil)}
	return asn1.Marshal(p)
}

// Seal encrypts the key, with its randomNum attribute, into a DER PKCS#8
// EncryptedPrivateKeyInfo for signPri.key. It writes PBES2AES (Signet's
// default: hmacWithSHA256, AES-256-CBC) or PBES2SEED (hmacWithSHA1,
// SEED-CBC, for older Korean software), both with a random 16-byte salt and
// IV and PBKDF2Iterations rounds. The read-only schemes are refused: their
// PBKDF1 is too weak to write anew.
func (k *Key) Seal(password []byte, s Scheme) ([]byte, error) {
	if k == nil || k.Signer == nil {
		return nil, fmt.Errorf("npki: no key to encrypt")
	}
	if s != PBES2AES && s != PBES2SEED {
		return nil, fmt.Errorf("npki: Signet does not write %s key files: use %s (default) or %s", s, PBES2AES, PBES2SEED)
	}
	plain, err := k.marshalPKCS8()
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	if s == PBES2SEED {
		return sealPBES2(plain, password, iterations, nil, sha1.New, oidSEEDCBC, seed.KeySize, false, seed.NewCipher)
	}
	return sealPBES2(plain, password, iterations, oidHMACWithSHA256, sha256.New, oidAES256CBC, aesKeyLen, true, newAES)
}

// kisaPBEParams is PBEParameter (PKCS#5 v1.5, RFC 8018 Appendix A.3), the
// parameters of both KISA schemes.
type kisaPBEParams struct {
	Salt           []byte
	IterationCount int
}

// fixedIV is the IV of top-level SEED-CBC key files.
var fixedIV = []byte("0123456789012345")

// openKISAPBE derives the SEED key and IV of the two KISA password schemes.
// Both start with PBKDF1-SHA1 (RFC 8018 §5.1), that is SHA-1 applied c times
// to password‖salt, giving a 20-byte dk; the key is dk[0:16]. The IV is
// SHA-1(dk[16:20])[0:16] for seedCBCWithSHA1 and fixed for the older form.
// The derivation agrees with public NPKI tooling (PyPinkSign,
// get_private_key_decryption_key_for_seed_cbc_with_sha1, among others).
func openKISAPBE(paramsDER, password []byte, fixed bool) (cipher.Block, []byte, error) {
	var p kisaPBEParams
	if err := unmarshalAll(paramsDER, &p); err != nil {
		return nil, nil, fmt.Errorf("npki: malformed SEED PBE parameters (want SEQUENCE { salt, iterationCount }): %w", err)
	}
	if p.IterationCount < 1 || p.IterationCount > maxIterations {
		return nil, nil, fmt.Errorf("npki: PBKDF1 iteration count %d is outside 1..%d; refusing to process this key file", p.IterationCount, maxIterations)
	}
	dk := pbkdf1SHA1(password, p.Salt, p.IterationCount)
	defer clear(dk[:])
	block, err := seed.NewCipher(dk[:seed.KeySize])
	if err != nil {
		return nil, nil, fmt.Errorf("npki: %w", err)
	}
	if fixed {
		return block, fixedIV, nil
	}
	div := sha1.Sum(dk[16:20])
	return block, div[:seed.BlockSize], nil
}

// pbkdf1SHA1 is PBKDF1 (RFC 8018 §5.1) with SHA-1 and a 20-byte output.
func pbkdf1SHA1(password, salt []byte, c int) [sha1.Size]byte {
	h := sha1.New()
	h.Write(password)
	h.Write(salt)
	var dk [sha1.Size]byte
	h.Sum(dk[:0])
	for i := 1; i < c; i++ {
		dk = sha1.Sum(dk[:])
	}
	return dk
}
