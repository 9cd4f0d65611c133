package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/cmd/signet/internal/cli"
)

// noServer points at nothing and trusts a missing file: a command that got
// as far as contacting the server would fail with exit 1, so exit 2 proves
// that the input was refused first.
func noServer(t *testing.T) []string {
	return []string{"--server", "127.0.0.1:1", "--ca-file", filepath.Join(t.TempDir(), "missing.pem"), "--home", t.TempDir()}
}

func identityArgs(overrides ...string) []string {
	flags := map[string]string{
		"--name": "홍길동", "--birth": "19900101", "--phone": "01012345678",
		"--carrier": "SKT", "--bank": "004", "--account": "12345678901234",
	}
	for i := 0; i+1 < len(overrides); i += 2 {
		flags[overrides[i]] = overrides[i+1]
	}
	var args []string
	for _, k := range []string{"--name", "--birth", "--phone", "--carrier", "--bank", "--account"} {
		if v := flags[k]; v != "-" {
			args = append(args, k, v)
		}
	}
	return args
}

func TestRun_RefusesBadInputBeforeContactingServer(t *testing.T) {
	pw := writeFile(t, goodPassword+"\n")
	weak := writeFile(t, "short1!\n")
	ca := newTestCA(t)
	h := newHolder(t, ca, 7)
	with := func(args ...string) []string { return args }
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no command", nil, "a command is required"},
		{"unknown command", with("frobnicate"), `unknown command "frobnicate"`},
		{"unknown flag", with("enroll", "--nope"), "flag provided but not defined: -nope"},
		{"positional argument", append(with("list"), "extra"), `unexpected argument "extra"`},

		{"enroll birth not 8 digits", append(with("enroll", "--password-file", pw), identityArgs("--birth", "900101")...),
			"--birth: birth date must be 8 digits YYYYMMDD"},
		{"enroll birth not a date", append(with("enroll", "--password-file", pw), identityArgs("--birth", "19900230")...),
			"--birth: birth date is not a real date"},
		{"enroll phone with letters", append(with("enroll", "--password-file", pw), identityArgs("--phone", "010-abcd-5678")...),
			"--phone: phone number must be 10 or 11 digits"},
		{"enroll phone not mobile", append(with("enroll", "--password-file", pw), identityArgs("--phone", "0212345678")...),
			"--phone: phone number must start with 010"},
		{"enroll bank 2 digits", append(with("enroll", "--password-file", pw), identityArgs("--bank", "04")...),
			"--bank: bank code must be 3 digits, e.g. 004"},
		{"enroll unknown carrier", append(with("enroll", "--password-file", pw), identityArgs("--carrier", "Verizon")...),
			"--carrier: carrier must be one of SKT, KT, LGU"},
		{"enroll missing name", append(with("enroll", "--password-file", pw), identityArgs("--name", "-")...),
			"--name is required"},
		{"enroll lists every problem", append(with("enroll", "--password-file", pw), identityArgs("--bank", "x", "--account", "12")...),
			"fix these flags:\n  --bank: bank code must be 3 digits, e.g. 004\n  --account: account number must be 6 to 16 digits"},
		{"enroll weak password", append(with("enroll", "--password-file", weak), identityArgs()...),
			"--password-file: password must be at least 10 characters and mix letters, digits and symbols: only 7 characters"},
		{"enroll without a resident number", append(with("enroll", "--password-file", pw), identityArgs()...),
			"--idn or --idn-file is required"},
		{"enroll resident number too short", append(with("enroll", "--password-file", pw, "--idn", "900101123"), identityArgs()...),
			"--idn: a resident registration number has 13 digits, got 9 characters"},
		{"enroll no password file", append(with("enroll"), identityArgs()...), "--password-file is required"},
		{"enroll unknown key type", append(with("enroll", "--password-file", pw, "--key", "dsa1024"), identityArgs()...),
			`--key "dsa1024" is not supported: use rsa2048, rsa3072, rsa4096, ecdsa-p256 or ecdsa-p384`},
		{"reissue checks identity too", append(with("reissue", "--password-file", pw), identityArgs("--birth", "1990-01-01")...),
			"--birth: birth date must be 8 digits"},

		{"renew without folder", with("renew", "--password-file", pw), "--cert is required"},
		{"renew weak password", with("renew", "--cert", h.dir, "--password-file", weak), "--password-file: password must be at least 10"},

		{"revoke without reason", with("revoke", "--cert", h.dir, "--password-file", pw), "--reason is required: one of keyCompromise"},
		{"revoke unknown reason", with("revoke", "--cert", h.dir, "--password-file", pw, "--reason", "lostIt"),
			`--reason "lostIt" is not an RFC 5280 reason: use one of keyCompromise, affiliationChanged`},
		{"revoke reason case", with("revoke", "--cert", h.dir, "--password-file", pw, "--reason", "keycompromise"),
			"did you mean keyCompromise?"},
		{"revoke CA reason", with("revoke", "--cert", h.dir, "--password-file", pw, "--reason", "cACompromise"),
			"--reason cACompromise is not for subscribers"},
		{"revoke hold is not revocation", with("revoke", "--cert", h.dir, "--password-file", pw, "--reason", "certificateHold"),
			"--reason certificateHold is not for subscribers"},
		{"revoke needs a target", with("revoke", "--reason", "keyCompromise"), "give --cert DIR (the certificate's folder) or --serial HEX"},
		{"revoke both targets", with("revoke", "--reason", "keyCompromise", "--cert", h.dir, "--serial", "7"), "give --cert or --serial, not both"},
		{"revoke key needs folder", with("revoke", "--reason", "keyCompromise", "--serial", "7", "--password-file", pw),
			"--password-file needs --cert"},
		{"revoke key and identity", append(with("revoke", "--reason", "keyCompromise", "--cert", h.dir, "--password-file", pw), identityArgs()...),
			"give either --password-file (you have the key) or the identity flags (the key is lost), not both"},
		{"revoke lost key needs identity", with("revoke", "--reason", "keyCompromise", "--serial", "7"),
			"to revoke without the key, prove your identity"},
		{"revoke lost key bad identity", append(with("revoke", "--reason", "keyCompromise", "--serial", "7"), identityArgs("--bank", "4")...),
			"--bank: bank code must be 3 digits"},
		{"revoke bad serial", append(with("revoke", "--reason", "keyCompromise", "--serial", "12g4"), identityArgs()...),
			`--serial "12g4" is not a certificate serial in hex`},

		{"status needs a target", with("status"), "--serial is required (or give --cert DIR)"},
		{"status both targets", with("status", "--cert", h.dir, "--serial", "7"), "give --cert or --serial, not both"},
		{"status bad serial", with("status", "--serial", "-5"), `--serial "-5" is not a certificate serial in hex`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(noServer(t), tt.args...)
			code, stdout, stderr := runCLI(t, args...)
			if code != cli.ExitUsage {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, cli.ExitUsage, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr does not contain %q:\n%s", tt.want, stderr)
			}
			if !strings.Contains(stderr, "Usage: signet") {
				t.Errorf("stderr has no usage:\n%s", stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
}

func TestRun_EnrollWritesNothingWhenRefused(t *testing.T) {
	home := t.TempDir()
	weak := writeFile(t, "password\n")
	args := append([]string{"--home", home, "--ca-file", "/nonexistent", "enroll", "--password-file", weak}, identityArgs()...)
	if code, _, stderr := runCLI(t, args...); code != cli.ExitUsage || !strings.Contains(stderr, "no digit, no symbol") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(home, "NPKI")); !os.IsNotExist(err) {
		t.Errorf("a refused enroll touched the NPKI folder: %v", err)
	}
}

func TestRun_ValidInputReachesServer(t *testing.T) {
	// Everything checks out, so the command gets as far as the trust
	// anchor, which is missing: exit 1 with the reason, not a usage error.
	pw := writeFile(t, goodPassword+"\n")
	args := append(noServer(t), "enroll", "--password-file", pw, "--key", "ecdsa-p256")
	args = append(args, identityArgs("--phone", "010-1234-5678", "--carrier", "skt", "--account", "123-456-789012")...)
	args = append(args, "--idn", "900101-1234567")
	code, _, stderr := runCLI(t, args...)
	if code != cli.ExitFail || !strings.Contains(stderr, "signet: reading the trust anchor (--ca-file)") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}

func TestRun_Help(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"enroll", "-h"}, {"revoke", "--help"}} {
		code, stdout, stderr := runCLI(t, args...)
		if code != cli.ExitOK || !strings.Contains(stdout+stderr, "Usage: signet") {
			t.Errorf("%v: exit %d, output:\n%s%s", args, code, stdout, stderr)
		}
	}
}

