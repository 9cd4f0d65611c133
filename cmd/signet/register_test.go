package main

import (
	"strings"
	"testing"

	"github.com/signet-ca/signet/cmd/signet/internal/cli"
)

// The registration commands refuse bad input before any server is asked,
// with a usage error (exit 2) that says what to fix.
func TestRun_RegistrationCommandsRefuseBadInput(t *testing.T) {
	pw := writeFile(t, goodPassword+"\n")
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"register without --cert", append([]string{"register", "--password-file", pw, "--idn", "9001011234567"}, identityArgs()...), "--cert is required"},
		{"register without idn", append([]string{"register", "--cert", dir, "--password-file", pw}, identityArgs()...), "--idn or --idn-file is required"},
		{"register with a bad idn", append([]string{"register", "--cert", dir, "--password-file", pw, "--idn", "90010112345"}, identityArgs()...), "--idn: a resident registration number has 13 digits"},
		{"register without identity", []string{"register", "--cert", dir, "--password-file", pw, "--idn", "9001011234567"}, "--name is required"},
		{"unregister without reason", []string{"unregister", "--cert", dir, "--password-file", pw}, "--reason is required"},
		{"unregister with key and identity", append([]string{"unregister", "--cert", dir, "--password-file", pw, "--reason", "x"}, identityArgs()...), "not both"},
		{"unregister by identity without id", append([]string{"unregister", "--reason", "x"}, identityArgs()...), "--registration names the registration"},
		{"unregister with nothing", []string{"unregister", "--reason", "x"}, "give --cert and --password-file"},
		{"registrations with nothing", []string{"registrations"}, "give --cert and --password-file"},
		{"other-ca issue without name", []string{"dev", "other-ca", "issue", "--idn", "9001011234567", "--password-file", pw}, "--name is required"},
		{"other-ca issue weak password", []string{"dev", "other-ca", "issue", "--name", "홍길동", "--idn", "9001011234567", "--password-file", writeFile(t, "short\n")}, "--password-file"},
		{"other-ca revoke without cert", []string{"dev", "other-ca", "revoke"}, "--cert is required"},
		{"other-ca revoke bad reason", []string{"dev", "other-ca", "revoke", "--cert", dir, "--reason", "bored"}, "bored"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append(noServer(t), tt.args...)...)
			if code != cli.ExitUsage {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, cli.ExitUsage, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr does not contain %q:\n%s", tt.want, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
	if code, _, stderr := runCLI(t, append(noServer(t), "dev", "nothing")...); code == 0 || !strings.Contains(stderr, "other-ca issue|revoke") {
		t.Errorf("dev without a subcommand: exit %d\n%s", code, stderr)
	}
}
