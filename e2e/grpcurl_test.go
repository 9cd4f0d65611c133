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
	// Issue, status, renew (the test server's validity is ten days, so
	// the window is open), reissue revoking the renewed certificate, and
	// revocation by key proof. The serials come in that order.
	serials := regexp.MustCompile(`"serial": "([0-9a-f]{1,40})"`).FindAllSubmatch(out, -1)
	if len(serials) != 3 {
		t.Fatalf("want the issued, renewed and reissued certificates in the output:\n%s", out)
	}
	issued, renewed, reissued := string(serials[0][1]), string(serials[1][1]), string(serials[2][1])
	for _, want := range []string{
		`{"serial":"` + issued + `","status":"CERTIFICATE_STATUS_ACTIVE"`,
		"replaced: " + renewed,
		`{"serial":"` + renewed + `","status":"CERTIFICATE_STATUS_REVOKED","revocationReason":"REVOCATION_REASON_SUPERSEDED"}`,
		`{"serial":"` + reissued + `","status":"CERTIFICATE_STATUS_REVOKED","revocationReason":"REVOCATION_REASON_KEY_COMPROMISE"}`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("walkthrough output lacks %s:\n%s", want, out)
		}
	}
	for _, serial := range []string{issued, renewed, reissued} {
		if st := e.signetJSON("status", "--serial", serial); st.Status != "revoked" {
			t.Errorf("signet status of %s: %+v, want revoked", serial, st)
		}
	}
	if st := e.signetJSON("status", "--serial", issued); st.RevocationReason != "superseded" {
		t.Errorf("the issued certificate after renewal: %+v, want revoked as superseded", st)
	}
}
