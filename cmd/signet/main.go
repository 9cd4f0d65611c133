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
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Exit codes: 1 for a refused or failed operation, 2 for bad input that was
// caught before contacting the server.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// globals are the flags every command accepts.
type globals struct {
	server  string
	caFile  string
	home    string
	json    bool
	timeout time.Duration
}

// env is what a command runs with: its flags, its output streams and the
// process context (cancelled on Ctrl-C).
type env struct {
	g      *globals
	stdout io.Writer
	stderr io.Writer
}

// command is one subcommand. run parses its own flags from args.
type command struct {
	name, summary string
	run           func(ctx context.Context, e *env, args []string) error
}

var commands = []command{
	{"enroll", "issue a new certificate after phone and account checks (발급)", runEnroll},
	{"reissue", "replace the certificate of a lost key or forgotten password (재발급)", runReissue},
	{"renew", "renew a certificate with its current key, from 30 days before expiry (갱신)", runRenew},
	{"revoke", "revoke a certificate for good, with its key or with identity checks (폐지)", runRevoke},
	{"suspend", "put a certificate on hold, resumable within 6 months (효력정지)", runSuspend},
	{"resume", "lift a hold within 6 months of the suspension (효력회복)", runResume},
	{"status", "show a certificate's status on the server", runStatus},
	{"list", "list the certificates in the NPKI folder and their status", runList},
	{"export", "copy a certificate to a PKCS#12 file or another NPKI folder (내보내기)", runExport},
	{"import", "add a certificate from a PKCS#12 file or an NPKI folder (가져오기)", runImport},
	{"passwd", "change the certificate password (비밀번호 변경)", runPasswd},
	{"admin", "staff commands on the admin listener: search, history, audit log, stats, operator actions", runAdmin},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit code, so that tests
// can drive the whole command line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{
		server:  "127.0.0.1:9443",
		caFile:  filepath.FromSlash("./var/signet/root.pem"),
		home:    defaultHome(),
		timeout: 30 * time.Second,
	}
	fs := flag.NewFlagSet("signet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	g.register(fs)
	fs.Usage = func() { mainUsage(fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "signet: a command is required")
		fs.Usage()
		return exitUsage
	}
	name := fs.Arg(0)
	if name == "help" {
		fs.SetOutput(stdout)
		fs.Usage()
		return exitOK
	}
	for _, c := range commands {
		if c.name == name {
			return finish(c.run(ctx, &env{g: g, stdout: stdout, stderr: stderr}, fs.Args()[1:]), stderr, g)
		}
	}
	fmt.Fprintf(stderr, "signet: unknown command %q\n", name)
	fs.Usage()
	return exitUsage
}

// register binds the global flags to fs. Subcommands register them too,
// with the current values as defaults, so that `signet enroll --json` works
// as well as `signet --json enroll`.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.server, "server", g.server, "signetd gRPC address `host:port`")
	fs.StringVar(&g.caFile, "ca-file", g.caFile, "PEM `file` with the root certificate that signetd's TLS chain must lead to")
	fs.StringVar(&g.home, "home", g.home, "`folder` holding the NPKI folder")
	fs.BoolVar(&g.json, "json", g.json, "print JSON instead of text")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "time limit for each call to the server")
}

// defaultHome is the folder that holds NPKI on this platform (DESIGN.md,
// "Folder roots"): Korean software looks only there.
func defaultHome() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	switch runtime.GOOS {
	case "darwin":
		return filepath.Join(home, "Library", "Preferences")
	case "windows":
		return filepath.Join(home, "AppData", "LocalLow")
	}
	return home
}

func mainUsage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage: signet [global flags] <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'signet <command> -h' for a command's flags.\n\nGlobal flags:\n")
	fs.PrintDefaults()
}

// usageError is bad input found before contacting the server.
type usageError struct {
	fs  *flag.FlagSet
	msg string
}

func (e *usageError) Error() string { return e.msg }

// errHelp means the user asked for a command's usage, which was printed.
var errHelp = errors.New("help requested")

// newFlagSet makes a subcommand's flag set: errors go to stderr and come
// back as a usageError so that every bad input ends the same way.
func newFlagSet(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("signet "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: signet %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	e.g.register(fs)
	return fs
}

// parse parses args into fs. The flag package has already printed its
// message and the usage when it fails.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return &usageError{msg: err.Error()} // fs is nil: already reported
	}
	if fs.NArg() > 0 {
		return usageErr(fs, "unexpected argument %q (every value is given with a flag)", fs.Arg(0))
	}
	return nil
}

func usageErr(fs *flag.FlagSet, format string, a ...any) error {
	return &usageError{fs: fs, msg: fmt.Sprintf(format, a...)}
}

// finish turns a command's error into its message and exit code.
func finish(err error, stderr io.Writer, g *globals) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, errHelp) {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		if ue.fs != nil {
			fmt.Fprintf(stderr, "%s: %s\n", ue.fs.Name(), ue.msg)
			ue.fs.Usage()
		}
		return exitUsage
	}
	fmt.Fprintln(stderr, errorText(err, g))
	return exitFail
}

// errorText renders an error for people: the server's message, which says
// what to do, and the gRPC code name for scripts and bug reports. Transport
// failures get a hint, because their own text rarely names the fix.
func errorText(err error, g *globals) string {
	var ce *callError
	if !errors.As(err, &ce) {
		if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
			ce = &callError{st: st}
		}
	}
	if ce == nil {
		return "signet: " + err.Error()
	}
	msg := ce.st.Message()
	if ce.op != "" {
		msg = ce.op + ": " + msg
	}
	text := fmt.Sprintf("signet: %s (%s)", msg, ce.st.Code())
	switch ce.st.Code() {
	case codes.Unavailable:
		if strings.Contains(msg, "certificate") || strings.Contains(msg, "handshake") {
			text += fmt.Sprintf("\nsignet: TLS failed: does --ca-file %s hold the root certificate of the signetd at %s?", g.caFile, g.server)
		} else {
			text += fmt.Sprintf("\nsignet: is signetd running at %s (--server)?", g.server)
		}
	case codes.DeadlineExceeded:
		text += fmt.Sprintf("\nsignet: no answer within %s: retry, or raise --timeout", g.timeout)
	}
	return text
}

// callError is a failed gRPC call, with what the client was doing when the
// server's message alone would not say it.
type callError struct {
	op string
	st *status.Status
}

func (e *callError) Error() string {
	if e.op == "" {
		return e.st.Message()
	}
	return e.op + ": " + e.st.Message()
}

// GRPCStatus lets status.Code see through the wrapper.
func (e *callError) GRPCStatus() *status.Status { return e.st }
