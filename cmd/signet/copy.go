package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	"github.com/signet-ca/signet/devicecopy"
	"github.com/signet-ca/signet/npki"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// Copying a certificate between two devices with a 6-digit code (인증서
// 복사), through signetd's copy relay (server/copy.go), which learns
// neither the code nor the certificate (devicecopy/SECURITY.md). The same
// two commands serve PC → phone and phone → PC.

// copyStdin is where `copy receive` reads the code when --code is absent.
var copyStdin io.Reader = os.Stdin

// copyMaxAttempts mirrors the relay's limit on the device: a relay that
// ignored it would still get no more guesses at this code.
const copyMaxAttempts = 3

func runCopy(ctx context.Context, e *cli.Env, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "send":
			return runCopySend(ctx, e, args[1:])
		case "receive":
			return runCopyReceive(ctx, e, args[1:])
		}
	}
	fmt.Fprint(e.Stderr, "Usage: signet copy send --cert DIR --password-file F   (on the device that has the certificate)\n"+
		"       signet copy receive [--code N] [--force]        (on the device that should get it)\n")
	return &cli.UsageError{Msg: "copy: give send or receive"}
}

// copyConn is the relay's client for one session.
type copyConn struct {
	c       *client
	relay   signetv1.CopyServiceClient
	id      []byte
	token   []byte
	attempt int32
	wait    int32
}

func dialCopy(g *cli.Globals) (*copyConn, error) {
	c, err := dial(g)
	if err != nil {
		return nil, err
	}
	// A fetch waits on the server for the other device; it must end well
	// within --timeout.
	wait := int32(min(max(g.Timeout/2, time.Second), 20*time.Second) / time.Second)
	return &copyConn{c: c, relay: signetv1.NewCopyServiceClient(c.conn), wait: wait}, nil
}

func (cc *copyConn) Close() { cc.c.Close() }

// sid is the CPace session id of the current attempt: fresh per attempt,
// so that no message of an earlier attempt or session verifies in it.
func (cc *copyConn) sid() []byte {
	return binary.BigEndian.AppendUint32(append([]byte(nil), cc.id...), uint32(cc.attempt))
}

func (cc *copyConn) exchange(ctx context.Context, kind signetv1.CopyMessageKind, payload []byte) (*signetv1.CopySession, error) {
	resp, err := cli.Once(ctx, cc.c.timeout, func(ctx context.Context) (*signetv1.ExchangeCopyResponse, error) {
		return cc.relay.ExchangeCopy(ctx, &signetv1.ExchangeCopyRequest{SessionId: cc.id, Token: cc.token,
			Attempt: cc.attempt, Kind: kind, Payload: payload})
	})
	if err != nil {
		return nil, cli.WrapCall("copy relay", err)
	}
	return resp.GetSession(), nil
}

// await fetches the other device's message of the current attempt,
// waiting as long as the session lives. It returns ready=false with the
// session when the attempt or the session ended without it.
func (cc *copyConn) await(ctx context.Context, kind signetv1.CopyMessageKind) ([]byte, bool, *signetv1.CopySession, error) {
	for {
		resp, err := cli.Retry(ctx, cc.c.timeout, func(ctx context.Context) (*signetv1.FetchCopyResponse, error) {
			return cc.relay.FetchCopy(ctx, &signetv1.FetchCopyRequest{SessionId: cc.id, Token: cc.token,
				Attempt: cc.attempt, Kind: kind, WaitSeconds: cc.wait})
		})
		if err != nil {
			return nil, false, nil, cli.WrapCall("copy relay", err)
		}
		s := resp.GetSession()
		if resp.GetReady() {
			return resp.GetPayload(), true, s, nil
		}
		if s.GetAttempt() != cc.attempt || !copyLive(s) {
			return nil, false, s, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, false, s, err
		}
	}
}

// cancel ends the session when the command gives up, so that the other
// device hears of it at once rather than at expiry.
func (cc *copyConn) cancel() {
	if cc.id == nil {
		return
	}
	ctx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	_, _ = cc.relay.CancelCopy(ctx, &signetv1.CancelCopyRequest{SessionId: cc.id, Token: cc.token})
}

