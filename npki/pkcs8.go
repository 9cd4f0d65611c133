package npki

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"

	"github.com/signet-ca/signet/npki/seed"
)

// PBKDF2Iterations is the PBKDF2 iteration count EncryptPKCS8 and Key.Seal
// write.
// RFC 8018 §4.2 asks for at least 1000; 100000 makes each offline password
// guess cost real CPU time while still unlocking in well under a second.
const PBKDF2Iterations = 100000

// iterations is the count actually used by EncryptPKCS8 and Key.Seal. It is a variable
// only so the tests can lower it; production code never changes it.
var iterations = PBKDF2Iterations

// maxIterations bounds the work DecryptPKCS8 will do for a key file it has
// not yet authenticated, so a hostile file cannot pin a CPU for hours.
const maxIterations = 10_000_000

const (
	saltLen   = 16 // RFC 8018 §4.1 asks for at least 8 octets; 16 is common practice.
	aesKeyLen = 32 // AES-256
)

// ErrWrongPassword is returned by DecryptPKCS8 when the key does not decrypt
// with the given password. A corrupted key file looks the same, because
// PBES2 has no integrity check of its own.
var ErrWrongPassword = errors.New("npki: wrong certificate password (or the key file is corrupt): check the password and try again")

// ErrUnsupportedAlgorithm is wrapped by DecryptPKCS8 errors for key files
// encrypted with an algorithm this package does not implement; the error
// text names the OID.
var ErrUnsupportedAlgorithm = errors.New("npki: unsupported key encryption algorithm")

var (
	oidPBES2          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACWithSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidAES128CBC      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}

	// oidSEEDCBC is id-seedCBC (RFC 4010 §3). Inside PBES2 it is the
	// cipher; older NPKI software also put it at the top level of the key
	// file with PBKDF1 and a fixed IV.
	oidSEEDCBC = asn1.ObjectIdentifier{1, 2, 410, 200004, 1, 4}
	// oidSEEDCBCWithSHA1 is seedCBCWithSHA1 (also named
	// pbeWithSHA1AndSEED-CBC), the KISA PBES1-style scheme.
	oidSEEDCBCWithSHA1 = asn1.ObjectIdentifier{1, 2, 410, 200004, 1, 15}
)

// knownNames gives people a hint when a key file uses something we cannot
// read.
var knownNames = map[string]string{
	"1.2.840.113549.1.5.3":    "pbeWithMD5AndDES-CBC",
	"1.2.840.113549.1.12.1.3": "pbeWithSHAAnd3-KeyTripleDES-CBC",
	"1.2.840.113549.2.10":     "hmacWithSHA384",
	"1.2.840.113549.2.11":     "hmacWithSHA512",
	"1.2.840.113549.3.7":      "DES-EDE3-CBC",
}

// encryptedPrivateKeyInfo is RFC 5958 §3 (formerly RFC 5208 §6).
type encryptedPrivateKeyInfo struct {
	Algorithm     pkix.AlgorithmIdentifier
	EncryptedData []byte
}

// pbes2Params is PBES2-params, RFC 8018 Appendix A.4.
type pbes2Params struct {
	KeyDerivationFunc pkix.AlgorithmIdentifier
	EncryptionScheme  pkix.AlgorithmIdentifier
}

// pbkdf2Params is PBKDF2-params, RFC 8018 Appendix A.2. Salt is a CHOICE of
// which only "specified OCTET STRING" is in real use, so it is kept raw and
// checked by hand.
type pbkdf2Params struct {
	Salt           asn1.RawValue
	IterationCount int
	KeyLength      int                      `asn1:"optional"`
	PRF            pkix.AlgorithmIdentifier `asn1:"optional"`
}

// EncryptPKCS8 encrypts key into a DER PKCS#8 EncryptedPrivateKeyInfo
// suitable for signPri.key with Signet's default scheme, PBES2AES: PBES2
// (RFC 8018 §6.2) with PBKDF2 (§5.2, hmacWithSHA256, random 16-byte salt,
// PBKDF2Iterations rounds) and AES-256-CBC (Appendix B.2.5, random IV,
// PKCS#7 padding per RFC 5652 §6.3). The password is used as raw bytes, as
// OpenSSL does. Use Key.Seal to choose the scheme or to keep the NPKI
// randomNum attribute.
func EncryptPKCS8(key crypto.PrivateKey, password []byte) ([]byte, error) {
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("npki: a %T cannot sign; a certificate key must be RSA, ECDSA or Ed25519", key)
	}
	return (&Key{Signer: signer}).Seal(password, PBES2AES)
}

