package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's grpcurl walkthrough, run as written against signetd --dev:
// an RA channel with only grpcurl, jq and openssl. .ci/run installs the
// tools and sets SIGNET_REQUIRE_TOOLS, so that in CI a missing tool fails
// the test instead of skipping it.
func TestGrpcurlWalkthrough(t *testing.T) {
	for _, tool := range []string{"grpcurl", "jq", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("SIGNET_REQUIRE_TOOLS") != "" {
				t.Fatalf("%s is required: %v", tool, err)
			}
			t.Skipf("%s is not installed (go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4; apt install jq)", tool)
		}
	}
	e := start(t)
	cmd := exec.Command("bash", filepath.Join("..", "docs", "grpcurl-walkthrough.sh"))
	cmd.Env = append(os.Environ(), "CA="+filepath.Join(e.state, "root.pem"), "SRV="+e.grpcAddr)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("walkthrough: %v\n%s", err, out)
	}
	// The issued certificate, then its public status by serial.
	serial := regexp.MustCompile(`"serial": "([0-9a-f]{1,40})"`).FindSubmatch(out)
	if serial == nil {
		t.Fatalf("no serial in the walkthrough's output:\n%s", out)
	}
	status := `{"serial":"` + string(serial[1]) + `","status":"CERTIFICATE_STATUS_ACTIVE"`
	if !strings.Contains(string(out), status) || !strings.Contains(string(out), "notAfter=") {
		t.Fatalf("walkthrough output lacks the certificate's status %s:\n%s", status, out)
	}
	if st := e.signetJSON("status", "--serial", string(serial[1])); st.Status != "active" {
		t.Errorf("signet status of the walkthrough's certificate: %+v", st)
	}
}
