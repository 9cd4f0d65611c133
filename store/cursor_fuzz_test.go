package store

import (
	"errors"
	"testing"
	"time"
)

// FuzzPageToken feeds arbitrary text to the admin listings' page token
// parsers, which read what a client sends back. A refusal must never
// panic and must be ErrBadPageToken (INVALID_ARGUMENT at the edge, never
// INTERNAL); an accepted token must encode back to a token that parses to
// the same cursor.
func FuzzPageToken(f *testing.F) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 123456000, time.UTC)
	f.Add(certCursor{createdAt: at, serial: "7f00112233"}.token())
	f.Add(eventCursor{at: at, id: 42}.token())
	f.Add(eventCursor{at: at, id: 7}.tokenAs("s1"))
	f.Add("ZTF8MTIz") // "e1|123": the retired id-only event token
	f.Add("")
	f.Add("!!!")
	f.Fuzz(func(t *testing.T, tok string) {
		if c, err := parseCertCursor(tok); err != nil {
			if !errors.Is(err, ErrBadPageToken) {
				t.Fatalf("certificate token refused with %v, want ErrBadPageToken", err)
			}
		} else if again, err := parseCertCursor(c.token()); err != nil || !again.createdAt.Equal(c.createdAt) || again.serial != c.serial {
			t.Fatalf("certificate cursor %+v did not round-trip: %+v, %v", c, again, err)
		}
		for _, tag := range []string{"e2", "s1"} {
			c, err := parseCursorAs(tag, tok)
			if err != nil {
				if !errors.Is(err, ErrBadPageToken) {
					t.Fatalf("%s token refused with %v, want ErrBadPageToken", tag, err)
				}
				continue
			}
			if c.id <= 0 {
				t.Fatalf("%s cursor with id %d accepted", tag, c.id)
			}
			if again, err := parseCursorAs(tag, c.tokenAs(tag)); err != nil || !again.at.Equal(c.at) || again.id != c.id {
				t.Fatalf("%s cursor %+v did not round-trip: %+v, %v", tag, c, again, err)
			}
		}
	})
}
