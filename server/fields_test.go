package server_test

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.step.sm/crypto/pemutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/google/uuid"

	"github.com/signet-ca/signet/ca/adminca"
	"github.com/signet-ca/signet/ca/evidence/devprovider"
	"github.com/signet-ca/signet/ca/evidence/evidencetest"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
	"github.com/signet-ca/signet/server"
	"github.com/signet-ca/signet/server/devidentity"
)

// rawCodec sends bytes as they are, so that a test can put into a string
// field what a well-behaved proto library refuses to marshal.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// stringFields lists the paths of every string field of md, nested
// messages included (timestamps have none).
func stringFields(md protoreflect.MessageDescriptor, prefix []protoreflect.FieldDescriptor, depth int) [][]protoreflect.FieldDescriptor {
	var out [][]protoreflect.FieldDescriptor
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		p := append(append([]protoreflect.FieldDescriptor(nil), prefix...), fd)
		switch {
		case fd.IsMap() || fd.IsList():
		case fd.Kind() == protoreflect.StringKind:
			out = append(out, p)
		case fd.Kind() == protoreflect.MessageKind && depth < 4:
			out = append(out, stringFields(fd.Message(), p, depth+1)...)
		}
	}
	return out
}

// withField builds a request of type md whose field at path is value,
// marshalled by hand so that value may be anything.
func withField(t *testing.T, md protoreflect.MessageDescriptor, path []protoreflect.FieldDescriptor, value string) []byte {
	t.Helper()
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
	if err != nil {
		t.Fatal(err)
	}
	root := mt.New()
	m := root
	for _, fd := range path[:len(path)-1] {
		m = m.Mutable(fd).Message()
	}
	// A placeholder of the same length keeps every length prefix right.
	placeholder := strings.Repeat("P", len(value))
	m.Set(path[len(path)-1], protoreflect.ValueOfString(placeholder))
	b, err := proto.Marshal(root.Interface())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(b, []byte(placeholder)) != 1 {
		t.Fatalf("placeholder not unique in %x", b)
	}
	return bytes.Replace(b, []byte(placeholder), []byte(value), 1)
}

func pathName(path []protoreflect.FieldDescriptor) string {
	var parts []string
	for _, fd := range path {
		parts = append(parts, string(fd.Name()))
	}
	return strings.Join(parts, ".")
}

