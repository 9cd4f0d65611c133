package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
)

func TestCheckPublicKey_AcceptsOnlyNPKIKeySizesAndCurves(t *testing.T) {
	t.Parallel()
	rsa2048 := unitRSAKey(t, 2048)
	e3 := &rsa.PublicKey{N: new(big.Int).Set(rsa2048.N), E: 3}
	// checkPublicKey looks only at the modulus size and exponent, so
	// sizes nobody should generate in a test can be constructed.
	modulus := func(bits int) *rsa.PublicKey {
		n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
		return &rsa.PublicKey{N: n.Add(n, big.NewInt(1)), E: 65537}
	}
	edPubKey, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		pub   any
		want  string   // key type on acceptance
		frags []string // message fragments on refusal
	}{
		{name: "RSA-1024", pub: &unitRSAKey(t, 1024).PublicKey, frags: []string{"1024 bits", "2048"}},
		{name: "RSA-2048", pub: &rsa2048.PublicKey, want: "rsa2048"},
		{name: "RSA-3072", pub: &unitRSAKey(t, 3072).PublicKey, want: "rsa3072"},
		{name: "RSA-4096", pub: &unitRSAKey(t, 4096).PublicKey, want: "rsa4096"},
		{name: "RSA-2048 with exponent 3", pub: e3, frags: []string{"exponent 3", "65537"}},
		{name: "RSA-2047", pub: modulus(2047), frags: []string{"2047 bits"}},
		{name: "RSA-2049", pub: modulus(2049), frags: []string{"2049 bits"}},
		{name: "RSA-8192", pub: modulus(8192), frags: []string{"8192 bits"}},
		{name: "RSA-8192 with exponent 3", pub: &rsa.PublicKey{N: modulus(8192).N, E: 3}, frags: []string{"8192 bits"}},
		{name: "ECDSA P-224", pub: &unitECKey(t, elliptic.P224()).PublicKey, frags: []string{"P-224", "P-256"}},
		{name: "ECDSA P-256", pub: &unitECKey(t, elliptic.P256()).PublicKey, want: "ecdsa-p256"},
		{name: "ECDSA P-384", pub: &unitECKey(t, elliptic.P384()).PublicKey, want: "ecdsa-p384"},
		{name: "ECDSA P-521", pub: &unitECKey(t, elliptic.P521()).PublicKey, frags: []string{"P-521"}},
		{name: "Ed25519", pub: edPubKey, frags: []string{"ed25519", "RSA"}},
		{name: "nil", pub: nil, frags: []string{"not accepted"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, rerr := checkPublicKey(tc.pub)
			if tc.want != "" {
				if rerr != nil {
					t.Fatalf("checkPublicKey refused: %s (%s)", rerr.Reason, rerr.Msg)
				}
				if got != tc.want {
					t.Errorf("key type = %q, want %q", got, tc.want)
				}
				return
			}
			unitWantRefusal(t, rerr, KindInvalid, "weak_key", tc.frags...)
			if got != "" {
				t.Errorf("refused key still got type %q", got)
			}
		})
	}
}

func TestParseCSR_AcceptsWellSignedRequestsWithAllowedKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		want string
	}{
		{"RSA-2048", unitRSAKey(t, 2048), "rsa2048"},
		{"RSA-3072", unitRSAKey(t, 3072), "rsa3072"},
		{"RSA-4096", unitRSAKey(t, 4096), "rsa4096"},
		{"ECDSA P-256", unitECKey(t, elliptic.P256()), "ecdsa-p256"},
		{"ECDSA P-384", unitECKey(t, elliptic.P384()), "ecdsa-p384"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			csr, keyType, rerr := parseCSR(unitCSR(t, tc.key, nil))
			if rerr != nil {
				t.Fatalf("parseCSR refused: %s (%s)", rerr.Reason, rerr.Msg)
			}
			if keyType != tc.want {
				t.Errorf("key type = %q, want %q", keyType, tc.want)
			}
			want, _ := x509.MarshalPKIXPublicKey(tc.key.Public())
			got, _ := x509.MarshalPKIXPublicKey(csr.PublicKey)
			if !bytes.Equal(got, want) {
				t.Errorf("parsed CSR carries another public key")
			}
		})
	}
}

