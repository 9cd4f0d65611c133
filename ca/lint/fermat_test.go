package lint

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"math/big"
	"slices"
	"testing"

	zrsa "github.com/zmap/zcrypto/rsa"
	zx509 "github.com/zmap/zcrypto/x509"
	zl "github.com/zmap/zlint/v3/lint"
)

// closePrimes returns n = p·q with q the first prime at least gap above a random prime p of the given size.
func closePrimes(t testing.TB, primeBits int, gap *big.Int) *big.Int {
	t.Helper()
	p, err := rand.Prime(rand.Reader, primeBits)
	if err != nil {
		t.Fatal(err)
	}
	q := new(big.Int).Add(p, gap)
	q.SetBit(q, 0, 1)
	for !q.ProbablyPrime(20) {
		q.Add(q, big.NewInt(2))
	}
	return new(big.Int).Mul(p, q)
}

// TestFermat_AgreesWithZlint runs Signet's sieved Fermat lint and zlint's original on the same moduli, with
// prime gaps from "factored at once" through the 100-round boundary (about 2^261 for 512-bit primes) to
// "out of reach", so that the speed-up cannot change a verdict unnoticed.
func TestFermat_AgreesWithZlint(t *testing.T) {
	original := zl.GlobalRegistry().CertificateLints().ByName("e_rsa_fermat_factorization")
	if original == nil {
		t.Fatal("zlint no longer has e_rsa_fermat_factorization")
	}
	var found, missed int
	for _, gapBits := range []uint{200, 259, 260, 260, 261, 261, 261, 262, 262, 263, 300} {
		n := closePrimes(t, 512, new(big.Int).Lsh(big.NewInt(1), gapBits))
		cert := &zx509.Certificate{PublicKeyAlgorithm: zx509.RSA, PublicKey: &zrsa.PublicKey{N: n, E: big.NewInt(65537)}}
		want := original.Execute(cert, zl.NewEmptyConfig()).Status
		got := fermat{}.Execute(cert).Status
		if got != want {
			t.Errorf("gap 2^%d: Signet's lint says %v, zlint's says %v", gapBits, got, want)
		}
		if p, q, ok := fermatFactor(n, fermatRounds); ok {
			found++
			if new(big.Int).Mul(p, q).Cmp(n) != 0 {
				t.Errorf("gap 2^%d: p·q != n", gapBits)
			}
		} else {
			missed++
		}
	}
	if found == 0 || missed == 0 {
		t.Fatalf("the gaps should give both verdicts: %d factored, %d not", found, missed)
	}
}

func TestSubscriber_RefusesFermatFactorableKey(t *testing.T) {
	l := newLinter(t)
	n := closePrimes(t, 1024, new(big.Int).Lsh(big.NewInt(1), 100))
	issuerKey, _ := keys()
	tmpl := signetTemplate(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, testIssuer(), &rsa.PublicKey{N: n, E: 65537}, issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	if got := lintNames(t, l.Subscriber(der)); !slices.Equal(got, []string{"e_npki_rsa_fermat_factorization"}) {
		t.Fatalf("Subscriber findings %v", got)
	}
	if got := lintNames(t, l.Infrastructure(der)); !slices.Equal(got, []string{"e_rsa_fermat_factorization"}) {
		t.Fatalf("Infrastructure findings %v", got)
	}
}