// TestFields_BadTextRefusedAndAuditedOnce sends a NUL, invalid UTF-8, a
// control character and an oversized value in every string field of every
// request of the enrollment, copy, admin and dev identity services: each must be
// INVALID_ARGUMENT naming the field, with exactly one refused audit event
// (issue 8 item 5).
func TestFields_BadTextRefusedAndAuditedOnce(t *testing.T) {
	h := newHarnessWith(t, func(c *server.Config) {
		c.RateLimits = server.RateLimits{ClientRate: -1, SubjectMax: -1}
		sim, err := devprovider.New(c.Audience, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		c.Dev = devidentity.For(sim)
	})
	staff := h.staff(adminca.RoleOperator, "ops")
	adminConn, err := grpc.NewClient(h.admin, grpc.WithTransportCredentials(credentials.NewTLS(
		&tls.Config{RootCAs: h.roots, ServerName: "127.0.0.1", Certificates: []tls.Certificate{*staff}})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { adminConn.Close() })

	services := []struct {
		desc protoreflect.ServiceDescriptor
		conn *grpc.ClientConn
	}{
		{signetv1.File_signet_v1_enrollment_proto.Services().ByName("EnrollmentService"), h.conn},
		{signetv1.File_signet_v1_copy_proto.Services().ByName("CopyService"), h.conn},
		{signetv1.File_signet_v1_admin_proto.Services().ByName("AdminService"), adminConn},
		{signetv1.File_signet_v1_dev_identity_proto.Services().ByName("DevIdentityService"), h.conn},
	}
	bad := []struct{ name, value string }{
		{"NUL", "req\x00uest-0001"},
		{"invalid UTF-8", "req\xff\xfeuest-0001"},
		{"control character", "req\x1b[31muest"},
		{"oversized", strings.Repeat("a", 20<<10)},
	}
	refused := func() int {
		var n int
		if err := h.pool.QueryRow(ctx(t), `SELECT count(*) FROM audit_events WHERE outcome = 'refused'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	cases := 0
	for _, svc := range services {
		methods := svc.desc.Methods()
		for i := 0; i < methods.Len(); i++ {
			md := methods.Get(i)
			if md.IsStreamingClient() || md.IsStreamingServer() {
				continue
			}
			for _, path := range stringFields(md.Input(), nil, 0) {
				for _, b := range bad {
					name := fmt.Sprintf("%s/%s/%s/%s", svc.desc.Name(), md.Name(), pathName(path), b.name)
					req := withField(t, md.Input(), path, b.value)
					before := refused()
					var resp []byte
					err := svc.conn.Invoke(ctx(t), fmt.Sprintf("/%s/%s", svc.desc.FullName(), md.Name()), req, &resp,
						grpc.ForceCodec(rawCodec{}))
					cases++
					if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), pathName(path)) {
						t.Errorf("%s: got %v, want INVALID_ARGUMENT naming %s", name, err, pathName(path))
						continue
					}
					if got := refused() - before; got != 1 {
						t.Errorf("%s: %d refused audit events, want exactly 1", name, got)
					}
				}
			}
		}
	}
	if cases < 200 {
		t.Errorf("only %d cases: the services' string fields were not all found", cases)
	}
}

// TestFields_EdgeRefusalsAreAudited checks the refusals made in handlers
// and interceptors before the core runs: a revoke without authorization,
// and admin certificates with an unknown role or two roles.
func TestFields_EdgeRefusalsAreAudited(t *testing.T) {
	h := newHarness(t)
	lastRefusal := func() (actor, reason string) {
		if err := h.pool.QueryRow(ctx(t), `SELECT actor, reason FROM audit_events WHERE outcome = 'refused'
			ORDER BY id DESC LIMIT 1`).Scan(&actor, &reason); err != nil {
			t.Fatal(err)
		}
		return actor, reason
	}

	_, err := h.client.RevokeCertificate(ctx(t), &signetv1.RevokeCertificateRequest{RequestId: uuid.NewString(), Serial: "01"})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("revoke without authorization: %v", err)
	}
	if _, reason := lastRefusal(); reason != "no_authorization" {
		t.Errorf("revoke without authorization audited as %q", reason)
	}

	certPath, keyPath := adminca.Files(filepath.Dir(sharedPKI(t).Root))
	caCert := readCert(t, certPath)
	caKey, err := pemutil.Read(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, roles := range [][]string{{"superuser"}, {adminca.RoleAuditor, adminca.RoleOperator}} {
		key := newKey(t)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()),
			Subject:   pkix.Name{CommonName: "mallory", OrganizationalUnit: roles},
			NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
		if err != nil {
			t.Fatal(err)
		}
		client := h.adminClient(&tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key})
		_, err = client.SearchCertificates(ctx(t), &signetv1.SearchCertificatesRequest{Profile: banking})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("roles %v: %v, want PERMISSION_DENIED", roles, err)
		}
		if actor, reason := lastRefusal(); reason != "bad_admin_role" || !strings.Contains(actor, "mallory") {
			t.Errorf("roles %v: audited as %q by %q, want bad_admin_role by mallory's certificate", roles, reason, actor)
		}
	}
}

// TestFields_NULInEvidenceJTI sends evidence whose jti holds a NUL: it is
// malformed evidence, refused and audited, not a database fault.
func TestFields_NULInEvidenceJTI(t *testing.T) {
	h := newHarness(t)
	p := person(3)
	e := h.enroll(signetv1.EnrollmentPurpose_ENROLLMENT_PURPOSE_ISSUE, banking)
	ev := h.evidence(e.Nonce, p)
	ev.PhoneToken = h.minter.PhoneToken(e.Nonce, p, evidencetest.WithClaim("jti", "jti\x00"+uuid.NewString()))
	before := h.counts()
	_, err := h.client.IssueCertificate(ctx(t), &signetv1.IssueCertificateRequest{RequestId: uuid.NewString(),
		EnrollmentId: e.EnrollmentId, Csr: csrFor(t, newKey(t)), Evidence: ev, Holder: holderOf(p)})
	if status.Code(err) != codes.InvalidArgument || reasonOf(err) != "evidence_malformed" {
		t.Fatalf("got %v (reason %q), want INVALID_ARGUMENT / evidence_malformed", err, reasonOf(err))
	}
	if after := h.counts(); after["audit_refused"] != before["audit_refused"]+1 {
		t.Errorf("%d refused audit events, want 1", after["audit_refused"]-before["audit_refused"])
	}
}
