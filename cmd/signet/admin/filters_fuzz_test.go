package admin

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// FuzzAdminFilters feeds arbitrary text to the parsers of `signet admin`'s
// filter flags. A refusal must never panic and must quote what was typed
// (so the operator sees which flag value was wrong); an accepted value
// must be positive where a length is asked for and must round-trip: its
// canonical form parses to the same value.
func FuzzAdminFilters(f *testing.F) {
	for _, s := range []string{"30d", "1d12h", "36h", "90m", "0d", "-1d", "d", "2026-03-31",
		"2026-03-01T09:00:00+09:00", "2026-02-30", "36600d", "36601d", "9223372036854775807d", "1d-1h", "active"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		quoted := fmt.Sprintf("%q", s)
		if d, err := parseSpan(s); err != nil {
			if !strings.Contains(err.Error(), quoted) {
				t.Fatalf("parseSpan(%q) refused without quoting it: %v", s, err)
			}
		} else {
			if d <= 0 {
				t.Fatalf("parseSpan(%q) = %v, want a positive length", s, d)
			}
			if again, err := parseSpan(d.String()); err != nil || again != d {
				t.Fatalf("parseSpan(%q) = %v, but %q parses to %v, %v", s, d, d.String(), again, err)
			}
		}
		if n, err := parseWholeDays(s); err == nil {
			if n <= 0 {
				t.Fatalf("parseWholeDays(%q) = %d", s, n)
			}
			if again, err := parseWholeDays(fmt.Sprintf("%dd", n)); err != nil || again != n {
				t.Fatalf("parseWholeDays(%q) = %d, but %dd parses to %d, %v", s, n, n, again, err)
			}
		} else if !strings.Contains(err.Error(), quoted) {
			t.Fatalf("parseWholeDays(%q) refused without quoting it: %v", s, err)
		}
		for _, end := range []bool{false, true} {
			at, err := parseInstant(s, end)
			if err != nil {
				if !strings.Contains(err.Error(), quoted) {
					t.Fatalf("parseInstant(%q) refused without quoting it: %v", s, err)
				}
				continue
			}
			if again, err := parseInstant(at.Format(time.RFC3339Nano), end); err != nil || !again.Equal(at) {
				t.Fatalf("parseInstant(%q) = %v, but its RFC 3339 form parses to %v, %v", s, at, again, err)
			}
		}
		if st, err := parseStatus(s); err == nil && st == 0 {
			t.Fatalf("parseStatus(%q) accepted the unspecified status", s)
		}
	})
}
