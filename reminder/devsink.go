package reminder

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// DevSink is signetd --dev's stand-in for an RA: it checks each webhook's
// signature as a receiver must, logs what it got, and answers 204 (401 to
// a bad signature, which the sender then retries). It keeps nothing.
func DevSink(secret []byte, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := Verify(secret, r.Header.Get(SignatureHeader), body, time.Now(), Tolerance); err != nil {
			log.Warn("dev webhook sink: refused", "err", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var b Body
		if err := json.Unmarshal(body, &b); err != nil {
			http.Error(w, "body is not a reminder: "+err.Error(), http.StatusBadRequest)
			return
		}
		log.Info("dev webhook sink: reminder received, signature valid", "event_id", r.Header.Get(EventIDHeader),
			"stage", b.Stage, "serial", b.Serial, "not_after", b.NotAfter, "profile", b.Profile, "status", b.Status)
		w.WriteHeader(http.StatusNoContent)
	})
}