func TestParseCSR_RefusesMissingOversizedMalformedTamperedAndWeak(t *testing.T) {
	t.Parallel()
	ecKey := unitECKey(t, elliptic.P256())
	good := unitCSR(t, ecKey, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "subscriber"}})

	tamperedSig := bytes.Clone(good)
	tamperedSig[len(tamperedSig)-1] ^= 0x01 // last byte of the ECDSA signature's s

	tamperedSubject := bytes.Clone(good)
	i := bytes.Index(tamperedSubject, []byte("subscriber"))
	if i < 0 {
		t.Fatal("CN not found in CSR DER")
	}
	tamperedSubject[i] = 'S'

	// A certificate is DER too, but not a PKCS#10 request.
	ca := newUnitCA(t)

	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		der    []byte
		reason string
	}{
		{"nil", nil, "missing_csr"},
		{"empty", []byte{}, "missing_csr"},
		{"one byte over the limit", make([]byte, maxCSRSize+1), "oversized_csr"},
		{"far over the limit", make([]byte, 1<<20), "oversized_csr"},
		{"garbage at exactly the limit is parsed, not refused as oversized", bytes.Repeat([]byte{0x30}, maxCSRSize), "malformed_csr"},
		{"garbage", []byte("this is not a CSR"), "malformed_csr"},
		{"PEM instead of DER", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: good}), "malformed_csr"},
		{"a certificate", ca.cert.Raw, "malformed_csr"},
		{"trailing data", append(bytes.Clone(good), 0x00), "malformed_csr"},
		{"truncated", good[:len(good)-5], "malformed_csr"},
		{"tampered signature", tamperedSig, "bad_csr_signature"},
		{"tampered subject", tamperedSubject, "bad_csr_signature"},
		{"RSA-1024 key", unitCSR(t, unitRSAKey(t, 1024), nil), "weak_key"},
		{"ECDSA P-521 key", unitCSR(t, unitECKey(t, elliptic.P521()), nil), "weak_key"},
		{"Ed25519 key", unitCSR(t, edKey, nil), "weak_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			csr, keyType, rerr := parseCSR(tc.der)
			unitWantRefusal(t, rerr, KindInvalid, tc.reason)
			if csr != nil || keyType != "" {
				t.Errorf("refusal came with csr=%v keyType=%q", csr != nil, keyType)
			}
		})
	}
	// The untampered request passes, so the refusals above are the tampering's.
	if _, _, rerr := parseCSR(good); rerr != nil {
		t.Fatalf("untampered CSR refused: %s (%s)", rerr.Reason, rerr.Msg)
	}
}

func TestSPKIHash_IdentifiesTheKeyNotTheCertificate(t *testing.T) {
	t.Parallel()
	k1 := unitECKey(t, elliptic.P256())
	k2 := unitECKey(t, elliptic.P256())
	h1, err := spkiHash(k1.Public())
	if err != nil {
		t.Fatal(err)
	}
	h1again, _ := spkiHash(&ecdsa.PublicKey{Curve: k1.Curve, X: k1.X, Y: k1.Y})
	h2, _ := spkiHash(k2.Public())
	if len(h1) != 32 {
		t.Errorf("spkiHash length = %d, want 32 (SHA-256)", len(h1))
	}
	if !bytes.Equal(h1, h1again) {
		t.Error("the same key hashes differently")
	}
	if bytes.Equal(h1, h2) {
		t.Error("two keys hash the same")
	}
	if _, err := spkiHash(struct{}{}); err == nil {
		t.Error("spkiHash of a non-key succeeded")
	}
}
