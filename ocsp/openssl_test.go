package ocsp

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-ca/signet/ca/crlreason"
)

// openssl runs `openssl ocsp` as a relying party would: the CA file holds
// only the root, so the delegated responder certificate must chain through
// the issuer to it. -no_nonce because pre-signed responses carry no nonce
// (RFC 5019 section 4).
func openssl(t *testing.T, e *env, l *leaf, extra ...string) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is needed on the PATH (README: openssl 3)")
	}
	// A digest option must come before -cert, which it applies to.
	args := append(append([]string{"ocsp", "-issuer", e.files.Intermediate}, extra...),
		"-cert", l.path, "-url", e.srv.URL+"/ocsp", "-CAfile", e.files.Root)
	if !slices.Contains(extra, "-nonce") {
		args = append(args, "-no_nonce")
	}
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("$ openssl %s\n%s", strings.Join(args, " "), out)
	return string(out)
}

func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("openssl output lacks %q:\n%s", w, out)
		}
	}
}

func TestOpenSSL_RevocationLifeCycle(t *testing.T) {
	e := newEnv(t, envConfig{realTime: true})

	compromised := e.issueLeaf(t)
	out := openssl(t, e, compromised)
	wantLines(t, out, "Response verify OK", compromised.path+": good", "This Update:", "Next Update:")

	e.revoke(t, compromised, time.Now(), crlreason.KeyCompromise)
	e.waitStatus(t, compromised, 1)
	out = openssl(t, e, compromised)
	wantLines(t, out, "Response verify OK", compromised.path+": revoked", "Reason: keyCompromise", "Revocation Time:")

	held := e.issueLeaf(t)
	wantLines(t, openssl(t, e, held), held.path+": good")
	e.suspend(t, held, time.Now())
	e.waitStatus(t, held, 1)
	wantLines(t, openssl(t, e, held), "Response verify OK", held.path+": revoked", "Reason: certificateHold")
	e.resume(t, held, time.Now())
	e.waitStatus(t, held, 0)
	wantLines(t, openssl(t, e, held), "Response verify OK", held.path+": good")

	// A SHA-256 CertID gets an answer with a SHA-256 CertID, which openssl
	// needs to match the response to its request.
	wantLines(t, openssl(t, e, held, "-sha256"), "Response verify OK", held.path+": good")

	// With a nonce the request is still answered from the cache; openssl
	// notes that the nonce is not echoed, as RFC 5019 section 4 expects.
	wantLines(t, openssl(t, e, held, "-nonce"), "WARNING: no nonce in response", "Response verify OK", held.path+": good")

	unknown := e.makeLeaf(t)
	wantLines(t, openssl(t, e, unknown), "Response verify OK", unknown.path+": unknown")
}