// DecryptPKCS8 decrypts a DER PKCS#8 EncryptedPrivateKeyInfo (signPri.key)
// in any scheme OpenKey reads and returns the signing key. Use OpenKey to
// also get the NPKI randomNum attribute and the scheme.
func DecryptPKCS8(der []byte, password []byte) (crypto.Signer, error) {
	k, err := OpenKey(der, password)
	if err != nil {
		return nil, err
	}
	return k.Signer, nil
}

// sealPBES2 encrypts plain with PBES2 (RFC 8018 §6.2): PBKDF2 with a random
// 16-byte salt and the given prf (nil for the hmacWithSHA1 default, which
// DER then leaves out), and encOID in CBC mode with a random IV.
func sealPBES2(plain, password []byte, rounds int, prf asn1.ObjectIdentifier, prfHash func() hash.Hash, encOID asn1.ObjectIdentifier, keyLen int, writeKeyLen bool,
	newCipher func([]byte) (cipher.Block, error)) ([]byte, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("npki: reading random salt: %w", err)
	}
	dk, err := pbkdf2.Key(prfHash, string(password), salt, rounds, keyLen)
	if err != nil {
		return nil, fmt.Errorf("npki: deriving key from password: %w", err)
	}
	defer clear(dk)
	block, err := newCipher(dk)
	if err != nil {
		return nil, fmt.Errorf("npki: %w", err)
	}
	iv := make([]byte, block.BlockSize())
	if _, err := rand.Read(iv); err != nil {
		return nil, fmt.Errorf("npki: reading random IV: %w", err)
	}
	padded := pkcs7Pad(plain, block.BlockSize())
	defer clear(padded)
	ciphertext := make([]byte, len(padded))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ciphertext, padded)

	p := pbkdf2Params{
		Salt:           asn1.RawValue{Tag: asn1.TagOctetString, Bytes: salt},
		IterationCount: rounds,
	}
	if writeKeyLen {
		p.KeyLength = keyLen
	}
	if prf != nil {
		p.PRF = pkix.AlgorithmIdentifier{Algorithm: prf, Parameters: asn1.NullRawValue}
	}
	kdf, err := asn1.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("npki: encoding PBKDF2 parameters: %w", err)
	}
	ivDER, err := asn1.Marshal(iv)
	if err != nil {
		return nil, fmt.Errorf("npki: encoding IV: %w", err)
	}
	params, err := asn1.Marshal(pbes2Params{
		KeyDerivationFunc: pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdf}},
		EncryptionScheme:  pkix.AlgorithmIdentifier{Algorithm: encOID, Parameters: asn1.RawValue{FullBytes: ivDER}},
	})
	if err != nil {
		return nil, fmt.Errorf("npki: encoding PBES2 parameters: %w", err)
	}
	der, err := asn1.Marshal(encryptedPrivateKeyInfo{
		Algorithm:     pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: params}},
		EncryptedData: ciphertext,
	})
	if err != nil {
		return nil, fmt.Errorf("npki: encoding EncryptedPrivateKeyInfo: %w", err)
	}
	return der, nil
}

// openPBES2 turns PBES2-params (RFC 8018 Appendix A.4) and the password
// into the block cipher and IV that decrypt the key. It reads PBKDF2 with
// hmacWithSHA1 (the default when the prf is absent, Appendix A.2) or
// hmacWithSHA256, and AES-128/192/256-CBC (Appendix B.2.5) or SEED-CBC
// (RFC 4010 §3, IV in the parameters).
func openPBES2(paramsDER, password []byte) (Scheme, cipher.Block, []byte, error) {
	var params pbes2Params
	if err := unmarshalAll(paramsDER, &params); err != nil {
		return 0, nil, nil, fmt.Errorf("npki: malformed PBES2 parameters: %w", err)
	}
	scheme := PBES2AES
	newCipher := aes.NewCipher
	var keyLen int
	switch oid := params.EncryptionScheme.Algorithm; {
	case oid.Equal(oidAES128CBC):
		keyLen = 16
	case oid.Equal(oidAES192CBC):
		keyLen = 24
	case oid.Equal(oidAES256CBC):
		keyLen = 32
	case oid.Equal(oidSEEDCBC):
		scheme, newCipher, keyLen = PBES2SEED, seed.NewCipher, seed.KeySize
	default:
		return 0, nil, nil, unsupported("cipher", oid)
	}
	var iv []byte
	if err := unmarshalAll(params.EncryptionScheme.Parameters.FullBytes, &iv); err != nil {
		return 0, nil, nil, fmt.Errorf("npki: malformed %s parameters (want the IV as an OCTET STRING): %w", scheme.cipherName(), err)
	}
	if len(iv) != 16 { // both AES and SEED have 16-byte blocks
		return 0, nil, nil, fmt.Errorf("npki: %s IV is %d bytes, want 16", scheme.cipherName(), len(iv))
	}
	dk, err := deriveKey(params.KeyDerivationFunc, password, keyLen)
	if err != nil {
		return 0, nil, nil, err
	}
	defer clear(dk)
	block, err := newCipher(dk)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("npki: %w", err)
	}
	return scheme, block, iv, nil
}

