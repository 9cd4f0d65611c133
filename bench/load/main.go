// Command load issues certificates concurrently over the real wire protocol
// and reports the rate and the latency, like ghz but speaking Signet's flow.
//
//	go run ./bench/load -mode issue -c 32 -n 3500            # Signet, IssueCertificate only
//	go run ./bench/load -mode full -c 32 -n 3500 -json       # Signet, all 6 calls per certificate
//	go run ./bench/load -target stepca -addr 127.0.0.1:9000 -ca-file root.crt \
//	    -stepca-provisioner bench -stepca-key jwk.json       # step-ca POST /1.0/sign, the peer
//
// Everything that is not the measured call is made before the timer starts:
// every client key and CSR, and for -mode issue every enrollment and its
// dev evidence (fresh for 10 minutes, so made per run), and for step-ca
// every one-time token. -mode full times StartEnrollment, the four
// DevIdentityService calls and IssueCertificate as one unit. -mode issue
// pauses -settle (2 s) before the timer, so that signetd's background work
// on the prepared rows is not measured as issuance.
//
// Latencies are those of successful units; certs/s is successful units
// over the wall time of the timed phase. Errors are counted by gRPC code
// (or "HTTP nnn" for step-ca), each with what to do about it.
//
// bench/peer/run.sh runs it side by side with step-ca. It is a main package:
// `make test` runs only the tests of its pure parts.
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

type config struct {
	target, mode, addr, caFile, profile, keyType string
	c, n, conns                                  int
	json                                         bool
	timeout, interval, settle                    time.Duration
	stepProvisioner, stepKey                     string
	saveCert                                     string
}

// target is one CA under load. Methods are called in order: preflight,
// prepare (untimed), then issue for every index (timed), then close.
type target interface {
	// csrTemplate is the request for certificate i.
	csrTemplate(i int) *x509.CertificateRequest
	// preflight makes one cheap call so that a wrong address fails at once
	// with advice instead of n times.
	preflight(ctx context.Context) error
	// prepare does the untimed work for every certificate, given its CSR.
	prepare(ctx context.Context, csrs [][]byte, stage func(label string, total int) *progress) error
	// issue obtains certificate i: the timed unit.
	issue(ctx context.Context, i int) error
	// describe fills the target, mode and protocol fields.
	describe(s *summary)
	close()
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	s, err := run(ctx, cfg, os.Stderr, isTerminal(os.Stderr))
	if err != nil && s.Target == "" {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	if cfg.json {
		if err := writeJSON(os.Stdout, s); err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			os.Exit(1)
		}
		writeText(os.Stderr, s)
	} else {
		writeText(os.Stdout, s)
	}
	switch {
	case err != nil: // interrupted during the timed phase
		fmt.Fprintf(os.Stderr, "load: interrupted (%v): the figures cover only the units done before it\n", err)
		os.Exit(130)
	case s.OK == 0:
		fmt.Fprintln(os.Stderr, "load: no certificate was issued: read the errors above")
		os.Exit(1)
	}
}

func parseFlags(args []string, out io.Writer) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.target, "target", "signet", "`CA` under load: signet (gRPC) or stepca (POST /1.0/sign)")
	fs.StringVar(&cfg.mode, "mode", "issue", "signet: `issue` (IssueCertificate only, enrollment and evidence made beforehand) or full (6 calls per certificate, timed as one)")
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:9443", "server `host:port`; for Signet several, comma-separated, take certificates in turn (one replica per certificate)")
	fs.StringVar(&cfg.caFile, "ca-file", "var/signet/root.pem", "trust anchor `PEM` (signetd --dev writes STATE_DIR/root.pem; step-ca: certs/root_ca.crt)")
	fs.StringVar(&cfg.profile, "profile", "personal-banking", "signet certificate `profile`")
	fs.StringVar(&cfg.keyType, "key", "p256", "client key `type`: p256 or rsa2048")
	fs.IntVar(&cfg.c, "c", 32, "concurrent requests")
	fs.IntVar(&cfg.n, "n", 3500, "certificates to issue")
	fs.IntVar(&cfg.conns, "conns", 1, "gRPC connections the workers share (like ghz --connections)")
	fs.BoolVar(&cfg.json, "json", false, "print one JSON object on stdout (the human report goes to stderr)")
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "per-call time limit")
	fs.DurationVar(&cfg.interval, "interval", 2*time.Second, "progress line interval when stderr is not a terminal")
	fs.DurationVar(&cfg.settle, "settle", 2*time.Second, "signet -mode issue: pause between preparing and the timed phase, so that the server's background work on the prepared rows (audit sealing, stats) does not land in the measurement")
	fs.StringVar(&cfg.stepProvisioner, "stepca-provisioner", "bench", "step-ca JWK provisioner `name` (the token's iss)")
	fs.StringVar(&cfg.saveCert, "save-cert", "", "write the first certificate issued in the timed phase to this PEM `file`, to check it with openssl")
	fs.StringVar(&cfg.stepKey, "stepca-key", "", "step-ca provisioner private key, a JWK `file` (step crypto jwk create --no-password --insecure)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: every option is a flag (see -h)", fs.Arg(0))
	}
	modeSet := false
	fs.Visit(func(f *flag.Flag) { modeSet = modeSet || f.Name == "mode" })
	switch cfg.target {
	case "signet":
		if cfg.mode != "issue" && cfg.mode != "full" {
			return nil, fmt.Errorf("-mode %q: use issue or full", cfg.mode)
		}
	case "stepca":
		if modeSet && cfg.mode != "sign" && cfg.mode != "issue" {
			return nil, fmt.Errorf("-mode %q: step-ca has one mode, its sign call (leave -mode out)", cfg.mode)
		}
		cfg.mode = "sign"
		if cfg.stepKey == "" {
			return nil, errors.New("-target stepca needs -stepca-key: the provisioner's private JWK (bench/peer/run.sh makes one)")
		}
	default:
		return nil, fmt.Errorf("-target %q: use signet or stepca", cfg.target)
	}
	if _, ok := keyGenerators[cfg.keyType]; !ok {
		return nil, fmt.Errorf("-key %q: use p256 or rsa2048", cfg.keyType)
	}
	if cfg.c < 1 || cfg.n < 1 || cfg.conns < 1 {
		return nil, errors.New("-c, -n and -conns must be at least 1")
	}
	if cfg.timeout <= 0 || cfg.interval <= 0 || cfg.settle < 0 {
		return nil, errors.New("-timeout and -interval must be positive durations, e.g. 30s, and -settle not negative")
	}
	return cfg, nil
}

