// Package admin is `signet admin`, the staff side of the CLI: auditors
// search certificates and the audit log, operators act on any certificate.
// It talks to signetd's admin listener, which accepts only client
// certificates from Signet's admin CA; the certificate names the caller and
// the role (server/admin.go).
//
//	signet [global flags] admin [admin flags] <command> [flags]
//
// Admin flags, like the global ones, may also follow the command name.
package admin

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// defaultAdminPort is the admin listener's port, used when --admin-server
// names only a host.
const defaultAdminPort = "9444"

// adminFlags are the flags every admin command takes: where the admin
// listener is, who the caller is, and the CSV output that only admin
// commands print.
type adminFlags struct {
	server, cert, key string
	csv               bool
}

// register binds the admin flags to fs with the current values as
// defaults, as cli.Globals.Register does.
func (a *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.server, "admin-server", a.server, "signetd admin listener `host:port` (mutual TLS)")
	fs.StringVar(&a.cert, "cert", a.cert, "PEM `file` with your staff client certificate from Signet's admin CA")
	fs.StringVar(&a.key, "key", a.key, "PEM `file` with its private key (default: the --cert file name with _key.pem for .pem)")
	fs.BoolVar(&a.csv, "csv", a.csv, "print CSV (a header row, then one row per record) instead of a table")
}

// keyFile follows signetd's naming (adminca.WriteIdentity writes
// <name>.pem and <name>_key.pem), so that --cert alone is enough.
func (a *adminFlags) keyFile() string {
	if a.key != "" {
		return a.key
	}
	return strings.TrimSuffix(a.cert, ".pem") + "_key.pem"
}

// adminEnv is what an admin command runs with.
type adminEnv struct {
	*cli.Env
	flags adminFlags
	// handshake is what dial's TLS client saw, to explain a refusal.
	handshake *handshakeNotes
}

type adminCommand struct {
	name, summary string
	run           func(ctx context.Context, x *adminEnv, args []string) error
}

var adminCommands = []adminCommand{
	{"certs", "search certificates by serial, subject, status, profile or dates", runAdminCerts},
	{"history", "one certificate's chain (issue, renew, reissue, revoke) and its audit events", runAdminHistory},
	{"events", "list audit events", runAdminEvents},
	{"stats", "certificates per profile and status, and per-day operations", runAdminStats},
	{"verify-log", "check the audit log's hash chain; exit 1 when it is broken", runAdminVerifyLog},
	{"signatures", "everything the CA keys signed in a period (the signature ledger)", runAdminSignatures},
	{"reminders", "expiry reminders to the RA channels: pending, failed, delivered; --retry ID (operator)", runAdminReminders},
	{"revoke", "revoke any certificate (operator)", runAdminRevoke},
	{"suspend", "put any certificate on hold (operator)", runAdminSuspend},
	{"resume", "lift the hold of any certificate (operator)", runAdminResume},
	{"unregister", "unregister any registered certificate: it no longer signs in (operator, 해제)", runAdminUnregister},
}

// Run is the admin command: args are what follows "admin" on the command
// line, e carries the global flags already parsed.
func Run(ctx context.Context, e *cli.Env, args []string) error {
	x := &adminEnv{Env: e, flags: adminFlags{
		server: net.JoinHostPort("127.0.0.1", defaultAdminPort),
		cert:   filepath.FromSlash("./var/signet/admin-auditor.pem"),
	}}
	fs := cli.NewFlagSet(e, "admin", "[admin flags] <command> [flags]")
	x.flags.register(fs)
	fs.Usage = func() { adminUsage(fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cli.ErrHelp
		}
		return &cli.UsageError{Msg: err.Error()}
	}
	if fs.NArg() == 0 {
		return cli.UsageErr(fs, "a command is required")
	}
	name := fs.Arg(0)
	if name == "help" {
		fs.SetOutput(e.Stdout)
		fs.Usage()
		return nil
	}
	for _, c := range adminCommands {
		if c.name == name {
			return c.run(ctx, x, fs.Args()[1:])
		}
	}
	return cli.UsageErr(fs, "unknown command %q", name)
}

func adminUsage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage: signet [global flags] admin [admin flags] <command> [flags]\n\nCommands:\n")
	for _, c := range adminCommands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'signet admin <command> -h' for a command's flags.\n\nFlags:\n")
	fs.PrintDefaults()
}

// flagSet makes an admin command's flag set, with the global and the
// admin flags.
func (x *adminEnv) flagSet(name, synopsis string) *flag.FlagSet {
	fs := cli.NewFlagSet(x.Env, "admin "+name, synopsis)
	x.flags.register(fs)
	return fs
}

// parse parses an admin command's flags and checks what every admin
// command shares.
func (x *adminEnv) parse(fs *flag.FlagSet, args []string) error {
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if x.G.JSON && x.flags.csv {
		return cli.UsageErr(fs, "give --json or --csv, not both")
	}
	if x.flags.cert == "" {
		return cli.UsageErr(fs, "--cert is required: your staff client certificate (PEM)")
	}
	return nil
}