// deriveKey runs PBKDF2 as described by a keyDerivationFunc
// AlgorithmIdentifier (RFC 8018 §5.2, Appendix A.2).
func deriveKey(kdf pkix.AlgorithmIdentifier, password []byte, keyLen int) ([]byte, error) {
	if !kdf.Algorithm.Equal(oidPBKDF2) {
		return nil, unsupported("key derivation function", kdf.Algorithm)
	}
	var p pbkdf2Params
	if err := unmarshalAll(kdf.Parameters.FullBytes, &p); err != nil {
		return nil, fmt.Errorf("npki: malformed PBKDF2 parameters: %w", err)
	}
	if p.Salt.Class != asn1.ClassUniversal || p.Salt.Tag != asn1.TagOctetString || p.Salt.IsCompound {
		return nil, fmt.Errorf("%w: PBKDF2 salt must be a specified OCTET STRING (otherSource is not supported)", ErrUnsupportedAlgorithm)
	}
	if p.IterationCount < 1 || p.IterationCount > maxIterations {
		return nil, fmt.Errorf("npki: PBKDF2 iteration count %d is outside 1..%d; refusing to process this key file", p.IterationCount, maxIterations)
	}
	if p.KeyLength != 0 && p.KeyLength != keyLen {
		return nil, fmt.Errorf("npki: PBKDF2 key length %d does not match the cipher's %d-byte key; the file is corrupt", p.KeyLength, keyLen)
	}

	var h func() hash.Hash
	switch prf := p.PRF.Algorithm; {
	case len(prf) == 0 || prf.Equal(oidHMACWithSHA1):
		h = sha1.New
	case prf.Equal(oidHMACWithSHA256):
		h = sha256.New
	default:
		return nil, unsupported("PBKDF2 pseudorandom function", prf)
	}
	dk, err := pbkdf2.Key(h, string(password), p.Salt.Bytes, p.IterationCount, keyLen)
	if err != nil {
		return nil, fmt.Errorf("npki: deriving key from password: %w", err)
	}
	return dk, nil
}

func newAES(key []byte) (cipher.Block, error) { return aes.NewCipher(key) }

func unsupported(what string, oid asn1.ObjectIdentifier) error {
	name := oid.String()
	if n, ok := knownNames[name]; ok {
		name += " (" + n + ")"
	}
	return fmt.Errorf("%w: %s %s is unsupported; re-export the key with PBES2, PBKDF2 (HMAC-SHA1 or HMAC-SHA256) and AES-CBC or SEED-CBC, e.g. `openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -outform DER`",
		ErrUnsupportedAlgorithm, what, name)
}

// unmarshalAll parses exactly one DER value, rejecting trailing bytes.
func unmarshalAll(der []byte, v any) error {
	rest, err := asn1.Unmarshal(der, v)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%d trailing bytes after the DER value", len(rest))
	}
	return nil
}

// pkcs7Pad appends 1..blockSize bytes each holding the pad length
// (RFC 5652 §6.3).
func pkcs7Pad(b []byte, blockSize int) []byte {
	n := blockSize - len(b)%blockSize
	out := make([]byte, len(b), len(b)+n)
	copy(out, b)
	return append(out, bytes.Repeat([]byte{byte(n)}, n)...)
}

// pkcs7Unpad strips RFC 5652 §6.3 padding, reporting false if it is invalid.
func pkcs7Unpad(b []byte, blockSize int) ([]byte, bool) {
	if len(b) == 0 || len(b)%blockSize != 0 {
		return nil, false
	}
	n := int(b[len(b)-1])
	if n == 0 || n > blockSize {
		return nil, false
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, false
		}
	}
	return b[:len(b)-n], true
}
