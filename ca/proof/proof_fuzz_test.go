package proof_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/signet-ca/signet/ca/proof"
)

// FuzzVerifyProof feeds arbitrary text to proof.Verify. A refusal must
// never panic and must be a *proof.Error (a message for the holder); an
// accepted proof must be for this audience and method, name the serial of
// the certificate that signed it, and carry a jti.
func FuzzVerifyProof(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x5eed), Subject: pkix.Name{CommonName: "홍길동()0880012345678901"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		f.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range []proof.Claims{
		{Audience: aud, Method: method, IssuedAt: now.Unix(), JTI: "j1", Serial: proof.SerialHex(cert)},
		{Audience: aud, Method: method, IssuedAt: now.Unix(), JTI: "j2", Serial: proof.SerialHex(cert), Binding: proof.BindReason("keyCompromise")},
		{Audience: "elsewhere", Method: method, IssuedAt: now.Unix(), JTI: "j3", Serial: proof.SerialHex(cert)},
		{Audience: aud, Method: method, IssuedAt: now.Add(-time.Hour).Unix(), JTI: "j4", Serial: proof.SerialHex(cert)},
	} {
		tok, err := proof.Sign(cert, key, c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, token string) {
		v, err := proof.Verify(token, aud, method, now)
		if err != nil {
			var perr *proof.Error
			if !errors.As(err, &perr) || perr.Msg == "" {
				t.Fatalf("refusal is not a *proof.Error: %T %v", err, err)
			}
			return
		}
		c := v.Claims
		if c.Audience != aud || c.Method != method || c.JTI == "" || c.Serial != proof.SerialHex(v.Certificate) {
			t.Fatalf("accepted a proof with claims %+v for certificate %s", c, proof.SerialHex(v.Certificate))
		}
	})
}
