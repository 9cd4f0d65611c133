package seed

// The S-boxes are computed from their algebraic definition in RFC 4269
// §2.3 rather than typed in: S1(x) = A1·x^247 ⊕ 169 and S2(x) = A2·x^251 ⊕
// 56 in GF(2^8) modulo p(x) = x^8+x^6+x^5+x+1, where A1 and A2 are the
// 8×8 binary matrices below. Row i gives output bit i; column j takes input
// bit j (bit 0 is the least significant). The tables are checked against
// the RFC's Appendix B vectors and against OpenSSL.
var (
	a1 = [8]string{
		"00101000",
		"00010001",
		"10000100",
		"10100010",
		"01000010",
		"10100001",
		"01111111",
		"01010001",
	}
	a2 = [8]string{
		"00101000",
		"01000010",
		"00010001",
		"01010001",
		"10000100",
		"01111111",
		"10100001",
		"10100010",
	}
)

// The masks of the G function, RFC 4269 §2.3: m0 = 0xfc, m1 = 0xf3,
// m2 = 0xcf, m3 = 0x3f.
const (
	m0 = 0xfc
	m1 = 0xf3
	m2 = 0xcf
	m3 = 0x3f
)

// ss are the SS-boxes of RFC 4269 §2.3 (listed in its Appendix A):
// G(X3||X2||X1||X0) = SS3[X3] ^ SS2[X2] ^ SS1[X1] ^ SS0[X0].
var ss = func() (t [4][256]uint32) {
	s1, s2 := sbox(a1, 247, 169), sbox(a2, 251, 56)
	pack := func(y byte, b3, b2, b1, b0 byte) uint32 {
		return uint32(y&b3)<<24 | uint32(y&b2)<<16 | uint32(y&b1)<<8 | uint32(y&b0)
	}
	for x := range 256 {
		t[0][x] = pack(s1[x], m3, m2, m1, m0)
		t[1][x] = pack(s2[x], m0, m3, m2, m1)
		t[2][x] = pack(s1[x], m1, m0, m3, m2)
		t[3][x] = pack(s2[x], m2, m1, m0, m3)
	}
	return t
}()

// sbox tabulates x ↦ A·x^e ⊕ b.
func sbox(a [8]string, e int, b byte) (s [256]byte) {
	for x := range 256 {
		y := gfPow(byte(x), e)
		var out byte
		for i, row := range a {
			var bit byte
			for j := range 8 {
				if row[j] == '1' {
					bit ^= y >> j & 1
				}
			}
			out |= bit << i
		}
		s[x] = out ^ b
	}
	return s
}

// gfMul multiplies in GF(2^8) modulo x^8+x^6+x^5+x+1 (0x163).
func gfMul(a, b byte) byte {
	var r byte
	for b != 0 {
		if b&1 != 0 {
			r ^= a
		}
		b >>= 1
		hi := a & 0x80
		a <<= 1
		if hi != 0 {
			a ^= 0x63
		}
	}
	return r
}

func gfPow(x byte, e int) byte {
	r := byte(1)
	for range e {
		r = gfMul(r, x)
	}
	return r
}