// adminClient is a mutual-TLS connection to the admin listener.
type adminClient struct {
	conn    *grpc.ClientConn
	admin   signetv1.AdminServiceClient
	timeout time.Duration
}

func (c *adminClient) Close() { _ = c.conn.Close() }

// dial prepares the connection. As for the subscriber commands, --ca-file
// is the only trust anchor for the server; the client certificate is what
// the admin listener authorizes. grpc.NewClient connects on the first
// call, so this fails only on local problems.
func (x *adminEnv) dial() (*adminClient, error) {
	if x.G.Timeout <= 0 {
		return nil, fmt.Errorf("--timeout %s: give a positive duration such as 30s", x.G.Timeout)
	}
	addr, host, err := adminAddr(x.flags.server)
	if err != nil {
		return nil, err
	}
	roots, err := x.G.Roots()
	if err != nil {
		return nil, err
	}
	id, err := x.flags.identity(time.Now())
	if err != nil {
		return nil, err
	}
	x.handshake = &handshakeNotes{}
	cfg := &tls.Config{RootCAs: roots, ServerName: host, MinVersion: tls.VersionTLS12,
		GetClientCertificate: x.handshake.offer(id)}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		return nil, fmt.Errorf("--admin-server %s: %w", x.flags.server, err)
	}
	return &adminClient{conn: conn, admin: signetv1.NewAdminServiceClient(conn), timeout: x.G.Timeout}, nil
}

// identity loads the staff certificate and key. An expired certificate is
// caught here: the listener would only answer with a TLS alert.
func (a *adminFlags) identity(now time.Time) (tls.Certificate, error) {
	id, err := tls.LoadX509KeyPair(a.cert, a.keyFile())
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return tls.Certificate{}, fmt.Errorf("reading the staff certificate (--cert %s, --key %s): %w\n"+
				"signet: signetd --dev writes var/signet/admin-auditor.pem and admin-operator.pem; "+
				"otherwise ask for one made with `signetd admin-cert --role auditor|operator`", a.cert, a.keyFile(), err)
		}
		return tls.Certificate{}, fmt.Errorf("the staff certificate --cert %s with --key %s: %w", a.cert, a.keyFile(), err)
	}
	switch leaf := id.Leaf; {
	case now.After(leaf.NotAfter):
		return tls.Certificate{}, fmt.Errorf("the staff certificate --cert %s expired at %s: ask for a new one (`signetd admin-cert`)",
			a.cert, cli.RFC3339(leaf.NotAfter))
	case now.Before(leaf.NotBefore):
		return tls.Certificate{}, fmt.Errorf("the staff certificate --cert %s is valid only from %s: check this computer's clock",
			a.cert, cli.RFC3339(leaf.NotBefore))
	}
	return id, nil
}

// handshakeNotes records what the TLS client saw of the admin listener's
// request for a client certificate. With TLS 1.3 the server checks the
// client certificate after the client has finished its side of the
// handshake, so its refusal reaches gRPC as a TLS alert or just as a
// broken connection, whichever comes first. What the client can decide
// itself, it decides in the handshake, where the error is certain.
type handshakeNotes struct {
	asked   atomic.Bool                  // the server asked for a client certificate
	wrongCA atomic.Pointer[wrongCAError] // and ours is not from a CA it accepts
}

// wrongCAError is a staff certificate from another CA than the ones the
// listener names in its certificate request.
type wrongCAError struct {
	issuer     string
	acceptable []string
}

func (e *wrongCAError) Error() string {
	return fmt.Sprintf("it is issued by %s, not by %s", e.issuer, strings.Join(e.acceptable, " or "))
}

// offer returns the TLS client's GetClientCertificate: it sends id, unless
// the server's list of acceptable CAs rules it out. Then it fails the
// handshake at once instead of sending no certificate, which the server
// would refuse with an alert the client might not read.
func (n *handshakeNotes) offer(id tls.Certificate) func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		n.asked.Store(true)
		if len(cri.AcceptableCAs) > 0 && cri.SupportsCertificate(&id) != nil {
			e := &wrongCAError{issuer: id.Leaf.Issuer.String()}
			for _, der := range cri.AcceptableCAs {
				var dn pkix.RDNSequence
				if _, err := asn1.Unmarshal(der, &dn); err == nil {
					var name pkix.Name
					name.FillFromRDNSequence(&dn)
					e.acceptable = append(e.acceptable, name.String())
				}
			}
			n.wrongCA.Store(e)
			return nil, e
		}
		return &id, nil
	}
}

// adminAddr splits --admin-server into the dial address and the TLS server
// name, adding the admin port when only a host is given.
func adminAddr(server string) (addr, host string, err error) {
	if server == "" {
		return "", "", errors.New("--admin-server is empty: give the admin listener's host:port, e.g. 127.0.0.1:9444")
	}
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		host, port = server, defaultAdminPort
	}
	if host == "" {
		return "", "", fmt.Errorf("--admin-server %q has no host: give host:port, e.g. 127.0.0.1:9444", server)
	}
	return net.JoinHostPort(host, port), host, nil
}