func copyLive(s *signetv1.CopySession) bool {
	st := s.GetState()
	return st == signetv1.CopyState_COPY_STATE_OPEN || st == signetv1.CopyState_COPY_STATE_JOINED
}

// copyEnded says, for people, why a session is over.
func copyEnded(s *signetv1.CopySession) error {
	switch s.GetState() {
	case signetv1.CopyState_COPY_STATE_EXPIRED:
		return errors.New("the copy expired (a code lasts 3 minutes): run `signet copy send` again for a new code")
	case signetv1.CopyState_COPY_STATE_BURNED:
		return fmt.Errorf("the code was typed wrong %d times: this code is spent; run `signet copy send` again for a new one", s.GetFailures())
	case signetv1.CopyState_COPY_STATE_CANCELLED:
		return errors.New("the copy was cancelled on one of the devices: run `signet copy send` again to start over")
	case signetv1.CopyState_COPY_STATE_COMPLETED:
		return nil
	}
	return fmt.Errorf("the copy stopped in state %s", s.GetState())
}

func runCopySend(ctx context.Context, e *cli.Env, args []string) (err error) {
	fs := cli.NewFlagSet(e, "copy send", "--cert DIR --password-file F")
	var dir, passwordFile string
	fs.StringVar(&dir, "cert", "", "NPKI certificate `folder` to copy to another device")
	fs.StringVar(&passwordFile, "password-file", "", "`file` whose first line is the certificate password (checked here; the key travels still encrypted under it)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if dir == "" {
		return cli.UsageErr(fs, "--cert is required: the NPKI certificate folder to copy (see `signet list`)")
	}
	pw, err := readPassword(passwordFile)
	if err != nil {
		return cli.UsageErr(fs, "%v", err)
	}
	dir = certDir(dir)
	// The password only proves that the pair opens before it travels; the
	// receiving device gets signPri.key byte for byte.
	cert, _, err := loadKey(dir, pw)
	if err != nil {
		return err
	}
	_, encKey, err := npki.Read(dir)
	if err != nil {
		return err
	}
	pkg := &devicecopy.Package{Certificate: cert.Raw, PrivateKey: encKey}
	if rec, err := serverRecord(ctx, e, cert); err == nil {
		pkg.Chain = rec.GetChain()
	}
	if err := pkg.Validate(); err != nil {
		return err
	}

	cc, err := dialCopy(e.G)
	if err != nil {
		return err
	}
	defer cc.Close()
	start, err := cli.Once(ctx, cc.c.timeout, func(ctx context.Context) (*signetv1.StartCopyResponse, error) {
		return cc.relay.StartCopy(ctx, &signetv1.StartCopyRequest{})
	})
	if err != nil {
		return cli.WrapCall("starting the copy", err)
	}
	cc.id, cc.token, cc.attempt = start.GetSessionId(), start.GetSenderToken(), start.GetSession().GetAttempt()
	defer func() {
		if err != nil {
			cc.cancel()
		}
	}()
	// The relay chose the first two digits (its slot); the other four are
	// drawn here and never leave this device.
	drawn, err := devicecopy.NewCode()
	if err != nil {
		return err
	}
	code := devicecopy.Code(start.GetSlot() + string(drawn)[2:])
	fmt.Fprintf(e.Stdout, "Type this code on the other device (signet copy receive): %s\n", code)
	fmt.Fprintf(e.Progress(), "waiting for the other device until %s; Ctrl-C cancels\n",
		start.GetSession().GetExpiresAt().AsTime().Local().Format(time.TimeOnly))

	for tries := 1; ; tries++ {
		if tries > copyMaxAttempts {
			return errors.New("the code was typed wrong too many times: run `signet copy send` again for a new code")
		}
		s, offer, err := devicecopy.Offer(code, cc.sid())
		if err != nil {
			return err
		}
		if _, err := cc.exchange(ctx, signetv1.CopyMessageKind_COPY_MESSAGE_KIND_OFFER, offer); err != nil {
			return err
		}
		reply, ready, sess, err := cc.await(ctx, signetv1.CopyMessageKind_COPY_MESSAGE_KIND_REPLY)
		if err != nil {
			return err
		}
		if !ready {
			if !copyLive(sess) {
				return copyEnded(sess)
			}
			cc.attempt = sess.GetAttempt() // the receiver failed on our offer
			continue
		}
		sealed, err := s.Seal(reply, pkg)
		if errors.Is(err, devicecopy.ErrConfirmation) || errors.Is(err, devicecopy.ErrPeerVersion) {
			sess, xerr := cc.exchange(ctx, signetv1.CopyMessageKind_COPY_MESSAGE_KIND_FAILED, nil)
			if xerr != nil {
				return xerr
			}
			if !copyLive(sess) {
				return copyEnded(sess)
			}
			fmt.Fprintf(e.Stderr, "signet: the other device typed a wrong code (%d of %d tries left): type %s there again\n",
				sess.GetMaxFailures()-sess.GetFailures(), sess.GetMaxFailures(), code)
			cc.attempt = sess.GetAttempt()
			continue
		}
		if err != nil {
			return err
		}
		if _, err := cc.exchange(ctx, signetv1.CopyMessageKind_COPY_MESSAGE_KIND_SEALED, sealed); err != nil {
			return err
		}
		_, ready, sess, err = cc.await(ctx, signetv1.CopyMessageKind_COPY_MESSAGE_KIND_RECEIVED)
		if err != nil {
			return err
		}
		if ready {
			fmt.Fprintf(e.Stdout, "copied %s (serial %s) to the other device; this device keeps its copy\n",
				dir, cert.SerialNumber.Text(16))
			return nil
		}
		if !copyLive(sess) {
			return copyEnded(sess)
		}
		fmt.Fprintf(e.Stderr, "signet: the other device could not open the package (altered in transit?); type %s there again\n", code)
		cc.attempt = sess.GetAttempt()
	}
}