func TestRun_GlobalFlagsAfterCommand(t *testing.T) {
	home := t.TempDir()
	code, stdout, stderr := runCLI(t, "list", "--home", home, "--json")
	if code != cli.ExitOK || stdout != "[]\n" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
}

func TestList_ShowsLocalCertificatesWhenServerUnreachable(t *testing.T) {
	ca := newTestCA(t)
	h := newHolder(t, ca, 0x1f)
	// Port 1 on loopback refuses at once.
	code, stdout, stderr := runCLI(t, "--home", h.home, "--server", "127.0.0.1:1", "--ca-file", ca.writePEM(t), "--json", "list")
	if code != cli.ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var got []cli.CertView
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v in %s", err, stdout)
	}
	want := cli.CertView{Serial: "1f", Status: "unknown", NotBefore: "2026-01-02T03:04:05Z", NotAfter: "2027-01-02T14:59:59Z",
		Dir: h.dir, Subject: testDN, Error: "server unreachable"}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("list = %+v\nwant  %+v", got, want)
	}
	if !strings.Contains(stderr, "server unreachable") || !strings.Contains(stderr, "(Unavailable)") {
		t.Errorf("stderr does not explain the missing statuses:\n%s", stderr)
	}

	// A missing trust anchor still lists, and says why nothing was checked.
	code, stdout, stderr = runCLI(t, "--home", h.home, "--ca-file", "/nonexistent", "list")
	if code != cli.ExitOK || !strings.Contains(stdout, "unknown [not checked: reading the trust anchor") || !strings.Contains(stdout, testDN) {
		t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

func TestErrorText(t *testing.T) {
	g := &cli.Globals{Server: "127.0.0.1:9443", CAFile: "root.pem"}
	tests := []struct {
		err  error
		want string
	}{
		{status.Error(codes.AlreadyExists, "you already hold an active certificate"),
			"signet: you already hold an active certificate (AlreadyExists)"},
		{cli.WrapCall("phone check", status.Error(codes.PermissionDenied, "wrong code: 2 attempts left")),
			"signet: phone check: wrong code: 2 attempts left (PermissionDenied)"},
		{cli.WrapCall("phone check", status.Error(codes.InvalidArgument, "phone check: invalid request")),
			"signet: phone check: invalid request (InvalidArgument)"},
		{devCallError("account check", status.Error(codes.Unimplemented, "unknown service")),
			"signet: account check: this server does not run the simulated identity providers: start signetd with --dev"},
		{status.Error(codes.Unavailable, "connection refused"),
			"signet: connection refused (Unavailable)\nsignet: is signetd running at 127.0.0.1:9443 (--server)?"},
		{status.Error(codes.Unavailable, "authentication handshake failed: x509: certificate signed by unknown authority"),
			"signet: TLS failed: does --ca-file root.pem hold the root certificate"},
		{errors.New("plain failure"), "signet: plain failure"},
	}
	for _, tt := range tests {
		if got := cli.ErrorText(tt.err, g); !strings.Contains(got, tt.want) {
			t.Errorf("errorText(%v) = %q, want it to contain %q", tt.err, got, tt.want)
		}
	}
}

func TestServerAddr(t *testing.T) {
	tests := []struct{ in, addr, host string }{
		{"127.0.0.1:9443", "127.0.0.1:9443", "127.0.0.1"},
		{"signet.example:443", "signet.example:443", "signet.example"},
		{"signet.example", "signet.example:9443", "signet.example"},
		{"[::1]:9443", "[::1]:9443", "::1"},
	}
	for _, tt := range tests {
		addr, host, err := serverAddr(tt.in)
		if err != nil || addr != tt.addr || host != tt.host {
			t.Errorf("serverAddr(%q) = %q, %q, %v; want %q, %q", tt.in, addr, host, err, tt.addr, tt.host)
		}
	}
	for _, bad := range []string{"", ":9443"} {
		if _, _, err := serverAddr(bad); err == nil {
			t.Errorf("serverAddr(%q) accepted", bad)
		}
	}
}
