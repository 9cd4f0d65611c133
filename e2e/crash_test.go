package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-ca/signet/store/devcluster"
)

// TestCrash_KilledBetweenRecordingAndSettling kills signetd with SIGKILL
// exactly between recording a certificate and the CA key signing it, and
// between signing and finalizing, as an operator's kill -9 or the OOM
// killer would. After a restart every serial is accounted for: each
// reservation the dead processes left is in the ledger, marked abandoned by
// recovery with the reason in words; no certificate row exists for them;
// the client saw an error and no certificate; a new request succeeds; and
// the audit log still verifies.
func TestCrash_KilledBetweenRecordingAndSettling(t *testing.T) {
	e := prepare(t)
	// Registered first so that it runs last, after every signetd stopped:
	// a killed signetd leaves its PostgreSQL running, and the restarted one
	// only joins it.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if c, err := devcluster.Start(ctx, devcluster.Options{Dir: filepath.Join(e.state, "pg")}); err == nil {
			_ = c.Stop(ctx)
		}
	})
	identity := []string{"--name", "김철수", "--birth", "19851224", "--phone", "01098765432", "--carrier", "KT",
		"--bank", "088", "--account", "11122233344455", "--password-file", e.pwFile}
	enroll := append([]string{"enroll", "--profile", "personal-banking", "--idn", "8512241234567"}, identity...)

	for _, point := range []string{"after-reserve", "after-sign"} {
		d := e.launch("SIGNET_FAILPOINT="+point, "--recover-after=1s")
		done := make(chan []byte, 1)
		go func() {
			out, err := e.signetTry(enroll...)
			if err == nil {
				t.Errorf("%s: enroll succeeded although signetd was killed in the middle:\n%s", point, out)
			}
			done <- out
		}()
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(d.logs.String(), "failpoint "+point+" reached") {
			if time.Now().After(deadline) {
				t.Fatalf("signetd never reached failpoint %s:\n%s", point, d.logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		d.kill(t)
		out := <-done
		t.Logf("%s: the client saw: %s", point, bytes.TrimSpace(out))
	}

	// Both reservations are more than the recovery time old at restart.
	time.Sleep(1500 * time.Millisecond)
	e.launch("--recover-after=1s")
	var rows []ledgerRow
	e.adminJSON(&rows, "signatures", "--kind", "subscriber", "--all")
	if len(rows) != 2 {
		t.Fatalf("after the two crashes the ledger holds %d subscriber signatures, want 2: %+v", len(rows), rows)
	}
	for _, r := range rows {
		if r.State != "abandoned" || r.Serial == "" || r.DER != "" {
			t.Errorf("ledger row %+v: want abandoned, with its serial and no DER", r)
		}
		var certs []struct{ Serial string }
		e.adminJSON(&certs, "certs", "--serial", r.Serial)
		if len(certs) != 0 {
			t.Errorf("serial %s was never delivered, yet the certificates table holds it", r.Serial)
		}
	}
	var abandoned []struct {
		Action  string
		Serial  string
		Details map[string]any
	}
	e.adminJSON(&abandoned, "events", "--action", "sign_abandoned")
	if len(abandoned) != 2 || !strings.Contains(abandoned[0].Details["outcome"].(string), "nothing was delivered") {
		t.Errorf("sign_abandoned events %+v, want one per abandoned reservation, saying nothing was delivered", abandoned)
	}

	// The person can enroll now; the new signature is issued and delivered.
	c := e.signetJSON(enroll...)
	e.checkCertificate(c)
	rows = nil
	e.adminJSON(&rows, "signatures", "--kind", "subscriber", "--state", "issued")
	if len(rows) != 1 || rows[0].Serial != c.Serial {
		t.Errorf("issued subscriber signatures %+v, want only %s", rows, c.Serial)
	}
	e.seen.cert(t, "subscriber", e.readDER(c))
	e.checkLedger()

	// The audit log of all three processes verifies once sealed.
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, code := e.verifyLog()
		if code == 0 && v.OK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("verify-log after the crashes: exit %d, %+v", code, v)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// signetTry runs the CLI and returns its output and error instead of
// failing the test.
func (e *env) signetTry(args ...string) ([]byte, error) {
	full := append([]string{"--server", e.grpcAddr, "--ca-file", filepath.Join(e.state, "root.pem"), "--home", e.home, "--json"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "signet"), full...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}
