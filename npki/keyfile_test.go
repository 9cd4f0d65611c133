package npki

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fixturePassword is testdata/password.txt without its newline.
const fixturePassword = testPassword

func readPEMKey(t *testing.T, path string) crypto.Signer {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(crypto.Signer)
}

func fixtureRandomNum(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/randomnum.hex")
	if err != nil {
		t.Fatal(err)
	}
	r, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(r) != 20 {
		t.Fatalf("randomnum.hex: %v (%d bytes)", err, len(r))
	}
	return r
}

// keyFixtures are signPri.key files written by other implementations
// (testdata/gen.sh): OpenSSL's pkcs8, and make_kisa_keys.py, which derives
// keys with Python's hashlib and encrypts with OpenSSL's SEED.
var keyFixtures = []struct {
	file, plain string
	scheme      Scheme
	randomNum   bool
}{
	{"openssl-seed-sha1.key", "key-rsa.pem", PBES2SEED, false},
	{"openssl-seed-sha256.key", "key-p256.pem", PBES2SEED, false},
	{"openssl-aes256.key", "key-rsa.pem", PBES2AES, false},
	{"pbes2-seed-rand.key", "key-rsa.pem", PBES2SEED, true},
	{"seedcbcwithsha1-rand.key", "key-rsa.pem", SEEDCBCWithSHA1, true},
	{"seedcbc-fixediv-rand.key", "key-rsa.pem", SEEDCBCFixedIV, true},
}

func TestOpenKey_IndependentFixtures(t *testing.T) {
	wantR := fixtureRandomNum(t)
	for _, f := range keyFixtures {
		t.Run(f.file, func(t *testing.T) {
			der, err := os.ReadFile(filepath.Join("testdata", f.file))
			if err != nil {
				t.Fatal(err)
			}
			want := readPEMKey(t, filepath.Join("testdata", f.plain))
			k, err := OpenKey(der, []byte(fixturePassword))
			if err != nil {
				t.Fatal(err)
			}
			if !k.Signer.Public().(publicKeyer).Equal(want.Public()) {
				t.Fatal("decrypted a different key")
			}
			if k.Scheme != f.scheme {
				t.Errorf("scheme %v, want %v", k.Scheme, f.scheme)
			}
			switch {
			case f.randomNum && !bytes.Equal(k.RandomNum, wantR):
				t.Errorf("randomNum %x, want %x", k.RandomNum, wantR)
			case !f.randomNum && k.RandomNum != nil:
				t.Errorf("randomNum %x in a file without one", k.RandomNum)
			}
			if _, err := OpenKey(der, []byte(fixturePassword+"x")); !errors.Is(err, ErrWrongPassword) {
				t.Errorf("wrong password: got %v, want ErrWrongPassword", err)
			}
		})
	}
}

// TestSeal_RoundTripEveryScheme opens each fixture, re-encrypts it in both
// schemes Signet writes under a new password, and opens the result: same
// key, same randomNum.
func TestSeal_RoundTripEveryScheme(t *testing.T) {
	for _, f := range keyFixtures {
		der, err := os.ReadFile(filepath.Join("testdata", f.file))
		if err != nil {
			t.Fatal(err)
		}
		k, err := OpenKey(der, []byte(fixturePassword))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []Scheme{PBES2AES, PBES2SEED} {
			t.Run(f.file+"/"+s.String(), func(t *testing.T) {
				out, err := k.Seal([]byte("new-Passw0rd!"), s)
				if err != nil {
					t.Fatal(err)
				}
				got, err := OpenKey(out, []byte("new-Passw0rd!"))
				if err != nil {
					t.Fatal(err)
				}
				if got.Scheme != s || !got.Signer.Public().(publicKeyer).Equal(k.Signer.Public()) || !bytes.Equal(got.RandomNum, k.RandomNum) {
					t.Fatalf("round trip changed the key: scheme %v, randomNum %x (want %v, %x)", got.Scheme, got.RandomNum, s, k.RandomNum)
				}
				if _, err := OpenKey(out, []byte(fixturePassword)); !errors.Is(err, ErrWrongPassword) {
					t.Fatalf("old password after re-encryption: got %v", err)
				}
			})
		}
	}
}

