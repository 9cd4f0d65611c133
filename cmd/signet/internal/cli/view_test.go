package cli

import (
	"strings"
	"testing"
)

func TestCheckSerial(t *testing.T) {
	tests := []struct{ in, want string }{
		{"444f2fc0ff5f7d200a7811e615f6dcbdd484b78b", "444f2fc0ff5f7d200a7811e615f6dcbdd484b78b"},
		{"0x00AB", "ab"},
		{" 0A:bc:01 ", "abc01"},
	}
	for _, tt := range tests {
		if got, err := CheckSerial(tt.in); err != nil || got != tt.want {
			t.Errorf("checkSerial(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "0", "+1a", "-1a", "xyz", "1_0", strings.Repeat("f", 65)} {
		if got, err := CheckSerial(bad); err == nil {
			t.Errorf("checkSerial(%q) = %q, want an error", bad, got)
		}
	}
}
