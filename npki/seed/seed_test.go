package seed

import (
	"bufio"
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRFC4269Vectors checks the four single-block test vectors of RFC 4269
// Appendix B (B.1 to B.4), both directions.
func TestRFC4269Vectors(t *testing.T) {
	for _, v := range []struct{ name, key, pt, ct string }{
		{"B.1", "00000000000000000000000000000000", "000102030405060708090A0B0C0D0E0F", "5EBAC6E0054E166819AFF1CC6D346CDB"},
		{"B.2", "000102030405060708090A0B0C0D0E0F", "00000000000000000000000000000000", "C11F22F20140505084483597E4370F43"},
		{"B.3", "4706480851E61BE85D74BFB3FD956185", "83A2F8A288641FB9A4E9A5CC2F131C7D", "EE54D13EBCAE706D226BC3142CD40D4A"},
		{"B.4", "28DBC3BC49FFD87DCFA509B11D422BE7", "B41E6BE2EBA84A148E2EED84593C5EC7", "9B9B7BFCD1813CB95D0B3618F40F5122"},
	} {
		t.Run(v.name, func(t *testing.T) {
			b, err := NewCipher(unhex(t, v.key))
			if err != nil {
				t.Fatal(err)
			}
			pt, ct := unhex(t, v.pt), unhex(t, v.ct)
			got := make([]byte, BlockSize)
			b.Encrypt(got, pt)
			if !bytes.Equal(got, ct) {
				t.Errorf("Encrypt = %X, want %X", got, ct)
			}
			b.Decrypt(got, ct)
			if !bytes.Equal(got, pt) {
				t.Errorf("Decrypt = %X, want %X", got, pt)
			}
			// In place.
			buf := bytes.Clone(pt)
			b.Encrypt(buf, buf)
			if !bytes.Equal(buf, ct) {
				t.Errorf("in-place Encrypt = %X, want %X", buf, ct)
			}
		})
	}
}

// TestSBoxes pins the first SS0 entry and S-box values printed in RFC 4269
// Appendix A (SS0[0] = 0x2989a1a8, i.e. S1(0) = 0xa9 = 169) and checks
// that both S-boxes are permutations, as an affine map of a power
// permutation must be.
func TestSBoxes(t *testing.T) {
	if ss[0][0] != 0x2989a1a8 {
		t.Errorf("SS0[0] = %#08x, want 0x2989a1a8", ss[0][0])
	}
	for i, tab := range [][256]byte{sbox(a1, 247, 169), sbox(a2, 251, 56)} {
		var seen [256]bool
		for _, y := range tab {
			if seen[y] {
				t.Fatalf("S%d is not a permutation", i+1)
			}
			seen[y] = true
		}
	}
}

func TestKeySize(t *testing.T) {
	for _, n := range []int{0, 15, 17, 24, 32} {
		_, err := NewCipher(make([]byte, n))
		var kse KeySizeError
		if !errors.As(err, &kse) || int(kse) != n {
			t.Errorf("key of %d bytes: got %v, want KeySizeError(%d)", n, err, n)
		}
	}
}

type vector struct{ key, iv, pt, ct []byte }

// TestOpenSSLFixtures checks committed SEED-CBC vectors made by OpenSSL's
// legacy provider (testdata/gen-openssl-vectors.sh), so the cross-check runs
// on machines without OpenSSL too.
func TestOpenSSLFixtures(t *testing.T) {
	f, err := os.Open("testdata/openssl-seed-cbc.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 4 {
			t.Fatalf("bad fixture line %q", line)
		}
		vs = append(vs, vector{unhex(t, fields[0]), unhex(t, fields[1]), unhex(t, fields[2]), unhex(t, fields[3])})
	}
	if len(vs) < 8 {
		t.Fatalf("only %d vectors in the fixture", len(vs))
	}
	for _, v := range vs {
		checkCBC(t, v)
	}
}

func checkCBC(t *testing.T, v vector) {
	t.Helper()
	b, err := NewCipher(v.key)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(v.pt))
	cipher.NewCBCEncrypter(b, v.iv).CryptBlocks(got, v.pt)
	if !bytes.Equal(got, v.ct) {
		t.Fatalf("key %x: CBC encrypt = %x, want %x", v.key, got, v.ct)
	}
	cipher.NewCBCDecrypter(b, v.iv).CryptBlocks(got, v.ct)
	if !bytes.Equal(got, v.pt) {
		t.Fatalf("key %x: CBC decrypt = %x, want %x", v.key, got, v.pt)
	}
}

// TestOpenSSLLive encrypts random data with `openssl enc -seed-cbc` and
// compares, when an OpenSSL with the legacy provider is installed.
func TestOpenSSLLive(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not on PATH: the committed fixtures (TestOpenSSLFixtures) still cover SEED-CBC")
	}
	probe := exec.Command(openssl, "enc", "-seed-cbc", "-provider", "legacy", "-provider", "default",
		"-K", strings.Repeat("00", 16), "-iv", strings.Repeat("00", 16))
	probe.Stdin = strings.NewReader("x")
	if out, err := probe.CombinedOutput(); err != nil {
		t.Skipf("openssl has no SEED (legacy provider missing?): %v: %s", err, out)
	}
	for n := 1; n <= 64; n *= 2 {
		v := vector{key: make([]byte, 16), iv: make([]byte, 16), pt: make([]byte, 16*n)}
		for _, b := range [][]byte{v.key, v.iv, v.pt} {
			if _, err := rand.Read(b); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(openssl, "enc", "-seed-cbc", "-nopad", "-provider", "legacy", "-provider", "default",
			"-K", hex.EncodeToString(v.key), "-iv", hex.EncodeToString(v.iv))
		cmd.Stdin = bytes.NewReader(v.pt)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openssl enc: %v", err)
		}
		v.ct = out
		checkCBC(t, v)
	}
}

func BenchmarkEncrypt(b *testing.B) {
	c, err := NewCipher(make([]byte, 16))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 16)
	b.SetBytes(BlockSize)
	for b.Loop() {
		c.Encrypt(buf, buf)
	}
}

func BenchmarkCBCDecrypt4K(b *testing.B) {
	c, err := NewCipher(make([]byte, 16))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 4096)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		cipher.NewCBCDecrypter(c, make([]byte, 16)).CryptBlocks(buf, buf)
	}
}
