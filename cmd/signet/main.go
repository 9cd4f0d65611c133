// Command signet is the subscriber's client for Signet: it makes the key on
// this device, proves identity through the (dev) identity providers, asks
// signetd for a certificate, and keeps certificate and encrypted key in the
// NPKI folder layout Korean software expects (DESIGN.md, "Key file on the
// device"). The private key never leaves the process except encrypted to
// signPri.key.
//
//	signet [global flags] <command> [flags]
//
// Global flags may also follow the command name.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"

	"github.com/signet-ca/signet/cmd/signet/admin"
	"github.com/signet-ca/signet/cmd/signet/internal/cli"
)

var commands = []cli.Command{
	{Name: "enroll", Summary: "issue a new certificate after phone and account checks (발급)", Run: runEnroll},
	{Name: "reissue", Summary: "replace the certificate of a lost key or forgotten password (재발급)", Run: runReissue},
	{Name: "renew", Summary: "renew a certificate with its current key, from 30 days before expiry (갱신)", Run: runRenew},
	{Name: "revoke", Summary: "revoke a certificate for good, with its key or with identity checks (폐지)", Run: runRevoke},
	{Name: "suspend", Summary: "put a certificate on hold, resumable within 6 months (효력정지)", Run: runSuspend},
	{Name: "resume", Summary: "lift a hold within 6 months of the suspension (효력회복)", Run: runResume},
	{Name: "status", Summary: "show a certificate's status on the server", Run: runStatus},
	{Name: "list", Summary: "list the certificates in the NPKI folder and their status", Run: runList},
	{Name: "export", Summary: "copy a certificate to a PKCS#12 file or another NPKI folder (내보내기)", Run: runExport},
	{Name: "import", Summary: "add a certificate from a PKCS#12 file or an NPKI folder (가져오기)", Run: runImport},
	{Name: "copy", Summary: "copy a certificate to another device with a 6-digit code: copy send | copy receive (인증서 복사)", Run: runCopy},
	{Name: "login", Summary: "sign in with a certificate, as a bank's app does (인증서 로그인)", Run: runLogin},
	{Name: "register", Summary: "register another bank's certificate for use here (타행 인증서 등록)", Run: runRegister},
	{Name: "unregister", Summary: "end a registration, with the key or with identity checks (해제)", Run: runUnregister},
	{Name: "registrations", Summary: "list your registered certificates, Signet's own included", Run: runRegistrations},
	{Name: "dev", Summary: "dev server only: dev other-ca issue|revoke, a second CA playing another bank's", Run: runDev},
	{Name: "verify-id", Summary: "prove a certificate is a person's: its VID from the resident number and the key file's R (본인확인)", Run: runVerifyID},
	{Name: "passwd", Summary: "change the certificate password (비밀번호 변경)", Run: runPasswd},
	{Name: "admin", Summary: "staff commands on the admin listener: search, history, audit log, stats, operator actions", Run: admin.Run},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process, for tests that drive the whole command
// line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cli.Run(ctx, args, stdout, stderr, commands)
}
