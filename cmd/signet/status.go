package main

import (
	"context"
	"crypto/x509"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	"github.com/signet-ca/signet/npki"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// runStatus shows the server's public record of one certificate; with
// --cert it adds the subject, which the public answer leaves out.
func runStatus(ctx context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlagSet(e, "status", "--cert DIR | --serial HEX")
	var dir, serial string
	fs.StringVar(&dir, "cert", "", "NPKI certificate `folder`")
	fs.StringVar(&serial, "serial", "", "certificate `serial` in hex")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	var cert *x509.Certificate
	var err error
	switch {
	case dir != "" && serial != "":
		return cli.UsageErr(fs, "give --cert or --serial, not both")
	case dir != "":
		dir = certDir(dir)
		if cert, err = loadCert(dir); err != nil {
			return err
		}
		serial = cert.SerialNumber.Text(16)
	default:
		if serial, err = cli.CheckSerial(serial); err != nil {
			return cli.UsageErr(fs, "%v (or give --cert DIR)", err)
		}
	}
	c, err := dial(e.G)
	if err != nil {
		return err
	}
	defer c.Close()
	rec, err := c.getCertificate(ctx, serial)
	if err != nil {
		return err
	}
	return cli.PrintView(e.Stdout, e.G.JSON, cli.ViewOf(rec, cert, dir))
}

// runList lists every certificate folder under --home with the live status
// of each. The local part is always printed: a server that cannot be
// reached (or that did not issue a certificate) is reported per row.
func runList(ctx context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlagSet(e, "list", "[--home DIR] [--json]")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if e.G.Home == "" {
		return cli.UsageErr(fs, "--home is required: the folder that holds NPKI")
	}
	dirs, err := npki.List(e.G.Home)
	if err != nil {
		return err
	}
	if len(dirs) == 0 {
		fmt.Fprintf(e.Progress(), "no certificates in %s\n", npki.Dir(e.G.Home, "*", "*"))
		return printList(e.Stdout, e.G.JSON, nil)
	}

	// Without a usable connection every row says so; dial fails only on
	// local problems such as a missing --ca-file.
	c, dialErr := dial(e.G)
	if c != nil {
		defer c.Close()
	}
	var unreachable error // after one transport failure, stop asking
	views := make([]cli.CertView, 0, len(dirs))
	for _, dir := range dirs {
		cert, err := loadCert(dir)
		if err != nil {
			views = append(views, cli.CertView{Dir: dir, Status: cli.StatusUnknown, Error: err.Error()})
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
		v := cli.ViewOf(rec, cert, dir)
		v.Error = note
		views = append(views, v)
	}
	if err := printList(e.Stdout, e.G.JSON, views); err != nil {
		return err
	}
	switch {
	case dialErr != nil:
		fmt.Fprintf(e.Stderr, "signet: statuses not checked: %v\n", dialErr)
	case unreachable != nil:
		fmt.Fprintln(e.Stderr, cli.ErrorText(cli.WrapCall("statuses unknown, server unreachable", unreachable), e.G))
	}
	return nil
}
