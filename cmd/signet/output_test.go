package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/signet-ca/signet/ca/crlreason"
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

func TestCheckSerial(t *testing.T) {
	tests := []struct{ in, want string }{
		{"444f2fc0ff5f7d200a7811e615f6dcbdd484b78b", "444f2fc0ff5f7d200a7811e615f6dcbdd484b78b"},
		{"0x00AB", "ab"},
		{" 0A:bc:01 ", "abc01"},
	}
	for _, tt := range tests {
		if got, err := checkSerial(tt.in); err != nil || got != tt.want {
			t.Errorf("checkSerial(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "0", "+1a", "-1a", "xyz", "1_0", strings.Repeat("f", 65)} {
		if got, err := checkSerial(bad); err == nil {
			t.Errorf("checkSerial(%q) = %q, want an error", bad, got)
		}
	}
}

func TestViewOf_JSON(t *testing.T) {
	h := newHolder(t, newTestCA(t), 0x0abc)
	revokedAt := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("KST", 9*3600))
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
			var v certView
			if tt.dir {
				v = viewOf(tt.rec, h.cert, h.dir)
			} else {
				v = viewOf(tt.rec, nil, "")
			}
			var buf bytes.Buffer
			if err := printView(&buf, true, v); err != nil {
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
		if got := viewOf(&signetv1.Certificate{Serial: "1", Status: st}, nil, "").RevocationReason; got != want {
			t.Errorf("%v: revocation_reason %q, want %q", st, got, want)
		}
	}
}

func TestPrintView_Text(t *testing.T) {
	var buf bytes.Buffer
	v := certView{Serial: "abc", Status: "revoked", RevocationReason: "superseded", NotAfter: "2027-01-02T14:59:59Z", Dir: "/h/NPKI/x"}
	if err := printView(&buf, false, v); err != nil {
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

func TestRetry_RepeatsSameCallOnlyWhenTransient(t *testing.T) {
	saved := retryDelay
	retryDelay = func(int) time.Duration { return 0 }
	t.Cleanup(func() { retryDelay = saved })

	tests := []struct {
		name      string
		failures  []codes.Code // answers before success
		wantCalls int
		wantCode  codes.Code
	}{
		{"success at once", nil, 1, codes.OK},
		{"lost answers then success", []codes.Code{codes.Unavailable, codes.DeadlineExceeded}, 3, codes.OK},
		{"refusal is final", []codes.Code{codes.AlreadyExists}, 1, codes.AlreadyExists},
		{"gives up after three retries", []codes.Code{codes.Unavailable, codes.Unavailable, codes.Unavailable, codes.Unavailable, codes.Unavailable}, 4, codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			got, err := retry(context.Background(), time.Second, func(ctx context.Context) (string, error) {
				if _, ok := ctx.Deadline(); !ok {
					t.Error("call has no deadline")
				}
				calls++
				if calls <= len(tt.failures) {
					return "", status.Error(tt.failures[calls-1], "x")
				}
				return "certificate", nil
			})
			if calls != tt.wantCalls || status.Code(err) != tt.wantCode {
				t.Errorf("%d calls, code %v; want %d calls, code %v", calls, status.Code(err), tt.wantCalls, tt.wantCode)
			}
			if err == nil && got != "certificate" {
				t.Errorf("result %q", got)
			}
		})
	}
}

func TestRetry_StopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, err := retry(ctx, time.Second, func(context.Context) (int, error) {
		calls++
		cancel()
		return 0, status.Error(codes.Unavailable, "x")
	})
	if calls != 1 || status.Code(err) != codes.Unavailable {
		t.Errorf("%d calls, %v", calls, err)
	}
}
