package cli

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/signet-ca/signet/ca/crlreason"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// CertView is one certificate as signet prints it. The JSON names are a
// contract for scripts: serial is lower-case hex without leading zeros
// (big.Int.Text(16)), times are RFC 3339 UTC, revocation_reason is the
// RFC 5280 name or "".
type CertView struct {
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

// StatusUnknown is the status of a certificate the server could not be
// asked about.
const StatusUnknown = "unknown"

var StatusNames = map[signetv1.CertificateStatus]string{
	signetv1.CertificateStatus_CERTIFICATE_STATUS_ACTIVE:    "active",
	signetv1.CertificateStatus_CERTIFICATE_STATUS_SUSPENDED: "suspended",
	signetv1.CertificateStatus_CERTIFICATE_STATUS_REVOKED:   "revoked",
	signetv1.CertificateStatus_CERTIFICATE_STATUS_EXPIRED:   "expired",
}

func ReasonName(r signetv1.RevocationReason) string { return crlreason.Name(int(r)) }

// NormalSerial writes a serial from the server as big.Int.Text(16) does,
// so that local and remote serials compare as strings.
func NormalSerial(s string) string {
	if n, ok := new(big.Int).SetString(strings.TrimPrefix(strings.ToLower(s), "0x"), 16); ok {
		return n.Text(16)
	}
	return s
}

func RFC3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func TSString(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return RFC3339(ts.AsTime())
}

// ViewOf merges what the server says (c, may be nil) with the local
// certificate (cert, may be nil) and its folder.
func ViewOf(c *signetv1.Certificate, cert *x509.Certificate, dir string) CertView {
	v := CertView{Dir: dir, Status: StatusUnknown}
	if cert == nil && len(c.GetDer()) > 0 {
		// Answers to the holder carry the DER: take the subject from it so
		// that it reads as in the NPKI folder name, not as the server
		// formats it.
		cert, _ = x509.ParseCertificate(c.GetDer())
	}
	if cert != nil {
		v.Serial = cert.SerialNumber.Text(16)
		v.NotBefore, v.NotAfter = RFC3339(cert.NotBefore), RFC3339(cert.NotAfter)
		if dn, err := NPKIDN(cert.RawSubject); err == nil {
			v.Subject = dn
		}
	}
	if c == nil {
		return v
	}
	if v.Serial == "" {
		v.Serial = NormalSerial(c.GetSerial())
	}
	if s, ok := StatusNames[c.GetStatus()]; ok {
		v.Status = s
	}
	// The reason field is meaningful only for revoked or suspended
	// certificates: elsewhere its zero value would read as "unspecified".
	if v.Status == "revoked" || v.Status == "suspended" {
		v.RevocationReason = ReasonName(c.GetRevocationReason())
		v.RevokedAt = TSString(c.GetRevokedAt())
	}
	// The server's dates are the record; the local ones only fill in.
	if s := TSString(c.GetNotBefore()); s != "" {
		v.NotBefore = s
	}
	if s := TSString(c.GetNotAfter()); s != "" {
		v.NotAfter = s
	}
	v.Profile = c.GetProfile()
	if v.Subject == "" {
		v.Subject = c.GetSubject()
	}
	if c.GetReplaces() != "" {
		v.ReplacedSerial = NormalSerial(c.GetReplaces())
	}
	if c.GetReplacedBy() != "" {
		v.ReplacedBy = NormalSerial(c.GetReplacedBy())
	}
	return v
}

// PrintView prints one certificate: a JSON object, or labelled lines.
func PrintView(w io.Writer, asJSON bool, v CertView) error {
	if asJSON {
		return WriteJSON(w, v)
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

func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // DNs hold '<' or '&' rarely, but must stay readable
	return enc.Encode(v)
}

// CheckSerial accepts a serial as people copy it (upper case, 0x, colons
// between bytes) and returns it as big.Int.Text(16).
func CheckSerial(s string) (string, error) {
	t := strings.ReplaceAll(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "0x"), ":", "")
	bad := t == "" || len(t) > 64 // a serial has at most 20 bytes; leave room for leading zeros
	for _, r := range t {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			bad = true
		}
	}
	n, ok := new(big.Int).SetString(t, 16)
	if bad || !ok || n.Sign() == 0 {
		if s == "" {
			return "", errors.New("--serial is required")
		}
		return "", fmt.Errorf("--serial %q is not a certificate serial in hex: copy it from `signet list` or `signet status`", s)
	}
	return n.Text(16), nil
}
