package e2e

import (
	"strings"
	"testing"
	"time"
)

// The README's demo: `signetd --dev --validity 40h` delivers a reminder to
// its own webhook sink right after an issue, signed and verified; the admin
// CLI lists it, and a revocation voids the one still scheduled.
func TestReminders_DevSinkWithRealBinaries(t *testing.T) {
	e := prepare(t)
	d := e.launch("--validity=40h")
	issued := e.signetJSON("enroll", "--profile", "personal-banking", "--idn", "9001011234567", "--name", "홍길동",
		"--birth", "19900101", "--phone", "01012345678", "--carrier", "SKT", "--bank", "004", "--account", "12345678901234",
		"--password-file", e.pwFile)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(d.logs.String(), "reminder received, signature valid") || !strings.Contains(d.logs.String(), "serial="+issued.Serial) {
		if time.Now().After(deadline) {
			t.Fatalf("no reminder reached the dev sink within 30 s of the issue\n%s", d.logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}

	type reminderView struct {
		ID       int64  `json:"id"`
		Serial   string `json:"serial"`
		Stage    string `json:"stage"`
		JobState string `json:"job_state"`
		Result   string `json:"result"`
	}
	var listed []reminderView
	e.adminJSON(&listed, "reminders", "--serial", issued.Serial)
	if len(listed) != 2 || listed[0].Stage != "1d" || listed[0].JobState != "scheduled" ||
		listed[1].Stage != "7d" || listed[1].Result != "delivered" {
		t.Fatalf("reminders after a 40h issue: %+v, want 7d delivered and 1d scheduled", listed)
	}

	e.signet("revoke", "--cert", issued.Dir, "--password-file", e.pwFile, "--reason", "cessationOfOperation")
	listed = nil
	e.adminJSON(&listed, "reminders", "--serial", issued.Serial, "--state", "pending")
	if len(listed) != 0 {
		t.Fatalf("pending reminders of a revoked certificate: %+v", listed)
	}
}
