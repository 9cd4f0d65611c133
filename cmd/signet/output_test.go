package main

import (
	"bytes"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/signet-ca/signet/ca/crlreason"
	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	"github.com/signet-ca/signet/internal/kst"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

func TestParseReason_SubscriberReasonsOnly(t *testing.T) {
	for _, code := range crlreason.SubscriberCodes() {
		if got, err := parseReason(crlreason.Name(code)); err != nil || int(got) != code {
			t.Errorf("parseReason(%q) = %v, %v", crlreason.Name(code), got, err)
		}
	}
	for _, bad := range []string{"certificateHold", "cACompromise", "keycompromise", "stolen", ""} {
		if _, err := parseReason(bad); err == nil {
			t.Errorf("parseReason(%q) accepted", bad)
		}
	}
}

func TestViewOf_JSON(t *testing.T) {
	h := newHolder(t, newTestCA(t), 0x0abc)
	revokedAt := time.Date(2026, 3, 4, 5, 6, 7, 0, kst.Zone)
	tests := []struct {
		name string
		rec  *signetv1.Certificate
		dir  bool
		want string
	}{
		{"revoked, local folder", &signetv1.Certificate{
			Serial: "0abc", Status: signetv1.CertificateStatus_CERTIFICATE_STATUS_REVOKED, Profile: "personal-banking",
			NotBefore: timestamppb.New(h.cert.NotBefore), NotAfter: timestamppb.New(h.cert.NotAfter),
			RevocationReason: signetv1.RevocationReason_REVOCATION_REASON_KEY_COMPROMISE, RevokedAt: timestamppb.New(revokedAt),
			Replaces: "00ff",
		}, true, `{
  "serial": "abc",
  "status": "revoked",
  "revocation_reason": "keyCompromise",
  "revoked_at": "2026-03-03T20:06:07Z",
  "not_before": "2026-01-02T03:04:05Z",
  "not_after": "2027-01-02T14:59:59Z",
  "profile": "personal-banking",
  "dir": "` + h.dir + `",
  "subject": "` + testDN + `",
  "replaced_serial": "ff"
}
`},
		{"active, public answer only", &signetv1.Certificate{
			Serial: "ABC", Status: signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE, Profile: "personal-general",
			NotBefore: timestamppb.New(h.cert.NotBefore), NotAfter: timestamppb.New(h.cert.NotAfter),
		}, false, `{
  "serial": "abc",
  "status": "active",
  "revocation_reason": "",
  "not_before": "2026-01-02T03:04:05Z",
  "not_after": "2027-01-02T14:59:59Z",
  "profile": "personal-general",
  "dir": ""
}
`},
		{"suspended from holder answer with DER", &signetv1.Certificate{
			Serial: "abc", Status: signetv1.CertificateStatus_CERTIFICATE_STATUS_SUSPENDED, Profile: "personal-banking",
			Subject: "CN=server format", Der: h.cert.Raw,
			RevocationReason: signetv1.RevocationReason_REVOCATION_REASON_CERTIFICATE_HOLD, ReplacedBy: "0def",
		}, false, `{
  "serial": "abc",
  "status": "suspended",
  "revocation_reason": "certificateHold",
  "not_before": "2026-01-02T03:04:05Z",
  "not_after": "2027-01-02T14:59:59Z",
  "profile": "personal-banking",
  "dir": "",
  "subject": "` + testDN + `",
  "replaced_by": "def"
}
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v cli.CertView
			if tt.dir {
				v = cli.ViewOf(tt.rec, h.cert, h.dir)
			} else {
				v = cli.ViewOf(tt.rec, nil, "")
			}
			var buf bytes.Buffer
			if err := cli.PrintView(&buf, true, v); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want {
				t.Errorf("JSON:\n%s\nwant:\n%s", buf.String(), tt.want)
			}
		})
	}
}

func TestViewOf_ReasonOnlyWhenRevokedOrSuspended(t *testing.T) {
	for st, want := range map[signetv1.CertificateStatus]string{
		signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE:    "",
		signetv1.CertificateStatus_CERTIFICATE_STATUS_EXPIRED:   "",
		signetv1.CertificateStatus_CERTIFICATE_STATUS_REVOKED:   "unspecified",
		signetv1.CertificateStatus_CERTIFICATE_STATUS_SUSPENDED: "unspecified",
	} {
		if got := cli.ViewOf(&signetv1.Certificate{Serial: "1", Status: st}, nil, "").RevocationReason; got != want {
			t.Errorf("%v: revocation_reason %q, want %q", st, got, want)
		}
	}
}

func TestPrintView_Text(t *testing.T) {
	var buf bytes.Buffer
	v := cli.CertView{Serial: "abc", Status: "revoked", RevocationReason: "superseded", NotAfter: "2027-01-02T14:59:59Z", Dir: "/h/NPKI/x"}
	if err := cli.PrintView(&buf, false, v); err != nil {
		t.Fatal(err)
	}
	want := "serial:     abc\nstatus:     revoked (superseded)\nnot after:  2027-01-02T14:59:59Z\nfolder:     /h/NPKI/x\n"
	if buf.String() != want {
		t.Errorf("text:\n%q\nwant\n%q", buf.String(), want)
	}
}

func TestPrintList_EmptyIsJSONArray(t *testing.T) {
	var buf bytes.Buffer
	if err := printList(&buf, true, nil); err != nil || buf.String() != "[]\n" {
		t.Errorf("printList(nil) = %q, %v", buf.String(), err)
	}
}
