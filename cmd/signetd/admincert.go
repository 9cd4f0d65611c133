package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/signet-ca/signet/ca/adminca"
	"github.com/signet-ca/signet/server"
)

// adminCertCmd issues a staff client certificate from the admin CA:
//
//	signetd admin-cert --role auditor|operator --name N [--out DIR] [--validity 8760h] (--dev [--state-dir DIR] | --config FILE)
func adminCertCmd(args []string) error {
	fs := flag.NewFlagSet("signetd admin-cert", flag.ContinueOnError)
	role := fs.String("role", "", "auditor (reads) or operator (reads, revokes, suspends, resumes)")
	name := fs.String("name", "", "the person's login name, e.g. kim.auditor")
	out := fs.String("out", ".", "folder to write <name>.pem and <name>_key.pem into")
	validity := fs.Duration("validity", 365*24*time.Hour, "how long the certificate is valid")
	dev := fs.Bool("dev", false, "use the dev admin CA in --state-dir")
	stateDir := fs.String("state-dir", "var/signet", "dev mode state dir")
	config := fs.String("config", "", "production configuration file naming adminCA")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var admin *adminca.CA
	var err error
	switch {
	case *dev == (*config != ""):
		return errors.New("give exactly one of --dev or --config FILE")
	case *dev:
		admin, err = adminca.Ensure(*stateDir, devOrg)
	default:
		var cfg *server.Config
		if cfg, err = server.LoadConfig(*config); err == nil {
			admin, err = adminca.Load(cfg.AdminCA.Cert, cfg.AdminCA.Key)
		}
	}
	if err != nil {
		return err
	}
	cert, key, err := admin.Issue(*role, *name, *validity)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	certPath, keyPath, err := adminca.WriteIdentity(*out, *name, cert, key)
	if err != nil {
		return err
	}
	fmt.Printf("%s certificate for %s: %s (key %s), valid until %s\n", *role, *name, certPath, keyPath, cert.NotAfter.Format(time.RFC3339))
	return nil
}
