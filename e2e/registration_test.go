package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// registration is the CLI's --json output for one registration.
type registration struct {
	ID          string `json:"registration_id"`
	Serial      string `json:"serial"`
	TrustCA     string `json:"trust_ca"`
	Status      string `json:"status"`
	Reason      string `json:"reason"`
	CheckStatus string `json:"check_status"`
	CheckSource string `json:"check_source"`
}

type signedIn struct {
	SubjectRef     string `json:"subject_ref"`
	Serial         string `json:"serial"`
	Registration   string `json:"registration"`
	RegistrationID string `json:"registration_id"`
	TrustCA        string `json:"trust_ca"`
}

func (e *env) registrationJSON(args ...string) registration {
	e.t.Helper()
	var r registration
	out := e.signet(args...)
	if err := json.Unmarshal(out, &r); err != nil {
		e.t.Fatalf("signet %s: not a JSON registration: %v\n%s", args[0], err, out)
	}
	return r
}

func (e *env) login(dir string) signedIn {
	e.t.Helper()
	var id signedIn
	out := e.signet("login", "--cert", dir, "--password-file", e.pwFile)
	if err := json.Unmarshal(out, &id); err != nil {
		e.t.Fatalf("signet login: %v\n%s", err, out)
	}
	return id
}

// loginRefused signs in and wants a refusal that names reason.
func (e *env) loginRefused(dir, reason string) {
	e.t.Helper()
	out, err := e.signetTry("login", "--cert", dir, "--password-file", e.pwFile)
	if err == nil || !strings.Contains(string(out), reason) {
		e.t.Errorf("signet login: %v\n%s; want a refusal naming %s", err, out, reason)
	}
}

// Register → login → unregister, through real signetd --dev, the real CLI
// and real OCSP fetches from the dev other CA's responder, with another
// bank's certificate and with one of Signet's own.
func TestRegistration_WithRealBinaries(t *testing.T) {
	e := start(t)
	const idn = "9001011234567"
	person := []string{"--name", "홍길동", "--birth", "19900101", "--phone", "01012345678", "--carrier", "SKT",
		"--bank", "004", "--account", "12345678901234"}

	// Another bank's certificate: the key and R are made here, R kept in
	// signPri.key.
	otherDir := filepath.Join(t.TempDir(), "kbank")
	other := e.signetJSON("dev", "other-ca", "issue", "--out", otherDir, "--name", "홍길동", "--idn", idn, "--password-file", e.pwFile)
	if other.Dir != otherDir {
		t.Fatalf("issued into %s, want %s", other.Dir, otherDir)
	}
	e.loginRefused(otherDir, "not registered here")

	reg := e.registrationJSON(append([]string{"register", "--cert", otherDir, "--password-file", e.pwFile, "--idn", idn}, person...)...)
	if reg.Status != "active" || reg.TrustCA != "dev-other-ca" || reg.Serial != other.Serial || reg.CheckStatus != "good" || reg.CheckSource != "ocsp" {
		t.Fatalf("register: %+v", reg)
	}
	id := e.login(otherDir)
	if id.Registration != "registered" || id.RegistrationID != reg.ID || id.TrustCA != "dev-other-ca" || id.Serial != other.Serial {
		t.Fatalf("login with the other bank's certificate: %+v", id)
	}

	// Signet's own certificate signs in without a separate registration.
	own := e.signetJSON(append([]string{"enroll", "--profile", "personal-banking", "--idn", idn, "--password-file", e.pwFile}, person...)...)
	ownID := e.login(own.Dir)
	if ownID.Registration != "signet" || ownID.SubjectRef != id.SubjectRef {
		t.Fatalf("login with Signet's certificate: %+v, want subject %s", ownID, id.SubjectRef)
	}
	var list []registration
	if err := json.Unmarshal(e.signet("registrations", "--cert", otherDir, "--password-file", e.pwFile), &list); err != nil || len(list) != 2 {
		t.Fatalf("registrations: %v %+v", err, list)
	}

	// 해제 with the key, then no more sign-ins with it.
	un := e.registrationJSON("unregister", "--cert", otherDir, "--password-file", e.pwFile, "--reason", "no longer used")
	if un.Status != "unregistered" || un.Reason != "no longer used" {
		t.Fatalf("unregister: %+v", un)
	}
	e.loginRefused(otherDir, "unregistered")

	// The same with Signet's own certificate: unregistered here, it stops
	// signing in; registered again, it signs in.
	if un := e.registrationJSON("unregister", "--cert", own.Dir, "--password-file", e.pwFile, "--reason", "moving banks"); un.Status != "unregistered" || un.TrustCA != "signet" {
		t.Fatalf("unregister Signet's certificate: %+v", un)
	}
	e.loginRefused(own.Dir, "unregistered")
	back := e.registrationJSON(append([]string{"register", "--cert", own.Dir, "--password-file", e.pwFile, "--idn", idn}, person...)...)
	if back.Status != "active" || back.TrustCA != "signet" {
		t.Fatalf("register Signet's certificate: %+v", back)
	}
	if id := e.login(own.Dir); id.RegistrationID != back.ID {
		t.Fatalf("login after registering again: %+v, want registration %s", id, back.ID)
	}

	// 해제 by an operator (`signet admin unregister`); an auditor may not.
	opDir := filepath.Join(t.TempDir(), "operator")
	e.signetJSON("dev", "other-ca", "issue", "--out", opDir, "--name", "홍길동", "--idn", idn, "--password-file", e.pwFile)
	opReg := e.registrationJSON(append([]string{"register", "--cert", opDir, "--password-file", e.pwFile, "--idn", idn}, person...)...)
	e.login(opDir)
	if _, code := e.admin("unregister", "--id", opReg.ID, "--reason", "fraud report"); code == 0 {
		t.Error("an auditor unregistered a certificate")
	}
	var opUn registration
	e.adminJSON(&opUn, "unregister", "--cert", filepath.Join(e.state, "admin-operator.pem"), "--id", opReg.ID, "--reason", "fraud report", "--comment", "ticket 42")
	if opUn.ID != opReg.ID || opUn.Status != "unregistered" || opUn.Reason != "fraud report" {
		t.Errorf("signet admin unregister: %+v", opUn)
	}
	e.loginRefused(opDir, "unregistered")

	// Revoked at its CA: the other CA's OCSP says so, and Signet refuses.
	revDir := filepath.Join(t.TempDir(), "revoked")
	e.signetJSON("dev", "other-ca", "issue", "--out", revDir, "--name", "홍길동", "--idn", idn, "--password-file", e.pwFile)
	e.signet("dev", "other-ca", "revoke", "--cert", revDir, "--reason", "keyCompromise")
	out, err := e.signetTry(append([]string{"register", "--cert", revDir, "--password-file", e.pwFile, "--idn", idn}, person...)...)
	if err == nil || !strings.Contains(string(out), "revoked") || !strings.Contains(string(out), "keyCompromise") {
		t.Errorf("register a revoked certificate: %v\n%s", err, out)
	}
	// A wrong resident number does not match the VID.
	wrongDir := filepath.Join(t.TempDir(), "wrong")
	e.signetJSON("dev", "other-ca", "issue", "--out", wrongDir, "--name", "홍길동", "--idn", idn, "--password-file", e.pwFile)
	out, err = e.signetTry(append([]string{"register", "--cert", wrongDir, "--password-file", e.pwFile, "--idn", "9001011234568"}, person...)...)
	if err == nil || !strings.Contains(string(out), "VID") {
		t.Errorf("register with another resident number: %v\n%s", err, out)
	}
}
