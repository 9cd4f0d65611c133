package main

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	"github.com/signet-ca/signet/npki"
)

// passwdStep is called after each step of replaceKeyFile; tests make it
// fail to prove that a failure at any point leaves a usable key.
var passwdStep = func(step string) error { return nil }

// runPasswd re-encrypts signPri.key under a new password (비밀번호 변경).
// The key and certificate do not change, so the server is not involved.
func runPasswd(_ context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlagSet(e, "passwd", "--cert DIR --password-file OLD --new-password-file NEW [--legacy]")
	var dir, passwordFile, newPasswordFile string
	var legacy bool
	fs.StringVar(&dir, "cert", "", "NPKI certificate `folder`")
	fs.StringVar(&passwordFile, "password-file", "", "`file` whose first line is the current certificate password")
	fs.StringVar(&newPasswordFile, "new-password-file", "", "`file` whose first line is the new password (10+ characters with letters, digits and symbols)")
	fs.BoolVar(&legacy, "legacy", false, "encrypt with SEED-CBC for older Korean software (default AES-256; a SEED file stays SEED)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if dir == "" {
		return cli.UsageErr(fs, "--cert is required: the NPKI certificate folder")
	}
	oldPW, err := readPassword(passwordFile)
	if err != nil {
		return cli.UsageErr(fs, "%v", err)
	}
	if newPasswordFile == "" {
		return cli.UsageErr(fs, "--new-password-file is required: a file whose first line is the new password")
	}
	newPW, err := readPassword(newPasswordFile)
	if err == nil {
		err = npki.CheckPassword(string(newPW))
	}
	if err != nil {
		return cli.UsageErr(fs, "--new-password-file: %v", err)
	}
	if bytes.Equal(oldPW, newPW) {
		return cli.UsageErr(fs, "the new password is the same as the current one")
	}

	dir = certDir(dir)
	_, key, err := loadKey(dir, oldPW)
	if err != nil {
		return err
	}
	// A PBES2/SEED file was most likely written for software that reads
	// nothing else, so it stays SEED; every other scheme becomes the default.
	scheme := npki.PBES2AES
	if legacy || key.Scheme == npki.PBES2SEED {
		scheme = npki.PBES2SEED
	}
	enc, err := key.Seal(newPW, scheme)
	if err != nil {
		return fmt.Errorf("encrypting the key: %w", err)
	}
	if err := replaceKeyFile(dir, enc, newPW, key); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "changed the password of %s (%s)\n", filepath.Join(dir, npki.KeyFile), scheme)
	return nil
}

// replaceKeyFile swaps signPri.key for enc so that a crash or error at any
// moment leaves a key that opens with one of the two passwords:
//
//  1. the current file is copied to signPri.key.old (synced);
//  2. enc is written to a temporary file in the folder and synced;
//  3. the temporary file is renamed over signPri.key (atomic on one file
//     system) and the folder synced;
//  4. signPri.key is read back and must open with the new password to the
//     same key and randomNum; otherwise the .old copy is renamed back;
//  5. only then is signPri.key.old removed, so that no copy under the old
//     (perhaps leaked) password stays behind.
func replaceKeyFile(dir string, enc, newPW []byte, want *npki.Key) (err error) {
	keyPath := filepath.Join(dir, npki.KeyFile)
	backup := keyPath + backupSuffix
	old, err := os.ReadFile(keyPath)
	if err != nil {
		return fmt.Errorf("reading %s: %w", keyPath, err)
	}
	// After a renewal, signPri.key.old is the previous certificate's key:
	// never overwrite it.
	if _, err := os.Lstat(backup); err == nil {
		return fmt.Errorf("%s exists (the previous key, kept by a renewal): move %s and %s elsewhere, then run passwd again",
			backup, backup, filepath.Join(dir, npki.CertFile+backupSuffix))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}

	if err := writeSynced(backup, old); err != nil {
		return fmt.Errorf("keeping the current key as %s: %w", backup, err)
	}
	renamed := false
	defer func() {
		if err == nil {
			return
		}
		if !renamed {
			_ = os.Remove(backup) // signPri.key was never touched
			return
		}
		if rerr := os.Rename(backup, keyPath); rerr != nil {
			err = fmt.Errorf("%w; restoring the key also failed (%v): %s holds the key under the current password, rename it to %s", err, rerr, backup, npki.KeyFile)
			return
		}
		syncDir(dir)
		err = fmt.Errorf("%w; %s is unchanged and opens with the current password", err, npki.KeyFile)
	}()
	if err := passwdStep("backup"); err != nil {
		return err
	}

	tmp, err := os.CreateTemp(dir, "."+npki.KeyFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing the new key: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // gone after a successful rename
	werr := tmp.Chmod(0o600)
	if werr == nil {
		_, werr = tmp.Write(enc)
	}
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = passwdStep("temp")
	}
	if werr != nil {
		return fmt.Errorf("writing the new key: %w", werr)
	}

	if err := os.Rename(tmpName, keyPath); err != nil {
		return fmt.Errorf("replacing %s: %w", keyPath, err)
	}
	renamed = true
	syncDir(dir)
	if err := passwdStep("rename"); err != nil {
		return err
	}

	written, err := os.ReadFile(keyPath)
	if err != nil {
		return fmt.Errorf("reading back the new key: %w", err)
	}
	got, err := npki.OpenKey(written, newPW)
	if err == nil {
		err = passwdStep("verify")
	}
	if err != nil {
		return fmt.Errorf("the new key file does not open with the new password: %w", err)
	}
	if !sameDecryptedKey(got, want) {
		return errors.New("the new key file holds a different key")
	}
	if err := os.Remove(backup); err != nil {
		return fmt.Errorf("the password was changed, but removing %s (under the old password) failed: %w; delete it", backup, err)
	}
	syncDir(dir)
	return nil
}

// sameDecryptedKey reports whether two decrypted keys are the same key
// with the same randomNum.
func sameDecryptedKey(a, b *npki.Key) bool {
	pub, ok := a.Signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(b.Signer.Public()) && bytes.Equal(a.RandomNum, b.RandomNum)
}

// writeSynced creates path (which must not exist) with data, mode 0600,
// and syncs it.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}

// syncDir makes renames in dir durable where the platform allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
