package main

import (
	"context"
	"crypto/x509"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/npki"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// runStatus shows the server's public record of one certificate; with
// --cert it adds the subject, which the public answer leaves out.
func runStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "status", "--cert DIR | --serial HEX")
	var dir, serial string
	fs.StringVar(&dir, "cert", "", "NPKI certificate `folder`")
	fs.StringVar(&serial, "serial", "", "certificate `serial` in hex")
	if err := parse(fs, args); err != nil {
		return err
	}
	var cert *x509.Certificate
	var err error
	switch {
	case dir != "" && serial != "":
		return usageErr(fs, "give --cert or --serial, not both")
	case dir != "":
		dir = certDir(dir)
		if cert, err = loadCert(dir); err != nil {
			return err
		}
		serial = cert.SerialNumber.Text(16)
	default:
		if serial, err = checkSerial(serial); err != nil {
			return usageErr(fs, "%v (or give --cert DIR)", err)
		}
	}
	c, err := dial(e.g)
	if err != nil {
		return err
	}
	defer c.Close()
	rec, err := c.getCertificate(ctx, serial)
	if err != nil {
		return err
	}
	return printView(e.stdout, e.g.json, viewOf(rec, cert, dir))
}

// runList lists every certificate folder under --home with the live status
// of each. The local part is always printed: a server that cannot be
// reached (or that did not issue a certificate) is reported per row.
func runList(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "list", "[--home DIR] [--json]")
	if err := parse(fs, args); err != nil {
		return err
	}
	if e.g.home == "" {
		return usageErr(fs, "--home is required: the folder that holds NPKI")
	}
	dirs, err := npki.List(e.g.home)
	if err != nil {
		return err
	}
	if len(dirs) == 0 {
		fmt.Fprintf(e.progress(), "no certificates in %s\n", npki.Dir(e.g.home, "*", "*"))
		return printList(e.stdout, e.g.json, nil)
	}

	// Without a usable connection every row says so; dial fails only on
	// local problems such as a missing --ca-file.
	c, dialErr := dial(e.g)
	if c != nil {
		defer c.Close()
	}
	var unreachable error // after one transport failure, stop asking
	views := make([]certView, 0, len(dirs))
	for _, dir := range dirs {
		cert, err := loadCert(dir)
		if err != nil {
			views = append(views, certView{Dir: dir, Status: statusUnknown, Error: err.Error()})
			continue
		}
		serial := cert.SerialNumber.Text(16)
		var rec *signetv1.Certificate
		var note string
		switch {
		case dialErr != nil:
			note = "not checked: " + dialErr.Error()
		case unreachable != nil:
			note = "server unreachable"
		default:
			rec, err = c.getCertificate(ctx, serial)
			switch status.Code(err) {
			case codes.OK:
			case codes.NotFound:
				note = "not issued by this server"
			case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
				unreachable = err
				note = "server unreachable"
			default:
				note = "status unknown: " + status.Convert(err).Message()
			}
		}
		v := viewOf(rec, cert, dir)
		v.Error = note
		views = append(views, v)
	}
	if err := printList(e.stdout, e.g.json, views); err != nil {
		return err
	}
	switch {
	case dialErr != nil:
		fmt.Fprintf(e.stderr, "signet: statuses not checked: %v\n", dialErr)
	case unreachable != nil:
		fmt.Fprintln(e.stderr, errorText(wrapCall("statuses unknown, server unreachable", unreachable), e.g))
	}
	return nil
}
