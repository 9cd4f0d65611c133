package npki

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestDir(t *testing.T) {
	const dn = "cn=홍길동()0880012345678901,ou=KB,ou=personal4IB,o=Signet,c=kr"
	tests := []struct{ ca, dn, want string }{
		{"Signet", dn, filepath.Join("/home/u", "NPKI", "Signet", "USER", dn)},
		{"Signet", "cn=a/b\\c\x00d", filepath.Join("/home/u", "NPKI", "Signet", "USER", "cn=a_b_c_d")},
		{"Signet", "..", filepath.Join("/home/u", "NPKI", "Signet", "USER", "__")},
		{"../x", "", filepath.Join("/home/u", "NPKI", ".._x", "USER", "_")},
	}
	for _, tt := range tests {
		if got := Dir("/home/u", tt.ca, tt.dn); got != tt.want {
			t.Errorf("Dir(%q, %q) = %q, want %q", tt.ca, tt.dn, got, tt.want)
		}
	}
}

func TestWriteReadList(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home[1]") // glob characters must be literal
	cert, key := []byte("certificate DER"), []byte("encrypted key DER")

	if got, err := List(home); err != nil || len(got) != 0 {
		t.Fatalf("List on empty home = %v, %v", got, err)
	}

	a := Dir(home, "Signet", "cn=홍길동()0880012345678901,ou=KB,ou=personal4IB,o=Signet,c=kr")
	b := Dir(home, "yessign", "cn=김철수()0010012345678901,ou=NH,ou=personal4IB,o=yessign,c=kr")
	for _, dir := range []string{b, a} {
		if err := Write(dir, cert, key); err != nil {
			t.Fatal(err)
		}
	}
	// Overwriting must work too (renewal).
	key2 := []byte("renewed key")
	if err := Write(a, cert, key2); err != nil {
		t.Fatal(err)
	}

	checkMode(t, a, 0o700)
	checkMode(t, filepath.Join(a, CertFile), 0o644)
	checkMode(t, filepath.Join(a, KeyFile), 0o600)
	entries, err := os.ReadDir(a)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("folder holds %d entries, want only the two files (temp files left behind?)", len(entries))
	}

	gotCert, gotKey, err := Read(a)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotCert, cert) || !bytes.Equal(gotKey, key2) {
		t.Fatalf("Read = %q, %q", gotCert, gotKey)
	}

	// Noise List must ignore: a folder without a certificate, a stray file.
	if err := os.MkdirAll(filepath.Join(home, "NPKI", "Signet", "USER", "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "NPKI", "Signet", "USER", "stray"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "NPKI", "README"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	got, err := List(home)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{a, b}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("List = %q, want %q", got, want)
	}

	if _, _, err := Read(filepath.Join(home, "NPKI", "Signet", "USER", "empty")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Read of empty folder: %v, want fs.ErrNotExist", err)
	}
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s has mode %v, want %v", filepath.Base(path), got, want)
	}
}