func runCopyReceive(ctx context.Context, e *cli.Env, args []string) (err error) {
	fs := cli.NewFlagSet(e, "copy receive", "[--code N] [--force]")
	var codeText string
	var force bool
	fs.StringVar(&codeText, "code", "", "the 6-digit `code` the sending device shows (asked for when absent)")
	fs.BoolVar(&force, "force", false, "save a revoked, expired or unknown certificate, or one whose status cannot be checked, and replace a different certificate already in the same NPKI folder (the old pair is kept as .old)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if e.G.Home == "" {
		return cli.UsageErr(fs, "--home is required: the folder that holds (or will hold) NPKI")
	}
	if codeText == "" {
		fmt.Fprint(e.Stderr, "Code shown on the sending device: ")
		line, rerr := bufio.NewReader(copyStdin).ReadString('\n')
		if rerr != nil && line == "" {
			return cli.UsageErr(fs, "no code given: pass --code or type the 6 digits")
		}
		codeText = strings.TrimSpace(line)
	}
	code, err := devicecopy.ParseCode(codeText)
	if err != nil {
		return cli.UsageErr(fs, "%s", strings.TrimPrefix(err.Error(), "devicecopy: "))
	}

	cc, err := dialCopy(e.G)
	if err != nil {
		return err
	}
	defer cc.Close()
	// Only the slot goes to the relay: the other four digits are the secret.
	join, err := cli.Once(ctx, cc.c.timeout, func(ctx context.Context) (*signetv1.JoinCopyResponse, error) {
		return cc.relay.JoinCopy(ctx, &signetv1.JoinCopyRequest{Slot: string(code)[:2]})
	})
	if err != nil {
		return cli.WrapCall("finding the copy", err)
	}
	cc.id, cc.token, cc.attempt = join.GetSessionId(), join.GetReceiverToken(), join.GetSession().GetAttempt()
	failed := false
	defer func() {
		if err != nil && !failed {
			cc.cancel()
		}
	}()
	wrongCode := func(sess *signetv1.CopySession) error {
		failed = true
		if !copyLive(sess) {
			return copyEnded(sess)
		}
		return fmt.Errorf("the code did not match (%d of %d tries left): check the code on the sending device and run `signet copy receive` again",
			sess.GetMaxFailures()-sess.GetFailures(), sess.GetMaxFailures())
	}
	fmt.Fprintln(e.Progress(), "found the copy; waiting for the sending device")

	offer, ready, sess, err := cc.await(ctx, signetv1.CopyMessageKind_COPY_MESSAGE_KIND_OFFER)
	if err != nil {
		return err
	}
	if !ready {
		if !copyLive(sess) {
			failed = true
			return copyEnded(sess)
		}
		return errors.New("the sending device started over: run `signet copy receive` again")
	}
	r, reply, err := devicecopy.Accept(code, cc.sid(), offer)
	if err != nil {
		if sess, xerr := cc.exchange(ctx, signetv1.CopyMessageKind_COPY_MESSAGE_KIND_FAILED, nil); xerr == nil {
			failed = true
			if !copyLive(sess) {
				return copyEnded(sess)
			}
		}
		return err
	}
	if _, err := cc.exchange(ctx, signetv1.CopyMessageKind_COPY_MESSAGE_KIND_REPLY, reply); err != nil {
		return err
	}
	sealed, ready, sess, err := cc.await(ctx, signetv1.CopyMessageKind_COPY_MESSAGE_KIND_SEALED)
	if err != nil {
		return err
	}
	if !ready {
		// The sender's key confirmation failed: the code differs.
		return wrongCode(sess)
	}
	pkg, err := r.Open(sealed)
	if err != nil {
		sess, xerr := cc.exchange(ctx, signetv1.CopyMessageKind_COPY_MESSAGE_KIND_FAILED, nil)
		if xerr != nil {
			return errors.Join(err, xerr)
		}
		failed = true
		if !copyLive(sess) {
			return fmt.Errorf("%w; %w", err, copyEnded(sess))
		}
		return fmt.Errorf("%w (%d of %d tries left: run `signet copy receive` again)", err,
			sess.GetMaxFailures()-sess.GetFailures(), sess.GetMaxFailures())
	}
	dest, err := installCopy(ctx, e, pkg, force)
	if err != nil {
		return err
	}
	if _, err := cc.exchange(ctx, signetv1.CopyMessageKind_COPY_MESSAGE_KIND_RECEIVED, nil); err != nil {
		return fmt.Errorf("the certificate is saved in %s, but the sending device was not told: %w", dest, err)
	}
	fmt.Fprintf(e.Stdout, "received the certificate into %s; it opens with the same password as on the sending device\n", dest)
	return nil
}

