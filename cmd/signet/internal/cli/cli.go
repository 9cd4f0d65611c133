// Package cli is what every signet command shares: the global flags, the
// command-line driver with its exit codes and error messages, the
// certificate view that both the subscriber and the admin commands print,
// and the call helpers (one time limit per call, retries for mutating calls).
package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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
	ExitOK    = 0
	ExitFail  = 1
	ExitUsage = 2
)

// Globals are the flags every command accepts.
type Globals struct {
	Server  string
	CAFile  string
	Home    string
	JSON    bool
	Timeout time.Duration
}

// Env is what a command runs with: its flags, its output streams and the
// process context (cancelled on Ctrl-C).
type Env struct {
	G      *Globals
	Stdout io.Writer
	Stderr io.Writer
}

// Progress is where steps are narrated: stderr, and nowhere with --json so
// that scripts see only the result.
func (e *Env) Progress() io.Writer {
	if e.G.JSON {
		return io.Discard
	}
	return e.Stderr
}

// Command is one subcommand. Run parses its own flags from args.
type Command struct {
	Name, Summary string
	Run           func(ctx context.Context, e *Env, args []string) error
}

// Run is main without the process: it parses the global flags, runs the
// command that args name, and returns the exit code, so that tests can
// drive the whole command line.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, commands []Command) int {
	g := &Globals{
		Server:  "127.0.0.1:9443",
		CAFile:  filepath.FromSlash("./var/signet/root.pem"),
		Home:    defaultHome(),
		Timeout: 30 * time.Second,
	}
	fs := flag.NewFlagSet("signet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	g.Register(fs)
	fs.Usage = func() { usage(fs, commands) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "signet: a command is required")
		fs.Usage()
		return ExitUsage
	}
	name := fs.Arg(0)
	if name == "help" {
		fs.SetOutput(stdout)
		fs.Usage()
		return ExitOK
	}
	for _, c := range commands {
		if c.Name == name {
			return finish(c.Run(ctx, &Env{G: g, Stdout: stdout, Stderr: stderr}, fs.Args()[1:]), stderr, g)
		}
	}
	fmt.Fprintf(stderr, "signet: unknown command %q\n", name)
	fs.Usage()
	return ExitUsage
}

// Register binds the global flags to fs. Subcommands register them too,
// with the current values as defaults, so that `signet enroll --json` works
// as well as `signet --json enroll`.
func (g *Globals) Register(fs *flag.FlagSet) {
	fs.StringVar(&g.Server, "server", g.Server, "signetd gRPC address `host:port`")
	fs.StringVar(&g.CAFile, "ca-file", g.CAFile, "PEM `file` with the root certificate that signetd's TLS chain must lead to")
	fs.StringVar(&g.Home, "home", g.Home, "`folder` holding the NPKI folder")
	fs.BoolVar(&g.JSON, "json", g.JSON, "print JSON instead of text")
	fs.DurationVar(&g.Timeout, "timeout", g.Timeout, "time limit for each call to the server")
}

// Roots reads --ca-file, the only trust anchor for signetd's TLS
// certificate: the subscriber and the staff talk to exactly one CA, and a
// system root store would let any public CA impersonate it.
func (g *Globals) Roots() (*x509.CertPool, error) {
	pem, err := os.ReadFile(g.CAFile)
	if err != nil {
		return nil, fmt.Errorf("reading the trust anchor (--ca-file): %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca-file %s holds no PEM certificate: give signetd's root certificate (root.pem)", g.CAFile)
	}
	return roots, nil
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

func usage(fs *flag.FlagSet, commands []Command) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage: signet [global flags] <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.Name, c.Summary)
	}
	fmt.Fprintf(w, "\nRun 'signet <command> -h' for a command's flags.\n\nGlobal flags:\n")
	fs.PrintDefaults()
}

// UsageError is bad input found before contacting the server.
type UsageError struct {
	fs  *flag.FlagSet // nil when the flag package has already reported it
	Msg string
}

func (e *UsageError) Error() string { return e.Msg }

// ErrHelp means the user asked for a command's usage, which was printed.
var ErrHelp = errors.New("help requested")

// NewFlagSet makes a subcommand's flag set: errors go to stderr and come
// back as a UsageError so that every bad input ends the same way.
func NewFlagSet(e *Env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("signet "+name, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: signet %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	e.G.Register(fs)
	return fs
}

// Parse parses args into fs. The flag package has already printed its
// message and the usage when it fails.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ErrHelp
		}
		return &UsageError{Msg: err.Error()} // fs is nil: already reported
	}
	if fs.NArg() > 0 {
		return UsageErr(fs, "unexpected argument %q (every value is given with a flag)", fs.Arg(0))
	}
	return nil
}

func UsageErr(fs *flag.FlagSet, format string, a ...any) error {
	return &UsageError{fs: fs, Msg: fmt.Sprintf(format, a...)}
}

// finish turns a command's error into its message and exit code.
func finish(err error, stderr io.Writer, g *Globals) int {
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, ErrHelp) {
		return ExitOK
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		if ue.fs != nil {
			fmt.Fprintf(stderr, "%s: %s\n", ue.fs.Name(), ue.Msg)
			ue.fs.Usage()
		}
		return ExitUsage
	}
	fmt.Fprintln(stderr, ErrorText(err, g))
	return ExitFail
}

// ErrorText renders an error for people: the server's message, which says
// what to do, and the gRPC code name for scripts and bug reports. Transport
// failures get a hint, because their own text rarely names the fix.
func ErrorText(err error, g *Globals) string {
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
			text += fmt.Sprintf("\nsignet: TLS failed: does --ca-file %s hold the root certificate of the signetd at %s?", g.CAFile, g.Server)
		} else {
			text += fmt.Sprintf("\nsignet: is signetd running at %s (--server)?", g.Server)
		}
	case codes.DeadlineExceeded:
		text += fmt.Sprintf("\nsignet: no answer within %s: retry, or raise --timeout", g.Timeout)
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

// WrapCall says what the client was doing when a call failed, keeping the
// gRPC status for the exit message.
func WrapCall(op string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", op, err)
	}
	if strings.HasPrefix(st.Message(), op+":") {
		op = "" // the server already said it
	}
	return &callError{op: op, st: st}
}
