package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-ca/signet/cmd/signet/internal/cli"
	"github.com/signet-ca/signet/npki"
)

func TestNPKIDN_FormatsLikeNPKIFolders(t *testing.T) {
	ca := newTestCA(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	attr := func(oid asn1.ObjectIdentifier, v any) pkix.AttributeTypeAndValue {
		return pkix.AttributeTypeAndValue{Type: oid, Value: v}
	}
	cn, ou, o, c := asn1.ObjectIdentifier{2, 5, 4, 3}, asn1.ObjectIdentifier{2, 5, 4, 11}, asn1.ObjectIdentifier{2, 5, 4, 10}, asn1.ObjectIdentifier{2, 5, 4, 6}
	tests := []struct {
		name    string
		subject pkix.Name
		want    string
	}{
		{"NPKI subject", npkiName("홍길동()0880012345678901"), testDN},
		{"RFC 4514 escapes", pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
			attr(c, "KR"), attr(o, "A, B+C"), attr(cn, ` #lead "q" <x>;\ trail `)}},
			`cn=\ #lead \"q\" \<x\>\;\\ trail\ ,o=A\, B\+C,c=kr`},
		{"unknown attribute by OID", pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
			attr(c, "KR"), attr(asn1.ObjectIdentifier{1, 2, 3, 4}, "v"), attr(ou, "x")}},
			`ou=x,1.2.3.4=v,c=kr`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := ca.issue(t, key, tt.subject, big.NewInt(1))
			got, err := cli.NPKIDN(cert.RawSubject)
			if err != nil || got != tt.want {
				t.Errorf("npkiDN = %q, %v\n          want %q", got, err, tt.want)
			}
		})
	}
	if _, err := cli.NPKIDN([]byte("junk")); err == nil {
		t.Error("junk subject accepted")
	}
}

func TestCertFolder_UsesIssuerOrganizationAndSubject(t *testing.T) {
	ca := newTestCA(t)
	h := newHolder(t, ca, 5)
	got, err := certFolder("/home/u", h.cert)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join("/home/u", "NPKI", "Signet", "USER", testDN); got != want {
		t.Errorf("certFolder = %q, want %q", got, want)
	}
	h.cert.Issuer.Organization = nil
	if caName(h.cert) != "Signet" {
		t.Errorf("caName without issuer O = %q, want the Signet default", caName(h.cert))
	}
}

func TestLoadCert(t *testing.T) {
	ca := newTestCA(t)
	h := newHolder(t, ca, 5)
	cert, err := loadCert(h.dir)
	if err != nil || !cert.Equal(h.cert) {
		t.Fatalf("loadCert = %v, %v", cert, err)
	}
	// --cert may name the certificate file instead of its folder.
	if got := certDir(filepath.Join(h.dir, npki.CertFile)); got != h.dir {
		t.Errorf("certDir(file) = %q, want %q", got, h.dir)
	}
	if got := certDir(h.dir); got != h.dir {
		t.Errorf("certDir(dir) = %q", got)
	}
	if _, err := loadCert(t.TempDir()); err == nil || !strings.Contains(err.Error(), "has no signCert.der") {
		t.Errorf("empty folder: %v", err)
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, npki.CertFile), []byte("not DER"), 0o644)
	if _, err := loadCert(bad); err == nil || !strings.Contains(err.Error(), "not a DER certificate") {
		t.Errorf("junk certificate: %v", err)
	}
}

func TestLoadKeyPair(t *testing.T) {
	ca := newTestCA(t)
	h := newHolder(t, ca, 5)
	cert, key, err := loadKeyPair(h.dir, []byte(goodPassword))
	if err != nil {
		t.Fatal(err)
	}
	if !cert.Equal(h.cert) || !sameKey(cert, key) {
		t.Error("loadKeyPair returned another pair")
	}
	if _, _, err := loadKeyPair(h.dir, []byte("Wrong!pass1")); !errors.Is(err, npki.ErrWrongPassword) {
		t.Errorf("wrong password: %v", err)
	}

	// A key that is not the certificate's is refused before any proof is signed.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	enc, err := npki.EncryptPKCS8(other, []byte(goodPassword))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(h.dir, npki.KeyFile), enc, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadKeyPair(h.dir, []byte(goodPassword)); err == nil || !strings.Contains(err.Error(), "do not belong together") {
		t.Errorf("mismatched pair: %v", err)
	}
}

func TestSaveCertificate_KeepsPreviousPair(t *testing.T) {
	ca := newTestCA(t)
	h := newHolder(t, ca, 5)
	oldCert, oldKey, err := npki.Read(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := saveIssued(h.dir, []byte("new cert"), []byte("new key")); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{
		npki.CertFile: []byte("new cert"), npki.KeyFile: []byte("new key"),
		npki.CertFile + backupSuffix: oldCert, npki.KeyFile + backupSuffix: oldKey,
	} {
		got, err := os.ReadFile(filepath.Join(h.dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s = %q, %v", name, got, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(h.dir, npki.KeyFile+backupSuffix)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("old key file mode: %v, %v", fi.Mode(), err)
	}
	// The backups are not certificate folders of their own.
	if dirs, _ := npki.List(h.home); len(dirs) != 1 {
		t.Errorf("List = %q", dirs)
	}
}

func TestSaveIssued_RescuesPairWhenFolderUnwritable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes anywhere: use a path under a file instead")
	}
	blocked := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(blocked, 0o500); err != nil {
		t.Fatal(err)
	}
	checkRescue(t, filepath.Join(blocked, "USER", "cn=x"))
}

func TestSaveIssued_RescuesPairWhenFolderImpossible(t *testing.T) {
	// A folder below a regular file can never be created, even by root.
	file := writeFile(t, "")
	checkRescue(t, filepath.Join(file, "USER", "cn=x"))
}

func checkRescue(t *testing.T, dir string) {
	t.Helper()
	err := saveIssued(dir, []byte("cert"), []byte("key"))
	if err == nil {
		t.Fatal("saving into an impossible folder succeeded")
	}
	_, after, ok := strings.Cut(err.Error(), "are in ")
	rescue, _, _ := strings.Cut(after, ";")
	if !ok || !strings.Contains(rescue, "signet-rescue-") {
		t.Fatalf("error does not name the rescue folder: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(rescue) })
	c, k, rerr := npki.Read(rescue)
	if rerr != nil || string(c) != "cert" || string(k) != "key" {
		t.Errorf("rescue folder holds %q, %q, %v", c, k, rerr)
	}
}

func TestCheckWritable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "NPKI")
	if err := checkWritable(dir); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("checkWritable left %d files behind", len(entries))
	}
	if err := checkWritable(filepath.Join(writeFile(t, ""), "NPKI")); err == nil {
		t.Error("a folder below a file passed")
	}
}

func TestFolderOf(t *testing.T) {
	ca := newTestCA(t)
	h := newHolder(t, ca, 0xabc)
	if got := folderOf(h.home, "abc"); got != h.dir {
		t.Errorf("folderOf = %q, want %q", got, h.dir)
	}
	if got := folderOf(h.home, "abd"); got != "" {
		t.Errorf("folderOf unknown serial = %q", got)
	}
}
