package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCopy_BetweenTwoHomesWithRealBinaries is 인증서 복사 as a person does
// it: `signet copy send` on one device shows a code, `signet copy receive`
// on another types it, through the real signetd relay. A wrong code costs
// one try; the right one delivers both files byte for byte, and the copy
// signs in and still proves the holder's VID (R travelled in the key file).
func TestCopy_BetweenTwoHomesWithRealBinaries(t *testing.T) {
	e := start(t)
	const idn = "9001011234567"
	issued := e.signetJSON("enroll", "--profile", "personal-banking", "--idn", idn, "--name", "홍길동", "--birth", "19900101",
		"--phone", "01012345678", "--carrier", "SKT", "--bank", "004", "--account", "12345678901234", "--password-file", e.pwFile)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	send := exec.CommandContext(ctx, filepath.Join(e.bin, "signet"), "--server", e.grpcAddr, "--ca-file", filepath.Join(e.state, "root.pem"),
		"--home", e.home, "copy", "send", "--cert", issued.Dir, "--password-file", e.pwFile)
	stdout, err := send.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var sendErr bytes.Buffer
	send.Stderr = &sendErr
	if err := send.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	var code string
	for code == "" && lines.Scan() {
		if m := regexp.MustCompile(`code on the other device.*: (\d{6})$`).FindStringSubmatch(lines.Text()); m != nil {
			code = m[1]
		}
	}
	if code == "" {
		t.Fatalf("copy send showed no code; stderr:\n%s", sendErr.String())
	}
	var rest bytes.Buffer
	sendDone := make(chan error, 1)
	go func() {
		for lines.Scan() {
			rest.WriteString(lines.Text() + "\n")
		}
		sendDone <- send.Wait()
	}()

	other := t.TempDir()
	receive := func(code string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "signet"), "--server", e.grpcAddr, "--ca-file", filepath.Join(e.state, "root.pem"),
			"--home", other, "copy", "receive", "--code", code)
		return cmd.CombinedOutput()
	}
	wrong := code[:2] + map[bool]string{true: "0000", false: "1111"}[code[2:] != "0000"]
	if out, err := receive(wrong); err == nil || !strings.Contains(string(out), "did not match") {
		t.Fatalf("receive with a wrong code: %v\n%s; want a refusal with the tries left", err, out)
	}
	out, err := receive(code)
	if err != nil {
		t.Fatalf("receive with the right code: %v\n%s\nsender:\n%s", err, out, sendErr.String())
	}
	if err := <-sendDone; err != nil {
		t.Fatalf("copy send: %v\n%s%s", err, rest.String(), sendErr.String())
	}
	if !strings.Contains(rest.String(), "copied") {
		t.Errorf("copy send's output: %s", rest.String())
	}

	dest := strings.Replace(issued.Dir, e.home, other, 1)
	for _, name := range []string{"signCert.der", "signPri.key"} {
		a, err := os.ReadFile(filepath.Join(issued.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dest, name))
		if err != nil {
			t.Fatalf("the receiving home lacks %s: %v", name, err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs after the copy", name)
		}
	}

	// The copy is a working certificate on the other device.
	signetAt := func(home string, args ...string) []byte {
		t.Helper()
		full := append([]string{"--server", e.grpcAddr, "--ca-file", filepath.Join(e.state, "root.pem"), "--home", home, "--json"}, args...)
		out, err := exec.CommandContext(ctx, filepath.Join(e.bin, "signet"), full...).CombinedOutput()
		if err != nil {
			t.Fatalf("signet %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	var signedIn struct {
		Serial string `json:"serial"`
	}
	if err := json.Unmarshal(signetAt(other, "login", "--cert", dest, "--password-file", e.pwFile), &signedIn); err != nil || signedIn.Serial != issued.Serial {
		t.Errorf("login with the copy: %+v (%v), want serial %s", signedIn, err, issued.Serial)
	}
	signetAt(other, "verify-id", "--cert", dest, "--idn", idn, "--password-file", e.pwFile)
}