// TestSeal_KeepsOtherAttributes checks that attributes Signet does not know
// survive re-encryption beside randomNum, in DER order.
func TestSeal_KeepsOtherAttributes(t *testing.T) {
	other, err := asn1.Marshal(attribute{Type: asn1.ObjectIdentifier{1, 2, 3, 4}, Values: asn1.RawValue{FullBytes: []byte{0x31, 0x03, 0x02, 0x01, 0x07}}})
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signers := map[string]crypto.Signer{"Ed25519": ed}
	for name, s := range testKeys(t) {
		signers[name] = s
	}
	for name, s := range signers {
		k := &Key{Signer: s, RandomNum: bytes.Repeat([]byte{0xab}, 20), otherAttrs: [][]byte{other}}
		out, err := k.Seal([]byte(testPassword), PBES2SEED)
		if err != nil {
			t.Fatal(err)
		}
		got, err := OpenKey(out, []byte(testPassword))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !got.Signer.Public().(publicKeyer).Equal(s.Public()) || !bytes.Equal(got.RandomNum, k.RandomNum) ||
			len(got.otherAttrs) != 1 || !bytes.Equal(got.otherAttrs[0], other) {
			t.Fatalf("%s: not kept: randomNum %x, others %x", name, got.RandomNum, got.otherAttrs)
		}
	}
}

func TestSeal_RefusesReadOnlySchemes(t *testing.T) {
	k := &Key{Signer: testKeys(t)["ECDSA-P-256"]}
	for _, s := range []Scheme{SEEDCBCWithSHA1, SEEDCBCFixedIV, 0} {
		if _, err := k.Seal([]byte(testPassword), s); err == nil {
			t.Errorf("Seal(%v) wrote a file", s)
		}
	}
}

// TestSeal_SEEDFormat pins what the legacy option writes: PBES2, PBKDF2
// with the prf left out (hmacWithSHA1, which all NPKI readers take), no
// keyLength, SEED-CBC with a 16-byte IV.
func TestSeal_SEEDFormat(t *testing.T) {
	out, err := (&Key{Signer: testKeys(t)["ECDSA-P-256"]}).Seal([]byte(testPassword), PBES2SEED)
	if err != nil {
		t.Fatal(err)
	}
	var info encryptedPrivateKeyInfo
	var p2 pbes2Params
	var kdf pbkdf2Params
	var iv []byte
	for _, step := range []error{
		unmarshalAll(out, &info),
		unmarshalAll(info.Algorithm.Parameters.FullBytes, &p2),
		unmarshalAll(p2.KeyDerivationFunc.Parameters.FullBytes, &kdf),
		unmarshalAll(p2.EncryptionScheme.Parameters.FullBytes, &iv),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}
	if !info.Algorithm.Algorithm.Equal(oidPBES2) || !p2.EncryptionScheme.Algorithm.Equal(oidSEEDCBC) ||
		len(kdf.PRF.Algorithm) != 0 || kdf.KeyLength != 0 || len(iv) != 16 || kdf.IterationCount != iterations {
		t.Fatalf("unexpected parameters: %v %v prf=%v keyLength=%d iv=%d iter=%d",
			info.Algorithm.Algorithm, p2.EncryptionScheme.Algorithm, kdf.PRF.Algorithm, kdf.KeyLength, len(iv), kdf.IterationCount)
	}
}

func TestOpenKey_HostileKISAParameters(t *testing.T) {
	der, err := os.ReadFile("testdata/seedcbcwithsha1-rand.key")
	if err != nil {
		t.Fatal(err)
	}
	var info encryptedPrivateKeyInfo
	if err := unmarshalAll(der, &info); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]kisaPBEParams{
		"zero iterations": {Salt: []byte("saltsalt"), IterationCount: 0},
		"huge iterations": {Salt: []byte("saltsalt"), IterationCount: 1 << 30},
	} {
		params, err := asn1.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		info.Algorithm.Parameters = asn1.RawValue{FullBytes: params}
		bad, err := asn1.Marshal(info)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := OpenKey(bad, []byte(fixturePassword)); err == nil || errors.Is(err, ErrWrongPassword) {
			t.Errorf("%s: got %v, want a parameter error", name, err)
		}
	}
	for i := range der {
		if _, err := OpenKey(der[:i], []byte(fixturePassword)); err == nil {
			t.Fatalf("prefix of %d bytes opened", i)
		}
	}
}