// adminError is a failed admin call as people read it: the server's
// message, the gRPC code, and a hint naming the admin flags. It carries no
// gRPC status on purpose, so that cli.ErrorText prints it as it is rather than
// with the hints of the subscriber commands (--server).
type adminError struct{ text string }

func (e *adminError) Error() string { return e.text }

// callError explains a failed call of method. Errors without a gRPC status
// (local problems) pass unchanged.
func (x *adminEnv) callError(method string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	msg, code := st.Message(), st.Code()
	var hint string
	switch code {
	case codes.Unavailable:
		refused := fmt.Sprintf("the client certificate was refused by the admin listener at %s (wrong CA or missing)", x.flags.server)
		staffHint := fmt.Sprintf("--cert %s must be a staff certificate from Signet's admin CA, made by `signetd admin-cert --role auditor|operator` "+
			"(signetd --dev writes var/signet/admin-auditor.pem and admin-operator.pem)", x.flags.cert)
		n := x.handshake
		switch alert := refusedClientCert(msg); {
		case n != nil && n.wrongCA.Load() != nil:
			msg, hint = refused+": "+n.wrongCA.Load().Error(), staffHint
		case alert != "":
			msg, hint = refused+": "+alert, staffHint
		case strings.Contains(msg, "certificate") || strings.Contains(msg, "handshake"):
			hint = fmt.Sprintf("TLS failed: does --ca-file %s hold the root certificate of the signetd at %s?", x.G.CAFile, x.flags.server)
		case n != nil && n.asked.Load() && closedEarly(msg):
			// The listener asked for the certificate and hung up before
			// the first gRPC frame: its alert lost the race with our write.
			msg, hint = refused+": it closed the connection after the TLS handshake ("+msg+")", staffHint
		default:
			hint = fmt.Sprintf("is signetd's admin listener running at %s (--admin-server)?", x.flags.server)
		}
	case codes.DeadlineExceeded:
		hint = fmt.Sprintf("no answer within %s: retry, or raise --timeout", x.G.Timeout)
	case codes.Unimplemented:
		if strings.Contains(msg, "unknown service") {
			hint = fmt.Sprintf("%s is not an admin listener: give --admin-server the admin address (signetd --dev: 127.0.0.1:%s), not the gRPC one", x.flags.server, defaultAdminPort)
		} else {
			hint = fmt.Sprintf("the signetd at %s does not answer %s yet: it needs a newer signetd", x.flags.server, method)
		}
	case codes.PermissionDenied:
		if isOperatorMethod(method) {
			hint = "operator actions need --cert and --key of an operator certificate (signetd --dev writes var/signet/admin-operator.pem)"
		}
	}
	text := fmt.Sprintf("%s (%s)", msg, code)
	if hint != "" {
		text += "\nsignet: " + hint
	}
	return &adminError{text: text}
}

func isOperatorMethod(method string) bool { return strings.HasPrefix(method, "Admin") }

// refusedClientCert returns the TLS alert with which the admin listener
// refused the client certificate, or "". Go's TLS server answers a missing
// certificate with "certificate required" (TLS 1.3) and one from another
// CA with "unknown certificate authority" or "bad certificate"; the client
// sees them as "remote error: tls: ...".
func refusedClientCert(msg string) string {
	i := strings.Index(msg, "remote error: tls: ")
	if i < 0 {
		return ""
	}
	alert := strings.TrimRight(msg[i:], `"`)
	if !strings.Contains(alert, "certificate") && !strings.Contains(alert, "access denied") {
		return ""
	}
	return alert
}

// closedEarly reports a connection that broke before gRPC got an answer.
func closedEarly(msg string) bool {
	for _, s := range []string{"broken pipe", "connection reset by peer", "EOF", "error reading server preface"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// pages calls fetch for one page, or with all for every page, following
// next_page_token (keyset pagination). It returns the records and the
// token of the page that was not fetched, if any.
func pages[T any](ctx context.Context, all bool, token string, fetch func(ctx context.Context, token string) ([]T, string, error)) ([]T, string, error) {
	var out []T
	seen := map[string]bool{token: true}
	for {
		got, next, err := fetch(ctx, token)
		if err != nil {
			return nil, "", err
		}
		out = append(out, got...)
		if !all || next == "" {
			return out, next, nil
		}
		if seen[next] {
			return nil, "", fmt.Errorf("the server sent page token %q twice: stopped after %d records instead of looping", next, len(out))
		}
		seen[next] = true
		token = next
	}
}

// morePages tells people, and scripts on stderr, that a listing is one
// page of more.
func (x *adminEnv) morePages(what, next string) {
	if next != "" {
		fmt.Fprintf(x.Stderr, "signet: more %s follow: add --all, or --page-token %s for the next page\n", what, next)
	}
}
