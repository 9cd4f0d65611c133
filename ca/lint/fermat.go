package lint

import (
	"math/big"
	"math/bits"

	"github.com/zmap/zcrypto/rsa"
	"github.com/zmap/zcrypto/x509"
	zl "github.com/zmap/zlint/v3/lint"
	"github.com/zmap/zlint/v3/util"
)

// fermatRounds is the number of Fermat steps zlint's e_rsa_fermat_factorization takes by default (and
// Boulder's goodkey): primes that close are not independent draws.
const fermatRounds = 100

func init() {
	zl.RegisterCertificateLint(&zl.CertificateLint{
		LintMetadata: zl.LintMetadata{
			Name: "e_npki_rsa_fermat_factorization",
			Description: "the RSA modulus does not yield to 100 rounds of Fermat factorization; the same test as " +
				"zlint's e_rsa_fermat_factorization, with a square sieve so that it fits the issuance path",
			Citation:      "Signet: https://fermatattack.secvuln.info/ (as zlint e_rsa_fermat_factorization)",
			Source:        sourceNPKI,
			EffectiveDate: util.ZeroDate,
		},
		Lint: func() zl.CertificateLintInterface { return fermat{} },
	})
}

type fermat struct{}

func (fermat) CheckApplies(c *x509.Certificate) bool {
	_, ok := c.PublicKey.(*rsa.PublicKey)
	return ok && c.PublicKeyAlgorithm == x509.RSA
}

func (fermat) Execute(c *x509.Certificate) *zl.LintResult {
	if p, q, ok := fermatFactor(c.PublicKey.(*rsa.PublicKey).N, fermatRounds); ok {
		return errorf("the RSA modulus factors by Fermat's method into p: %s; q: %s", p, q)
	}
	return pass()
}

// sieveModulus is 64·63·65·11. A perfect square is a square modulo each factor, and only about 1 in 120
// numbers passes all four, so the costly big.Int square root runs about once per 100 rounds instead of
// every round (zlint's version spends ~0.5 ms per 2048-bit key on it).
const sieveModulus = 64 * 63 * 65 * 11

var squareMod64, squareMod63, squareMod65, squareMod11 = squares(64), squares(63), squares(65), squares(11)

func squares(m int) []bool {
	s := make([]bool, m)
	for i := range m {
		s[i*i%m] = true
	}
	return s
}

func maybeSquare(r uint64) bool {
	return squareMod64[r%64] && squareMod63[r%63] && squareMod65[r%65] && squareMod11[r%11]
}

// modSmall returns x mod m for x ≥ 0 without allocating.
func modSmall(x *big.Int, m uint64) uint64 {
	var r uint64
	words := x.Bits()
	for i := len(words) - 1; i >= 0; i-- {
		if bits.UintSize == 64 {
			r = bits.Rem64(r, uint64(words[i]), m)
		} else {
			r = (r<<32 | uint64(words[i])) % m
		}
	}
	return r
}

// fermatFactor walks a = ⌈√n⌉, ⌈√n⌉+1, … for the given rounds, looking for a² − n = b², as zlint's
// checkPrimeFactorsTooClose does (so p, q = a ± b). b² is kept by adding 2a+1 per step rather than squaring
// a again, and its residue is kept beside it so that most rounds cost no big-number work beyond two additions.
func fermatFactor(n *big.Int, rounds int) (p, q *big.Int, ok bool) {
	one, two := big.NewInt(1), big.NewInt(2)
	a := new(big.Int).Sqrt(n)
	a.Add(a, one)
	b2 := new(big.Int).Mul(a, a)
	b2.Sub(b2, n)
	step := new(big.Int).Lsh(a, 1) // 2a+1 takes b² from a to a+1
	step.Add(step, one)

	r, rStep := modSmall(b2, sieveModulus), modSmall(step, sieveModulus)
	b, bb := new(big.Int), new(big.Int)
	for i := 0; i < rounds; i++ {
		if maybeSquare(r) {
			b.Sqrt(b2)
			if bb.Mul(b, b).Cmp(b2) == 0 {
				a.Add(a, big.NewInt(int64(i)))
				return new(big.Int).Add(a, b), new(big.Int).Sub(a, b), true
			}
		}
		b2.Add(b2, step)
		step.Add(step, two)
		r = (r + rStep) % sieveModulus
		rStep = (rStep + 2) % sieveModulus
	}
	return nil, nil, false
}
