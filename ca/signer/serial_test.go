package signer

import (
	"encoding/asn1"
	"encoding/hex"
	"testing"
)

func TestNewSerial_Is20PositiveDistinctDEROctets(t *testing.T) {
	t.Parallel()
	const n = 1000
	seen := make(map[string]bool, n)
	for i := 0; i < n; i++ {
		s, err := NewSerial()
		if err != nil {
			t.Fatalf("NewSerial: %v", err)
		}
		if s.Sign() <= 0 {
			t.Fatalf("serial %x is not positive", s)
		}
		der, err := asn1.Marshal(s)
		if err != nil {
			t.Fatalf("marshal serial: %v", err)
		}
		// INTEGER tag, short length 20, then exactly 20 content octets.
		if len(der) != 22 || der[0] != 0x02 || der[1] != 20 {
			t.Fatalf("serial %x encodes as % x, want INTEGER of 20 octets", s, der)
		}
		content := der[2:]
		if content[0]&0x80 != 0 {
			t.Fatalf("serial %x: first content octet %#x has the top bit set", s, content[0])
		}
		if content[0] == 0 {
			t.Fatalf("serial %x: first content octet is zero (would not be minimal with 20 octets)", s)
		}
		if b := s.Bytes(); len(b) != 20 {
			t.Fatalf("serial %x is %d bytes, want 20", s, len(b))
		}
		k := hex.EncodeToString(content)
		if seen[k] {
			t.Fatalf("serial %s repeated after %d serials", k, i)
		}
		seen[k] = true
	}
}
