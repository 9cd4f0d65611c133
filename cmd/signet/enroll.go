package main

import (
	"context"
	"crypto"
	"flag"
	"fmt"
	"path/filepath"

	"github.com/google/uuid"

	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
)

// defaultProfile is the free personal banking certificate, the one most
// subscribers need (DESIGN.md, "Certificate profiles").
const defaultProfile = "personal-banking"

const profileHelp = "certificate `profile`: personal-banking, personal-general, corporate-banking or corporate-general"

// enrollFlags are the flags of enroll and reissue, which differ only in the
// call they end with.
type enrollFlags struct {
	profile, passwordFile, keyType string
	id                             identity
	idn                            idnFlags
}

func (f *enrollFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.profile, "profile", defaultProfile, profileHelp)
	fs.StringVar(&f.passwordFile, "password-file", "", "`file` whose first line is the new certificate password (10+ characters with letters, digits and symbols)")
	fs.StringVar(&f.keyType, "key", defaultKeyType, "key `type`: "+keyTypeList)
	f.id.register(fs)
	f.idn.register(fs)
}

// prepared is the local half of an issuance, done before the server is
// contacted: checked input, the new key, its request, and the key already
// encrypted, so that nothing can fail between issuance and saving except
// the disk.
type prepared struct {
	key    crypto.Signer
	csr    []byte
	encKey []byte
	holder *signetv1.HolderIdentity
}

func (f *enrollFlags) prepare(fs *flag.FlagSet, home string) (*prepared, error) {
	if f.profile == "" {
		return nil, cli.UsageErr(fs, "--profile is required: %s", "personal-banking, personal-general, corporate-banking or corporate-general")
	}
	if err := checkKeyType(f.keyType); err != nil {
		return nil, cli.UsageErr(fs, "%v", err)
	}
	if err := f.id.validate(); err != nil {
		return nil, cli.UsageErr(fs, "%v", err)
	}
	pw, err := newPassword(f.passwordFile)
	if err != nil {
		return nil, cli.UsageErr(fs, "%v", err)
	}
	idn, err := f.idn.value()
	if err != nil {
		return nil, cli.UsageErr(fs, "%v", err)
	}
	if home == "" {
		return nil, cli.UsageErr(fs, "--home is required: the folder that holds (or will hold) NPKI")
	}
	if err := checkWritable(filepath.Join(home, "NPKI")); err != nil {
		return nil, err
	}
	key, csr, err := newKeyAndCSR(f.keyType, requestFor(f.id.name))
	if err != nil {
		return nil, err
	}
	r, err := newRandomNum()
	if err != nil {
		return nil, err
	}
	encKey, err := sealWithRandom(key, r, pw)
	if err != nil {
		return nil, err
	}
	return &prepared{key: key, csr: csr, encKey: encKey, holder: holderIdentity(idn, r, nil)}, nil
}

func runEnroll(ctx context.Context, e *cli.Env, args []string) error {
	return enrollOrReissue(ctx, e, args, "enroll", signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_ISSUE)
}

func runReissue(ctx context.Context, e *cli.Env, args []string) error {
	return enrollOrReissue(ctx, e, args, "reissue", signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_REISSUE)
}

// enrollOrReissue is 발급 and 재발급: both prove identity afresh and send a
// new key's request; reissue also revokes the old certificate (superseded)
// and keeps its notAfter, on the server.
func enrollOrReissue(ctx context.Context, e *cli.Env, args []string, name string, purpose signetv1.EnrollmentPurpose) error {
	fs := cli.NewFlagSet(e, name, "--name N --birth YYYYMMDD --phone 010... --carrier SKT --bank 004 --account NUM --idn-file F --password-file F [--profile P] [--key T]")
	var f enrollFlags
	f.register(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	p, err := f.prepare(fs, e.G.Home)
	if err != nil {
		return err
	}
	progress := e.Progress()

	c, err := dial(e.G)
	if err != nil {
		return err
	}
	defer c.Close()
	en, err := c.startEnrollment(ctx, f.profile, purpose)
	if err != nil {
		return err
	}
	ev, err := c.checkIdentity(ctx, &f.id, en.GetNonce(), progress)
	if err != nil {
		return err
	}
	// One request id for every attempt: a retry after a lost answer must
	// get the first certificate back, not a second one.
	requestID := uuid.NewString()
	var issued *signetv1.Certificate
	var replaced string
	if purpose == signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_ISSUE {
		resp, err := cli.Retry(ctx, c.timeout, func(ctx context.Context) (*signetv1.IssueCertificateResponse, error) {
			return c.enroll.IssueCertificate(ctx, &signetv1.IssueCertificateRequest{
				RequestId: requestID, EnrollmentId: en.GetEnrollmentId(), Csr: p.csr, Evidence: ev, Holder: p.holder})
		})
		if err != nil {
			return err
		}
		issued = resp.GetCertificate()
	} else {
		resp, err := cli.Retry(ctx, c.timeout, func(ctx context.Context) (*signetv1.ReissueCertificateResponse, error) {
			return c.enroll.ReissueCertificate(ctx, &signetv1.ReissueCertificateRequest{
				RequestId: requestID, EnrollmentId: en.GetEnrollmentId(), Csr: p.csr, Evidence: ev, Holder: p.holder})
		})
		if err != nil {
			return err
		}
		issued, replaced = resp.GetCertificate(), cli.NormalSerial(resp.GetReplacedSerial())
	}

	// Look for the replaced certificate's folder before saving, since with
	// an unchanged subject the new pair goes into that same folder.
	var oldDir string
	if replaced != "" {
		oldDir = folderOf(e.G.Home, replaced)
	}
	v, err := saveNew(e, issued, p.key, p.encKey, "")
	if err != nil {
		return err
	}
	if replaced != "" {
		v.ReplacedSerial = replaced
	}
	if oldDir != "" && oldDir != v.Dir {
		fmt.Fprintf(progress, "the replaced certificate %s is revoked; its folder %s can be deleted\n", replaced, oldDir)
	}
	return cli.PrintView(e.Stdout, e.G.JSON, v)
}

// saveNew checks a certificate the server issued for key and writes it with
// the encrypted key, into dir or, when dir is "", into the folder its
// subject names under --home.
func saveNew(e *cli.Env, issued *signetv1.Certificate, key crypto.Signer, encKey []byte, dir string) (cli.CertView, error) {
	cert, err := issuedCertificate(issued.GetDer(), key)
	if err != nil {
		return cli.CertView{}, err
	}
	if dir == "" {
		if dir, err = certFolder(e.G.Home, cert); err != nil {
			return cli.CertView{}, err
		}
	}
	if err := saveIssued(dir, cert.Raw, encKey); err != nil {
		return cli.CertView{}, err
	}
	return cli.ViewOf(issued, cert, dir), nil
}
