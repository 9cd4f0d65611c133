package reminder

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers of a reminder webhook. The signature follows Stripe's scheme:
// the receiver recomputes HMAC-SHA256 over "<t>.<body>" with the channel's
// secret and compares it in constant time, and refuses a t far from its
// own clock, so that a captured request cannot be replayed later.
const (
	SignatureHeader = "Signet-Signature"
	EventIDHeader   = "Signet-Event-Id"
	// Tolerance is how far a signature's t may be from the receiver's
	// clock (Stripe's default).
	Tolerance = 5 * time.Minute
)

// Sign is the Signet-Signature header value for body sent at t.
func Sign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return m.Sum(nil)
}

// ErrSignature is returned by Verify for a header that does not sign body.
var ErrSignature = errors.New("reminder: bad webhook signature")

// Verify checks a Signet-Signature header against body as a receiver
// does: one of its v1 values must be HMAC-SHA256(secret, "<t>.<body>"),
// and t within tolerance of now. Several v1 values are accepted so that a
// secret can be rotated with both in use.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("%w: want %s: t=<unix seconds>,v1=<hex>", ErrSignature, SignatureHeader)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: t=%d is %s from now, more than %s", ErrSignature, sec, d.Round(time.Second), tolerance)
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no v1 matches the body under this channel's secret", ErrSignature)
}