// needSEEDOpenSSL skips unless openssl has SEED (the legacy provider).
func needSEEDOpenSSL(t *testing.T) string {
	t.Helper()
	openssl := needOpenSSL(t)
	cmd := exec.Command(openssl, "enc", "-seed-cbc", "-provider", "legacy", "-provider", "default", "-K", strings.Repeat("00", 16), "-iv", strings.Repeat("00", 16))
	cmd.Stdin = strings.NewReader("x")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("openssl has no SEED (legacy provider missing): %v: %s; the committed fixtures still cover it", err, out)
	}
	return openssl
}

// TestOpenSSLSEEDLive makes PBES2/SEED-CBC files with the installed OpenSSL
// and reads them, and has OpenSSL read the SEED files Seal writes.
func TestOpenSSLSEEDLive(t *testing.T) {
	openssl := needSEEDOpenSSL(t)
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(testPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, key := range testKeys(t) {
		plain, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		in := filepath.Join(dir, name+".pem")
		if err := os.WriteFile(in, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: plain}), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, prf := range []string{"hmacWithSHA1", "hmacWithSHA256"} {
			t.Run(name+"/openssl-writes/"+prf, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), KeyFile)
				cmd := exec.Command(openssl, "pkcs8", "-topk8", "-v2", "seed-cbc", "-v2prf", prf, "-iter", "1000",
					"-provider", "legacy", "-provider", "default",
					"-in", in, "-outform", "DER", "-out", out, "-passout", "file:"+pwFile)
				if b, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("openssl pkcs8 -topk8: %v: %s", err, b)
				}
				der, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				k, err := OpenKey(der, []byte(testPassword))
				if err != nil {
					t.Fatal(err)
				}
				if k.Scheme != PBES2SEED || !k.Signer.Public().(publicKeyer).Equal(key.Public()) {
					t.Fatalf("got scheme %v or a different key", k.Scheme)
				}
			})
		}
		t.Run(name+"/openssl-reads", func(t *testing.T) {
			der, err := (&Key{Signer: key, RandomNum: bytes.Repeat([]byte{1}, 20)}).Seal([]byte(testPassword), PBES2SEED)
			if err != nil {
				t.Fatal(err)
			}
			keyFile := filepath.Join(t.TempDir(), KeyFile)
			if err := os.WriteFile(keyFile, der, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(openssl, "pkcs8", "-inform", "DER", "-in", keyFile, "-passin", "file:"+pwFile,
				"-provider", "legacy", "-provider", "default", "-outform", "PEM").Output()
			if err != nil {
				t.Fatalf("openssl pkcs8: %v: %s", err, stderr(err))
			}
			block, _ := pem.Decode(out)
			if block == nil {
				t.Fatalf("openssl output is not PEM: %q", out)
			}
			got, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if !got.(crypto.Signer).Public().(publicKeyer).Equal(key.Public()) {
				t.Fatal("openssl recovered a different key")
			}
		})
	}
}

// TestKISAWriterLive reruns the independent Python writer in a scratch
// folder and reads what it makes, when python3 and OpenSSL's SEED exist.
func TestKISAWriterLive(t *testing.T) {
	needSEEDOpenSSL(t)
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not on PATH; the committed fixtures still cover the KISA schemes")
	}
	dir := t.TempDir()
	for _, name := range []string{"make_kisa_keys.py", "key-rsa.pem", "password.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(python, "make_kisa_keys.py")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make_kisa_keys.py: %v: %s", err, out)
	}
	for _, name := range []string{"seedcbcwithsha1-rand.key", "seedcbc-fixediv-rand.key", "pbes2-seed-rand.key"} {
		fresh, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		// The script is deterministic: a difference means the fixture and
		// the script have drifted apart.
		if !bytes.Equal(fresh, committed) {
			t.Errorf("%s: the script no longer makes the committed fixture; rerun testdata/gen.sh", name)
		}
		if _, err := OpenKey(fresh, []byte(fixturePassword)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
