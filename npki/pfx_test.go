package npki

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

func selfSigned(t *testing.T, k *Key, cn string, parent *x509.Certificate, parentKey *Key) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: parent == nil, BasicConstraintsValid: true}
	if parent == nil {
		parent, parentKey = tmpl, k
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, k.Signer.Public(), parentKey.Signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The PFX is checked by two other implementations: go-pkcs12 decodes it
// (MAC, key, chain), and OpenSSL verifies the MAC and prints the key's
// PKCS#8 attributes, where randomNum must be.
func TestEncodePFX_KeepsRandomNumAndOthersReadIt(t *testing.T) {
	keys := testKeys(t)
	r := bytes.Repeat([]byte{0x5a}, 20)
	r[0] = 0x01
	ca := &Key{Signer: keys["ECDSA-P-384"]}
	caCert := selfSigned(t, ca, "PFX Test CA", nil, nil)
	for _, name := range []string{"RSA-2048", "ECDSA-P-256"} {
		t.Run(name, func(t *testing.T) {
			k := &Key{Signer: keys[name], RandomNum: r}
			cert := selfSigned(t, k, "홍길동()0008812345678901234", caCert, ca)
			pfx, err := k.EncodePFX(cert, []*x509.Certificate{caCert}, []byte(testPassword), 2048)
			if err != nil {
				t.Fatal(err)
			}
			priv, leaf, chain, err := pkcs12.DecodeChain(pfx, testPassword)
			if err != nil {
				t.Fatalf("go-pkcs12 cannot read it: %v", err)
			}
			if !leaf.Equal(cert) || len(chain) != 1 || !chain[0].Equal(caCert) {
				t.Errorf("go-pkcs12 read leaf %v and %d chain certificates", leaf.Subject, len(chain))
			}
			if !k.Signer.Public().(publicKeyer).Equal(priv.(crypto.Signer).Public()) {
				t.Error("go-pkcs12 read another key")
			}
			if _, _, _, err := pkcs12.DecodeChain(pfx, testPassword+"x"); err == nil {
				t.Error("go-pkcs12 accepted a wrong password: the MAC is not checked")
			}
			got, err := PFXRandomNum(pfx, []byte(testPassword))
			if err != nil || !bytes.Equal(got, r) {
				t.Errorf("PFXRandomNum = %x, %v; want %x", got, err, r)
			}

			if _, err := exec.LookPath("openssl"); err != nil {
				t.Skip("openssl not on PATH")
			}
			dir := t.TempDir()
			path, pw := filepath.Join(dir, "x.p12"), filepath.Join(dir, "pw")
			if err := os.WriteFile(path, pfx, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(pw, []byte(testPassword+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("openssl", "pkcs12", "-in", path, "-passin", "file:"+pw, "-nocerts", "-noenc", "-info").CombinedOutput()
			if err != nil {
				t.Fatalf("openssl pkcs12: %v\n%s", err, out)
			}
			text := string(out)
			if !strings.Contains(text, "MAC: sha256") || !strings.Contains(text, "PRIVATE KEY") {
				t.Errorf("openssl's view lacks the SHA-256 MAC or the key:\n%s", text)
			}
			// OpenSSL prints PKCS#8 attributes under "Key Attributes", by OID.
			if !strings.Contains(text, "1.2.410.200004.10.1.1.3") || !strings.Contains(strings.ToUpper(strings.ReplaceAll(text, " ", "")), strings.ToUpper(hex.EncodeToString(r))[:16]) {
				t.Errorf("openssl does not show randomNum among the key's attributes:\n%s", text)
			}
			bad := filepath.Join(dir, "bad")
			if err := os.WriteFile(bad, []byte("wrong\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("openssl", "pkcs12", "-in", path, "-passin", "file:"+bad, "-nocerts", "-noenc").CombinedOutput(); err == nil {
				t.Errorf("openssl accepted a wrong password:\n%s", out)
			}
		})
	}
}

// A PFX written by go-pkcs12 (no attributes) yields no randomNum, and no error.
func TestPFXRandomNum_NoneInAnotherWritersFile(t *testing.T) {
	keys := testKeys(t)
	k := &Key{Signer: keys["ECDSA-P-256"]}
	cert := selfSigned(t, k, "x", nil, nil)
	pfx, err := pkcs12.Modern.Encode(k.Signer, cert, nil, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := PFXRandomNum(pfx, []byte(testPassword)); r != nil || err != nil {
		t.Errorf("PFXRandomNum = %x, %v; want nothing", r, err)
	}
	if _, err := PFXRandomNum([]byte("not der"), []byte(testPassword)); err == nil {
		t.Error("PFXRandomNum accepted garbage")
	}
}
