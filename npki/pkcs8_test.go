package npki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const testPassword = "한글Passw0rd!#"

func TestMain(m *testing.M) {
	// Production uses PBKDF2Iterations; a small count keeps the suite fast.
	iterations = 1000
	os.Exit(m.Run())
}

type publicKeyer interface{ Equal(crypto.PublicKey) bool }

var (
	keysOnce sync.Once
	keys     map[string]crypto.Signer
)

func testKeys(t *testing.T) map[string]crypto.Signer {
	t.Helper()
	keysOnce.Do(func() {
		keys = map[string]crypto.Signer{}
		r, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys["RSA-2048"] = r
		for name, c := range map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384()} {
			k, err := ecdsa.GenerateKey(c, rand.Reader)
			if err != nil {
				panic(err)
			}
			keys["ECDSA-"+name] = k
		}
	})
	return keys
}

func TestRoundTrip(t *testing.T) {
	for name, key := range testKeys(t) {
		t.Run(name, func(t *testing.T) {
			der, err := EncryptPKCS8(key, []byte(testPassword))
			if err != nil {
				t.Fatal(err)
			}
			checkFormat(t, der)
			got, err := DecryptPKCS8(der, []byte(testPassword))
			if err != nil {
				t.Fatal(err)
			}
			if !got.Public().(publicKeyer).Equal(key.Public()) {
				t.Fatal("decrypted key has a different public key")
			}
			// The decrypted key must still work after DecryptPKCS8 wiped its buffers.
			digest := sha256.Sum256([]byte("signet"))
			sig, err := got.Sign(rand.Reader, digest[:], crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			switch pub := key.Public().(type) {
			case *rsa.PublicKey:
				err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
			case *ecdsa.PublicKey:
				if !ecdsa.VerifyASN1(pub, digest[:], sig) {
					err = errors.New("ECDSA signature does not verify")
				}
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRoundTripEd25519(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := EncryptPKCS8(key, []byte(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecryptPKCS8(der, []byte(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Public().(publicKeyer).Equal(key.Public()) {
		t.Fatal("decrypted key has a different public key")
	}
}

// checkFormat verifies the parameters EncryptPKCS8 promises to write.
func checkFormat(t *testing.T, der []byte) {
	t.Helper()
	var info encryptedPrivateKeyInfo
	if err := unmarshalAll(der, &info); err != nil {
		t.Fatal(err)
	}
	var p2 pbes2Params
	if err := unmarshalAll(info.Algorithm.Parameters.FullBytes, &p2); err != nil {
		t.Fatal(err)
	}
	var kdf pbkdf2Params
	if err := unmarshalAll(p2.KeyDerivationFunc.Parameters.FullBytes, &kdf); err != nil {
		t.Fatal(err)
	}
	var iv []byte
	if err := unmarshalAll(p2.EncryptionScheme.Parameters.FullBytes, &iv); err != nil {
		t.Fatal(err)
	}
	switch {
	case !info.Algorithm.Algorithm.Equal(oidPBES2):
		t.Errorf("scheme %v, want PBES2", info.Algorithm.Algorithm)
	case !p2.KeyDerivationFunc.Algorithm.Equal(oidPBKDF2):
		t.Errorf("kdf %v, want PBKDF2", p2.KeyDerivationFunc.Algorithm)
	case !p2.EncryptionScheme.Algorithm.Equal(oidAES256CBC):
		t.Errorf("cipher %v, want AES-256-CBC", p2.EncryptionScheme.Algorithm)
	case !kdf.PRF.Algorithm.Equal(oidHMACWithSHA256):
		t.Errorf("prf %v, want hmacWithSHA256", kdf.PRF.Algorithm)
	case len(kdf.Salt.Bytes) != 16 || len(iv) != 16:
		t.Errorf("salt %d bytes, IV %d bytes; want 16 and 16", len(kdf.Salt.Bytes), len(iv))
	case kdf.IterationCount != iterations || kdf.KeyLength != 32:
		t.Errorf("iterations %d, key length %d; want %d and 32", kdf.IterationCount, kdf.KeyLength, iterations)
	}
}

func TestProductionIterations(t *testing.T) {
	if PBKDF2Iterations != 100000 {
		t.Fatalf("PBKDF2Iterations = %d, want 100000", PBKDF2Iterations)
	}
}

func TestWrongPassword(t *testing.T) {
	key := testKeys(t)["ECDSA-P-256"]
	der, err := EncryptPKCS8(key, []byte(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	// Enough attempts that some will have valid padding by chance and must
	// be caught by the PKCS#8 parse instead.
	for i := range 300 {
		pw := []byte(testPassword + string(rune('a'+i%26)) + strings.Repeat("x", i/26))
		if _, err := DecryptPKCS8(der, pw); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("password %q: got %v, want ErrWrongPassword", pw, err)
		}
	}
	if _, err := DecryptPKCS8(der, nil); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("empty password: got %v, want ErrWrongPassword", err)
	}
}

// rewrite decodes der, lets edit change the parameters, and re-encodes it.
func rewrite(t *testing.T, der []byte, edit func(*pbes2Params, *pbkdf2Params)) []byte {
	t.Helper()
	var info encryptedPrivateKeyInfo
	var p2 pbes2Params
	var kdf pbkdf2Params
	if err := unmarshalAll(der, &info); err != nil {
		t.Fatal(err)
	}
	if err := unmarshalAll(info.Algorithm.Parameters.FullBytes, &p2); err != nil {
		t.Fatal(err)
	}
	if err := unmarshalAll(p2.KeyDerivationFunc.Parameters.FullBytes, &kdf); err != nil {
		t.Fatal(err)
	}
	edit(&p2, &kdf)
	kdfDER, err := asn1.Marshal(kdf)
	if err != nil {
		t.Fatal(err)
	}
	p2.KeyDerivationFunc.Parameters = asn1.RawValue{FullBytes: kdfDER}
	p2DER, err := asn1.Marshal(p2)
	if err != nil {
		t.Fatal(err)
	}
	info.Algorithm.Parameters = asn1.RawValue{FullBytes: p2DER}
	out, err := asn1.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestUnsupportedAlgorithms(t *testing.T) {
	der, err := EncryptPKCS8(testKeys(t)["ECDSA-P-256"], []byte(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*pbes2Params, *pbkdf2Params)
		oid  string
	}{
		{"DES-EDE3-CBC", func(p *pbes2Params, _ *pbkdf2Params) {
			p.EncryptionScheme.Algorithm = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
		}, "1.2.840.113549.3.7"},
		{"hmacWithSHA512", func(_ *pbes2Params, k *pbkdf2Params) {
			k.PRF.Algorithm = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
		}, "1.2.840.113549.2.11"},
		{"scrypt", func(p *pbes2Params, _ *pbkdf2Params) {
			p.KeyDerivationFunc.Algorithm = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
		}, "1.3.6.1.4.1.11591.4.11"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecryptPKCS8(rewrite(t, der, tt.edit), []byte(testPassword))
			if !errors.Is(err, ErrUnsupportedAlgorithm) || !strings.Contains(err.Error(), tt.oid) || !strings.Contains(err.Error(), "unsupported") {
				t.Fatalf("got %v, want unsupported error naming %s", err, tt.oid)
			}
		})
	}

	// A legacy PBES1 scheme at the top level.
	var info encryptedPrivateKeyInfo
	if err := unmarshalAll(der, &info); err != nil {
		t.Fatal(err)
	}
	info.Algorithm = pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 3}}
	legacy, err := asn1.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecryptPKCS8(legacy, []byte(testPassword)); !errors.Is(err, ErrUnsupportedAlgorithm) || !strings.Contains(err.Error(), "1.2.840.113549.1.5.3") {
		t.Fatalf("PBES1 MD5/DES: got %v", err)
	}
}

func TestHostileParameters(t *testing.T) {
	der, err := EncryptPKCS8(testKeys(t)["ECDSA-P-256"], []byte(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*pbes2Params, *pbkdf2Params){
		"zero iterations": func(_ *pbes2Params, k *pbkdf2Params) { k.IterationCount = 0 },
		"huge iterations": func(_ *pbes2Params, k *pbkdf2Params) { k.IterationCount = 1 << 30 },
		"key length":      func(_ *pbes2Params, k *pbkdf2Params) { k.KeyLength = 16 },
		"short IV": func(p *pbes2Params, _ *pbkdf2Params) {
			p.EncryptionScheme.Parameters = asn1.RawValue{FullBytes: []byte{4, 2, 0, 0}}
		},
	} {
		if _, err := DecryptPKCS8(rewrite(t, der, edit), []byte(testPassword)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestTruncated feeds every prefix of a valid file; none may panic or succeed.
func TestTruncated(t *testing.T) {
	der, err := EncryptPKCS8(testKeys(t)["ECDSA-P-256"], []byte(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	for i := range der {
		if _, err := DecryptPKCS8(der[:i], []byte(testPassword)); err == nil {
			t.Fatalf("prefix of %d bytes decrypted", i)
		}
	}
	if _, err := DecryptPKCS8(append(bytes.Clone(der), 0), []byte(testPassword)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

func FuzzDecryptPKCS8(f *testing.F) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	der, err := EncryptPKCS8(k, []byte("pw"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(der)
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = DecryptPKCS8(b, []byte("pw"))
	})
}

func needOpenSSL(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not on PATH")
	}
	return path
}

// TestOpenSSLDecrypts proves signPri.key files from EncryptPKCS8 open with
// stock OpenSSL, including the trailing newline a password file usually has.
func TestOpenSSLDecrypts(t *testing.T) {
	openssl := needOpenSSL(t)
	for name, key := range testKeys(t) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			keyFile := filepath.Join(dir, KeyFile)
			pwFile := filepath.Join(dir, "pw")
			der, err := EncryptPKCS8(key, []byte(testPassword))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(keyFile, der, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(openssl, "pkcs8", "-inform", "DER", "-in", keyFile, "-passin", "file:"+pwFile, "-outform", "PEM").Output()
			if err != nil {
				t.Fatalf("openssl pkcs8: %v: %s", err, stderr(err))
			}
			block, _ := pem.Decode(out)
			if block == nil || block.Type != "PRIVATE KEY" {
				t.Fatalf("openssl output is not a PEM PRIVATE KEY: %q", out)
			}
			got, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if !got.(crypto.Signer).Public().(publicKeyer).Equal(key.Public()) {
				t.Fatal("openssl recovered a different key")
			}

			// And OpenSSL must refuse a wrong password.
			if err := os.WriteFile(pwFile, []byte("wrong"+testPassword+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := exec.Command(openssl, "pkcs8", "-inform", "DER", "-in", keyFile, "-passin", "file:"+pwFile, "-outform", "PEM").Run(); err == nil {
				t.Fatal("openssl accepted a wrong password")
			}
		})
	}
}

// TestDecryptOpenSSLKeys proves DecryptPKCS8 reads what OpenSSL writes,
// including the hmacWithSHA1 default where the prf field is left out.
func TestDecryptOpenSSLKeys(t *testing.T) {
	openssl := needOpenSSL(t)
	key := testKeys(t)["ECDSA-P-384"]
	plain, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "plain.pem")
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(in, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: plain}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ cipher, prf string }{
		{"aes-256-cbc", "hmacWithSHA256"},
		{"aes-192-cbc", "hmacWithSHA256"},
		{"aes-128-cbc", "hmacWithSHA1"},
		{"aes-256-cbc", "hmacWithSHA1"},
	} {
		t.Run(tt.cipher+"/"+tt.prf, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), KeyFile)
			cmd := exec.Command(openssl, "pkcs8", "-topk8", "-v2", tt.cipher, "-v2prf", tt.prf, "-iter", "1000",
				"-inform", "PEM", "-in", in, "-outform", "DER", "-out", out, "-passout", "file:"+pwFile)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("openssl pkcs8 -topk8: %v: %s", err, b)
			}
			der, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecryptPKCS8(der, []byte(testPassword))
			if err != nil {
				t.Fatal(err)
			}
			if !got.Public().(publicKeyer).Equal(key.Public()) {
				t.Fatal("decrypted a different key")
			}
			if _, err := DecryptPKCS8(der, []byte("wrong")); !errors.Is(err, ErrWrongPassword) {
				t.Fatalf("wrong password: got %v", err)
			}
		})
	}
}

func stderr(err error) []byte {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.Stderr
	}
	return nil
}