var keyGenerators = map[string]func() (crypto.Signer, error){
	"p256":    func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) },
	"rsa2048": func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) },
}

func run(ctx context.Context, cfg *config, log io.Writer, tty bool) (summary, error) {
	stage := func(label string, total int) *progress {
		return startProgress(log, tty, label, total, cfg.interval)
	}
	var t target
	var err error
	switch cfg.target {
	case "signet":
		t, err = newSignetTarget(cfg)
	case "stepca":
		t, err = newStepCATarget(cfg)
	}
	if err != nil {
		return summary{}, err
	}
	defer t.close()
	if err := t.preflight(ctx); err != nil {
		return summary{}, err
	}

	// Keys and CSRs first: RSA keys take a while, and evidence made after
	// them stays fresh longer.
	csrs := make([][]byte, cfg.n)
	p := stage("keys+CSRs ("+cfg.keyType+")", cfg.n)
	err = forEach(ctx, cfg.n, runtime.GOMAXPROCS(0), p, func(i int) error {
		key, err := keyGenerators[cfg.keyType]()
		if err != nil {
			return fmt.Errorf("generating a %s key: %w", cfg.keyType, err)
		}
		csrs[i], err = x509.CreateCertificateRequest(rand.Reader, t.csrTemplate(i), key)
		return err
	})
	p.finish()
	if err != nil {
		return summary{}, err
	}
	if err := t.prepare(ctx, csrs, stage); err != nil {
		if h := hint(cfg.target, errorCode(err)); h != "" && ctx.Err() == nil {
			err = fmt.Errorf("%w\n  -> %s", err, h)
		}
		return summary{}, fmt.Errorf("preparing the run: %w", err)
	}
	if cfg.target == "signet" && cfg.mode == "issue" && cfg.settle > 0 {
		select {
		case <-ctx.Done():
			return summary{}, ctx.Err()
		case <-time.After(cfg.settle):
		}
	}

	s := summary{Addr: cfg.addr, Key: cfg.keyType, C: cfg.c, N: cfg.n}
	t.describe(&s)
	outs := make([]outcome, cfg.n)
	p = stage(fmt.Sprintf("%s %s c=%d", s.Target, s.Mode, cfg.c), cfg.n)
	started := time.Now()
	timed(ctx, cfg.n, cfg.c, p, outs, t.issue)
	wall := time.Since(started)
	p.finish()
	t.describe(&s) // the protocol is known only after the first answer
	if cfg.saveCert != "" {
		if err := firstCert.save(cfg.saveCert); err != nil {
			return summary{}, err
		}
	}
	return summarize(s, outs, started, wall), ctx.Err()
}

// firstCert keeps the first certificate a target received, for -save-cert.
var firstCert keptCert

type keptCert struct {
	once sync.Once
	pem  []byte
}

func (k *keptCert) keep(pemBytes []byte) { k.once.Do(func() { k.pem = pemBytes }) }

func (k *keptCert) save(file string) error {
	if k.pem == nil {
		return fmt.Errorf("-save-cert %s: no certificate was issued", file)
	}
	if err := os.WriteFile(file, k.pem, 0o644); err != nil {
		return fmt.Errorf("-save-cert: %w", err)
	}
	return nil
}

// forEach runs fn for 0..n-1 on workers goroutines and stops at the first
// error: preparation must be complete or the run is not worth timing.
func forEach(ctx context.Context, n, workers int, p *progress, fn func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
				p.add(false)
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// timed runs unit for 0..n-1 on c workers, recording every latency and
// failure; a failure does not stop the run. Only an interrupt does.
func timed(ctx context.Context, n, c int, p *progress, outs []outcome, unit func(context.Context, int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(c, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				err := unit(ctx, i)
				if err != nil && ctx.Err() != nil {
					return // cut short by the interrupt: neither success nor failure
				}
				outs[i] = outcome{lat: time.Since(t0), done: true}
				if err != nil {
					outs[i].code, outs[i].msg = errorCode(err), err.Error()
				}
				p.add(err != nil)
			}
		})
	}
	wg.Wait()
}
