package signer

// Moving the CA key into an HSM must be a configuration change: the same
// New, the same recorded path (Prepare, Reserve, Sign through smallstep
// softcas), only Config.KMS and Config.Key differ. This test proves it
// against SoftHSM2.
//
// Requirements (otherwise the test skips): cgo, and the Debian package
// softhsm2 (pulls in libsofthsm2, which ships the module
// /usr/lib/softhsm/libsofthsm2.so, and softhsm2-util).

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io/fs"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.step.sm/crypto/kms"
	kmsapi "go.step.sm/crypto/kms/apiv1"
	// Package ca registers the PKCS#11 key manager for the server
	// (ca/kms_backends.go); this package's tests register it themselves.
	_ "go.step.sm/crypto/kms/pkcs11"

	"github.com/signet-ca/signet/store/storetest"
)

// pkcs11SoftHSMModules are where distributions put the SoftHSM2 module.
var pkcs11SoftHSMModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so", // Debian/Ubuntu (libsofthsm2)
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so", // Fedora/RHEL
	"/usr/local/lib/softhsm/libsofthsm2.so",
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",
}

const (
	pkcs11TestToken = "signet"
	pkcs11TestPIN   = "1234"
	pkcs11TestSOPIN = "5678"
)

func TestNew_PKCS11KeyIsAConfigurationChange(t *testing.T) {
	module := ""
	for _, p := range pkcs11SoftHSMModules {
		if _, err := os.Stat(p); err == nil {
			module = p
			break
		}
	}
	if module == "" {
		t.Skipf("SoftHSM2 PKCS#11 module not found (looked in %s): install the Debian package softhsm2 to run this test",
			strings.Join(pkcs11SoftHSMModules, ", "))
	}
	softhsmUtil, err := exec.LookPath("softhsm2-util")
	if err != nil {
		t.Skip("softhsm2-util not on PATH: install the Debian package softhsm2 to run this test")
	}

	// A private SoftHSM2 world inside the test's temp dir.
	dir := t.TempDir()
	tokenDir := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokenDir, 0o700); err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "softhsm2.conf")
	conf := "directories.tokendir = " + tokenDir + "\n" +
		"objectstore.backend = file\n" +
		"log.level = ERROR\n" +
		"slots.removable = false\n"
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", confPath)

	out, err := exec.Command(softhsmUtil, "--init-token", "--free",
		"--label", pkcs11TestToken, "--pin", pkcs11TestPIN, "--so-pin", pkcs11TestSOPIN).CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}

	ctx := context.Background()
	kmsURI := "pkcs11:module-path=" + module + ";token=" + pkcs11TestToken + "?pin-value=" + pkcs11TestPIN

	// Generate the CA keys inside the token. This KMS handle is closed
	// before New runs, so New must find the keys in the token itself, not
	// in anything this process still holds.
	keys := []struct {
		name string
		uri  string
		alg  kmsapi.SignatureAlgorithm
		bits int
	}{
		{"ECDSA-P256", "pkcs11:id=7331;object=signet-ca", kmsapi.ECDSAWithSHA256, 0},
		{"RSA-2048", "pkcs11:id=7332;object=signet-ca-rsa", kmsapi.SHA256WithRSA, 2048},
	}
	pubs := make(map[string]crypto.PublicKey, len(keys))
	func() {
		km, err := kms.New(ctx, kmsapi.Options{URI: kmsURI})
		if err != nil {
			if strings.Contains(err.Error(), "without cgo") {
				t.Skipf("go.step.sm/crypto/kms/pkcs11 unavailable: %v", err)
			}
			t.Fatalf("kms.New(%q): %v", kmsURI, err)
		}
		defer func() {
			if err := km.Close(); err != nil {
				t.Errorf("close setup kms: %v", err)
			}
		}()
		for _, k := range keys {
			resp, err := km.CreateKey(&kmsapi.CreateKeyRequest{Name: k.uri, SignatureAlgorithm: k.alg, Bits: k.bits})
			if err != nil {
				t.Fatalf("CreateKey(%s): %v", k.uri, err)
			}
			pubs[k.name] = resp.PublicKey
		}
	}()

	// A throwaway root whose key lives only in memory.
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rootTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Signet PKCS11 Test Root"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		t.Fatal(err)
	}
	lint := newLinter(t)
	db, _ := storetest.Open(t)

	for i, k := range keys {
		t.Run(k.name, func(t *testing.T) {
			// The intermediate certifies the public half of the HSM key.
			interTmpl := &x509.Certificate{
				SerialNumber:          big.NewInt(int64(100 + i)),
				Subject:               pkix.Name{CommonName: "Signet PKCS11 Test Intermediate " + k.name},
				NotBefore:             now.Add(-time.Hour),
				NotAfter:              now.Add(12 * time.Hour),
				IsCA:                  true,
				BasicConstraintsValid: true,
				MaxPathLenZero:        true,
				KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
			}
			interDER, err := x509.CreateCertificate(rand.Reader, interTmpl, root, pubs[k.name], rootKey)
			if err != nil {
				t.Fatal(err)
			}
			inter, err := x509.ParseCertificate(interDER)
			if err != nil {
				t.Fatal(err)
			}
			chainPath := filepath.Join(dir, "chain-"+k.name+".pem")
			var chainPEM bytes.Buffer
			for _, der := range [][]byte{interDER, rootDER} {
				if err := pem.Encode(&chainPEM, &pem.Block{Type: "CERTIFICATE", Bytes: der}); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(chainPath, chainPEM.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}

			// The configuration change: KMS and Key are PKCS#11 URIs.
			s, err := New(ctx, Config{Chain: chainPath, KMS: kmsURI, Key: k.uri}, lint)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			switch key := caKey(t, s); key.(type) {
			case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
				t.Fatalf("signer key is an in-memory %T, want a PKCS#11 handle", key)
			}
			if !bytes.Equal(s.Issuer().Raw, inter.Raw) || len(s.Chain()) != 2 {
				t.Fatalf("signer chain: issuer %q, %d certificates", s.Issuer().Subject, len(s.Chain()))
			}

			// Issue a subscriber certificate through the recorded path.
			leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
				Subject: pkix.Name{CommonName: subscriberCN},
			}, leafKey)
			if err != nil {
				t.Fatal(err)
			}
			csr, err := x509.ParseCertificateRequest(csrDER)
			if err != nil {
				t.Fatal(err)
			}
			// Under a day, so within the test intermediate's twelve hours.
			tmpl := subscriberTemplate(t)
			tmpl.PublicKey = csr.PublicKey
			tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Minute).Truncate(time.Second), now.Add(time.Hour).Truncate(time.Second)
			p, err := s.Prepare(Subscriber, tmpl, csr)
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if err := s.Reserve(ctx, db, p, Reason{Purpose: "issue", RequestID: "pkcs11-test-" + k.name, Actor: "test"}, now); err != nil {
				t.Fatalf("Reserve: %v", err)
			}
			leaf, err := s.Sign(p)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if !bytes.Equal(leaf.RawTBSCertificate, p.TBS) {
				t.Fatal("the HSM signed another TBS than the one linted and recorded")
			}
			if err := leaf.CheckSignatureFrom(inter); err != nil {
				t.Fatalf("leaf not signed by the HSM key: %v", err)
			}
			roots, inters := x509.NewCertPool(), x509.NewCertPool()
			roots.AddCert(root)
			inters.AddCert(inter)
			if _, err := leaf.Verify(x509.VerifyOptions{
				Roots:         roots,
				Intermediates: inters,
				KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
				CurrentTime:   now,
			}); err != nil {
				t.Fatalf("leaf does not verify against root+intermediate: %v", err)
			}
			leafPub, err := x509.MarshalPKIXPublicKey(leaf.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			wantPub, _ := x509.MarshalPKIXPublicKey(leafKey.Public())
			if !bytes.Equal(leafPub, wantPub) {
				t.Fatal("leaf certifies the wrong public key")
			}
			t.Logf("issued %q (sig %s) under %q via %s, issuer id %s",
				leaf.Subject.CommonName, leaf.SignatureAlgorithm, inter.Subject.CommonName, k.uri, s.ID())
		})
	}

	t.Run("MissingKeyIsRefused", func(t *testing.T) {
		chainPath := filepath.Join(dir, "chain-ECDSA-P256.pem")
		if _, err := os.Stat(chainPath); err != nil {
			t.Skip("ECDSA subtest did not write its chain")
		}
		_, err := New(ctx, Config{Chain: chainPath, KMS: kmsURI, Key: "pkcs11:id=dead;object=not-there"}, lint)
		if err == nil {
			t.Fatal("New succeeded with a key that is not in the token")
		}
		t.Logf("refused as expected: %v", err)
	})

	// The private keys never existed as files: outside SoftHSM's token
	// directory the test wrote only the config and the chains, and no file
	// anywhere (token objects included) holds a parseable private key.
	tokenFiles := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		switch {
		case strings.HasPrefix(rel, "tokens"+string(filepath.Separator)):
			tokenFiles++
		case rel == "softhsm2.conf", strings.HasPrefix(rel, "chain-") && strings.HasSuffix(rel, ".pem"):
		default:
			t.Errorf("unexpected file %s", rel)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("PRIVATE KEY")) {
			t.Errorf("%s contains a PEM private key", rel)
		}
		ders := [][]byte{b}
		for rest := b; ; {
			var blk *pem.Block
			if blk, rest = pem.Decode(rest); blk == nil {
				break
			}
			ders = append(ders, blk.Bytes)
		}
		for _, der := range ders {
			if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
				t.Errorf("%s holds a PKCS#8 private key", rel)
			}
			if _, err := x509.ParseECPrivateKey(der); err == nil {
				t.Errorf("%s holds an EC private key", rel)
			}
			if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
				t.Errorf("%s holds a PKCS#1 private key", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if tokenFiles == 0 {
		t.Fatal("no SoftHSM object files under tokens/: the keys were not created in this token")
	}
}
