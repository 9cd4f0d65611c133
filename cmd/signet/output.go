package main

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"github.com/signet-ca/signet/ca/crlreason"
	"io"
	"math/big"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// certView is one certificate as signet prints it. The JSON names are a
// contract for scripts: serial is lower-case hex without leading zeros
// (big.Int.Text(16)), times are RFC 3339 UTC, revocation_reason is the
// RFC 5280 name or "".
type certView struct {
	Serial           string `json:"serial"`
	Status           string `json:"status"`
	RevocationReason string `json:"revocation_reason"`
	RevokedAt        string `json:"revoked_at,omitempty"`
	NotBefore        string `json:"not_before"`
	NotAfter         string `json:"not_after"`
	Profile          string `json:"profile"`
	Dir              string `json:"dir"`
	Subject          string `json:"subject,omitempty"`
	ReplacedSerial   string `json:"replaced_serial,omitempty"`
	ReplacedBy       string `json:"replaced_by,omitempty"`
	// Error says why the server's part is missing (list only).
	Error string `json:"error,omitempty"`
}

// statusUnknown is the status of a certificate the server could not be
// asked about.
const statusUnknown = "unknown"

var statusNames = map[signetv1.CertificateStatus]string{
	signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE:    "active",
	signetv1.CertificateStatus_CERTIFICATE_STATUS_SUSPENDED: "suspended",
	signetv1.CertificateStatus_CERTIFICATE_STATUS_REVOKED:   "revoked",
	signetv1.CertificateStatus_CERTIFICATE_STATUS_EXPIRED:   "expired",
}

func subscriberReasonList() string {
	var names []string
	for _, c := range crlreason.SubscriberCodes() {
		names = append(names, crlreason.Name(c))
	}
	return strings.Join(names, ", ")
}

// parseReason reads a reason a subscriber may give, by its RFC 5280 name;
// the proto enum numbers are the RFC codes. The server refuses the other
// reasons, so they are caught here first.
func parseReason(name string) (signetv1.RevocationReason, error) {
	if name == "" {
		return 0, fmt.Errorf("--reason is required: one of %s", subscriberReasonList())
	}
	code, err := crlreason.Parse(name)
	if err != nil {
		for c := 0; c <= crlreason.AACompromise; c++ {
			if n := crlreason.Name(c); strings.EqualFold(n, name) {
				return 0, fmt.Errorf("--reason %q: reason names are case-sensitive, did you mean %s?", name, n)
			}
		}
		return 0, fmt.Errorf("--reason %q is not an RFC 5280 reason: use one of %s", name, subscriberReasonList())
	}
	if !crlreason.BySubscriber(code) {
		return 0, fmt.Errorf("--reason %s is not for subscribers (it belongs to the CA or is a suspension): use one of %s", name, subscriberReasonList())
	}
	return signetv1.RevocationReason(code), nil
}

func reasonName(r signetv1.RevocationReason) string { return crlreason.Name(int(r)) }

// normalSerial writes a serial from the server as big.Int.Text(16) does,
// so that local and remote serials compare as strings.
func normalSerial(s string) string {
	if n, ok := new(big.Int).SetString(strings.TrimPrefix(strings.ToLower(s), "0x"), 16); ok {
		return n.Text(16)
	}
	return s
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func tsString(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return rfc3339(ts.AsTime())
}

// viewOf merges what the server says (c, may be nil) with the local
// certificate (cert, may be nil) and its folder.
func viewOf(c *signetv1.Certificate, cert *x509.Certificate, dir string) certView {
	v := certView{Dir: dir, Status: statusUnknown}
	if cert == nil && len(c.GetDer()) > 0 {
		// Answers to the holder carry the DER: take the subject from it so
		// that it reads as in the NPKI folder name, not as the server
		// formats it.
		cert, _ = x509.ParseCertificate(c.GetDer())
	}
	if cert != nil {
		v.Serial = cert.SerialNumber.Text(16)
		v.NotBefore, v.NotAfter = rfc3339(cert.NotBefore), rfc3339(cert.NotAfter)
		if dn, err := npkiDN(cert.RawSubject); err == nil {
			v.Subject = dn
		}
	}
	if c == nil {
		return v
	}
	if v.Serial == "" {
		v.Serial = normalSerial(c.GetSerial())
	}
	if s, ok := statusNames[c.GetStatus()]; ok {
		v.Status = s
	}
	// The reason field is meaningful only for revoked or suspended
	// certificates: elsewhere its zero value would read as "unspecified".
	if v.Status == "revoked" || v.Status == "suspended" {
		v.RevocationReason = reasonName(c.GetRevocationReason())
		v.RevokedAt = tsString(c.GetRevokedAt())
	}
	// The server's dates are the record; the local ones only fill in.
	if s := tsString(c.GetNotBefore()); s != "" {
		v.NotBefore = s
	}
	if s := tsString(c.GetNotAfter()); s != "" {
		v.NotAfter = s
	}
	v.Profile = c.GetProfile()
	if v.Subject == "" {
		v.Subject = c.GetSubject()
	}
	if c.GetReplaces() != "" {
		v.ReplacedSerial = normalSerial(c.GetReplaces())
	}
	if c.GetReplacedBy() != "" {
		v.ReplacedBy = normalSerial(c.GetReplacedBy())
	}
	return v
}

// printView prints one certificate: a JSON object, or labelled lines.
func printView(w io.Writer, asJSON bool, v certView) error {
	if asJSON {
		return writeJSON(w, v)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(label, value string) {
		if value != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", label, value)
		}
	}
	line("serial", v.Serial)
	line("subject", v.Subject)
	st := v.Status
	if v.RevocationReason != "" {
		st += " (" + v.RevocationReason + ")"
	}
	line("status", st)
	line("revoked at", v.RevokedAt)
	line("profile", v.Profile)
	line("not before", v.NotBefore)
	line("not after", v.NotAfter)
	line("folder", v.Dir)
	line("replaced serial", v.ReplacedSerial)
	line("replaced by", v.ReplacedBy)
	line("note", v.Error)
	return tw.Flush()
}

// printList prints certificates: a JSON array (never null), or a table.
func printList(w io.Writer, asJSON bool, vs []certView) error {
	if asJSON {
		if vs == nil {
			vs = []certView{}
		}
		return writeJSON(w, vs)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tSERIAL\tNOT AFTER\tPROFILE\tSUBJECT")
	for _, v := range vs {
		st := v.Status
		if v.RevocationReason != "" {
			st += " (" + v.RevocationReason + ")"
		}
		if v.Error != "" {
			st += " [" + v.Error + "]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", st, dash(v.Serial), dash(v.NotAfter), dash(v.Profile), dash(v.Subject))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // DNs hold '<' or '&' rarely, but must stay readable
	return enc.Encode(v)
}