// installCopy checks a received package and writes its two files, byte for
// byte, into the certificate's NPKI folder under --home. The key stays
// encrypted: this device never needs the password to receive.
func installCopy(ctx context.Context, e *cli.Env, pkg *devicecopy.Package, force bool) (string, error) {
	cert, err := x509.ParseCertificate(pkg.Certificate)
	if err != nil {
		return "", fmt.Errorf("the received certificate does not parse: %w", err)
	}
	var chain []*x509.Certificate
	for _, der := range pkg.Chain {
		if c, err := x509.ParseCertificate(der); err == nil {
			chain = append(chain, c)
		}
	}
	at := now()
	if at.After(cert.NotAfter) {
		at = cert.NotAfter
	}
	if _, err := verifyChain(cert, e.G.CAFile, chain, at); err != nil {
		if !force {
			return "", fmt.Errorf("%w: not saved (--force saves it anyway)", err)
		}
		fmt.Fprintf(e.Stderr, "signet: warning: %v; saving anyway (--force)\n", err)
	}
	dest, err := certFolder(e.G.Home, cert)
	if err != nil {
		return "", err
	}
	old, err := os.ReadFile(filepath.Join(dest, npki.CertFile))
	switch {
	case err == nil && bytes.Equal(old, pkg.Certificate):
		// The same certificate: the key file is replaced by the sender's,
		// the previous one kept as .old.
	case err == nil && !force:
		return "", fmt.Errorf("%s already holds another certificate of this name: not replaced (--force replaces it, keeping the old pair as .old)", dest)
	}
	// As import does: a revoked or expired certificate is not worth a
	// place on the new device, and the server says which it is.
	if _, err := worthKeeping(ctx, e, cert, force, "save"); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dest, 0o700); err != nil {
		return "", fmt.Errorf("creating %s: %w", dest, err)
	}
	if err := saveCertificate(dest, pkg.Certificate, pkg.PrivateKey); err != nil {
		return "", err
	}
	return dest, nil
}
