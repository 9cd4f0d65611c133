package npki

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Names of the two files in an NPKI certificate folder.
const (
	CertFile = "signCert.der"
	KeyFile  = "signPri.key"
)

// Dir returns the NPKI folder for a certificate:
// <home>/NPKI/<caName>/USER/<subjectDN>. The subject DN is used as given
// (Korean software matches folders by it), except that '/', '\' and NUL
// become '_' so a DN can never name a path outside USER; caName gets the
// same treatment for the same reason.
func Dir(home, caName, subjectDN string) string {
	return filepath.Join(home, "NPKI", safeName(caName), "USER", safeName(subjectDN))
}

// safeName turns s into a single path element.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, s)
	if s == "" || s == "." || s == ".." {
		return strings.Repeat("_", max(len(s), 1))
	}
	return s
}

// Write stores a certificate and its encrypted key in dir, creating dir with
// mode 0700. signPri.key is written 0600 and signCert.der 0644. Each file is
// written to a temporary file in dir and renamed into place, so a crash
// never leaves a half-written file; the key goes first because List treats a
// folder with signCert.der as complete.
func Write(dir string, certDER []byte, encryptedKey []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("npki: creating certificate folder: %w", err)
	}
	if err := writeAtomic(dir, KeyFile, encryptedKey, 0o600); err != nil {
		return err
	}
	if err := writeAtomic(dir, CertFile, certDER, 0o644); err != nil {
		return err
	}
	// Make the renames durable. Not every platform can sync a directory,
	// and the files themselves are already synced, so a failure is ignored.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

func writeAtomic(dir, name string, data []byte, perm fs.FileMode) (err error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("npki: writing %s: %w", name, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
			err = fmt.Errorf("npki: writing %s in %s: %w", name, dir, err)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// Read returns the certificate and encrypted key stored in dir by Write.
// A missing file yields an error satisfying errors.Is(err, fs.ErrNotExist).
func Read(dir string) (certDER, encryptedKey []byte, err error) {
	certDER, err = os.ReadFile(filepath.Join(dir, CertFile))
	if err != nil {
		return nil, nil, fmt.Errorf("npki: reading certificate (is %s an NPKI certificate folder?): %w", dir, err)
	}
	encryptedKey, err = os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("npki: reading private key (the folder has a certificate but no usable %s): %w", KeyFile, err)
	}
	return certDER, encryptedKey, nil
}

// List returns, sorted, every <home>/NPKI/*/USER/* folder that contains a
// signCert.der. A home without an NPKI folder has no certificates and is not
// an error. Directories are read directly rather than with filepath.Glob so
// that glob characters in home are taken literally.
func List(home string) ([]string, error) {
	root := filepath.Join(home, "NPKI")
	cas, err := readDirIfExists(root)
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, ca := range cas {
		if fi, err := os.Stat(filepath.Join(root, ca.Name())); err != nil || !fi.IsDir() {
			continue // a stray file or dangling link beside the CA folders
		}
		user := filepath.Join(root, ca.Name(), "USER")
		entries, err := readDirIfExists(user)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			dir := filepath.Join(user, e.Name())
			if fi, err := os.Stat(filepath.Join(dir, CertFile)); err == nil && fi.Mode().IsRegular() {
				dirs = append(dirs, dir)
			}
		}
	}
	slices.Sort(dirs)
	return dirs, nil
}

// readDirIfExists is os.ReadDir that treats a missing path, or a path that
// is a file rather than a folder, as empty.
func readDirIfExists(dir string) ([]os.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if fi, serr := os.Stat(dir); serr == nil && !fi.IsDir() {
			return nil, nil
		}
		return nil, fmt.Errorf("npki: listing certificates: %w", err)
	}
	return entries, nil
}
