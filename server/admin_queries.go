package server

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/signet-ca/signet/audit"
	signetv1 "github.com/signet-ca/signet/proto/signet/v1"
	"github.com/signet-ca/signet/store"
)

// The read side of AdminService: decode filters, call the store's audit
// queries, render. The store owns pagination and the SQL.

// statusNames inverts statusValues: filter enum -> stored status name.
var statusNames = func() map[signetv1.CertificateStatus]string {
	m := map[signetv1.CertificateStatus]string{}
	for name, v := range statusValues {
		m[v] = name
	}
	return m
}()

// subjectRef resolves a subject given by CI, or by name + birth date where
// the dev providers define the CI (production has no way from a name to a
// CI, which only the identity providers know).
func (s *adminService) subjectRef(ci, name, birth string) (string, error) {
	switch {
	case ci != "":
		ref, err := s.ca.SubjectRefOf(ci)
		if err != nil {
			return "", toStatus(context.Background(), s.log, err)
		}
		return ref, nil
	case name != "" || birth != "":
		if s.devCI == nil {
			return "", status.Error(codes.InvalidArgument, "a subject by name and birth date works only with the dev identity providers: give the CI, or search by subject_name")
		}
		if name == "" || birth == "" {
			return "", status.Error(codes.InvalidArgument, "give both name and birth (YYYYMMDD)")
		}
		ref, err := s.ca.SubjectRefOf(s.devCI(name, birth))
		if err != nil {
			return "", toStatus(context.Background(), s.log, err)
		}
		return ref, nil
	}
	return "", nil
}

func timeRange(r *signetv1.TimeRange) (from, to time.Time) {
	if r.GetFrom() != nil {
		from = r.GetFrom().AsTime()
	}
	if r.GetTo() != nil {
		to = r.GetTo().AsTime()
	}
	return from, to
}

func (s *adminService) storeError(ctx context.Context, err error) error {
	return toStatus(ctx, s.log, err)
}

func (s *adminService) adminCertificate(c *store.Certificate) *signetv1.AdminCertificate {
	return &signetv1.AdminCertificate{
		Certificate: certificateProto(s.ca.Record(c), false), SubjectRef: c.SubjectRef,
		PhoneMasked: c.PhoneMasked, AccountMasked: c.AccountMasked, Bank: c.Bank,
		Operation: c.Operation, RequestId: c.RequestID, CreatedAt: timestamppb.New(c.CreatedAt),
	}
}

func auditEventProto(ev *store.AuditEvent) *signetv1.AuditEvent {
	details, _ := json.Marshal(ev.Details)
	return &signetv1.AuditEvent{
		Id: ev.ID, At: timestamppb.New(ev.At), Actor: ev.Actor, Action: ev.Action, Outcome: ev.Outcome,
		Code: ev.Code, Reason: ev.Reason, Serial: ev.Serial, SubjectRef: ev.SubjectRef, Profile: ev.Profile,
		RequestId: ev.RequestID, Details: string(details),
	}
}

func (s *adminService) SearchCertificates(ctx context.Context, req *signetv1.SearchCertificatesRequest) (*signetv1.SearchCertificatesResponse, error) {
	ref, err := s.subjectRef(req.GetCi(), req.GetName(), req.GetBirth())
	if err != nil {
		return nil, err
	}
	f := store.CertFilter{
		Serial: req.GetSerial(), SubjectRef: ref, SubjectName: req.GetSubjectName(), Profile: req.GetProfile(),
		ExpiringWithinDays: int(req.GetExpiringWithinDays()), PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(),
		Now: s.ca.Now(),
	}
	if req.GetStatus() != signetv1.CertificateStatus_CERTIFICATE_STATUS_UNSPECIFIED {
		f.Status = statusNames[req.GetStatus()]
	}
	f.IssuedFrom, f.IssuedTo = timeRange(req.GetIssued())
	f.ExpiresFrom, f.ExpiresTo = timeRange(req.GetExpires())
	certs, next, err := s.db.SearchCertificates(ctx, f)
	if err != nil {
		return nil, s.storeError(ctx, err)
	}
	resp := &signetv1.SearchCertificatesResponse{NextPageToken: next}
	for _, c := range certs {
		resp.Certificates = append(resp.Certificates, s.adminCertificate(c))
	}
	return resp, nil
}

func (s *adminService) GetCertificateHistory(ctx context.Context, req *signetv1.GetCertificateHistoryRequest) (*signetv1.GetCertificateHistoryResponse, error) {
	ref, err := s.subjectRef(req.GetCi(), req.GetName(), req.GetBirth())
	if err != nil {
		return nil, err
	}
	certs, events, err := s.db.CertificateHistory(ctx, store.HistoryKey{Serial: req.GetSerial(), SubjectRef: ref, Profile: req.GetProfile()})
	if err != nil {
		return nil, s.storeError(ctx, err)
	}
	resp := &signetv1.GetCertificateHistoryResponse{}
	for _, c := range certs {
		resp.Certificates = append(resp.Certificates, s.adminCertificate(c))
	}
	for _, ev := range events {
		resp.Events = append(resp.Events, auditEventProto(ev))
	}
	return resp, nil
}

func (s *adminService) ListAuditEvents(ctx context.Context, req *signetv1.ListAuditEventsRequest) (*signetv1.ListAuditEventsResponse, error) {
	f := store.EventFilter{
		Actor: req.GetActor(), Action: req.GetAction(), Serial: req.GetSerial(), SubjectRef: req.GetSubjectRef(),
		Outcome: req.GetOutcome(), Reason: req.GetReason(), PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(),
	}
	f.From, f.To = timeRange(req.GetAt())
	events, next, err := s.db.ListAuditEvents(ctx, f)
	if err != nil {
		return nil, s.storeError(ctx, err)
	}
	resp := &signetv1.ListAuditEventsResponse{NextPageToken: next}
	for _, ev := range events {
		resp.Events = append(resp.Events, auditEventProto(ev))
	}
	return resp, nil
}

// ListSignatures answers "what did the CA keys sign in this period": the
// signature ledger, where every signature is recorded before it is made.
func (s *adminService) ListSignatures(ctx context.Context, req *signetv1.ListSignaturesRequest) (*signetv1.ListSignaturesResponse, error) {
	f := store.SignatureFilter{IssuerID: req.GetIssuerId(), Kind: req.GetKind(), State: req.GetState(),
		PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()}
	f.From, f.To = timeRange(req.GetReservedAt())
	sigs, next, err := s.db.ListSignatures(ctx, f)
	if err != nil {
		return nil, s.storeError(ctx, err)
	}
	resp := &signetv1.ListSignaturesResponse{NextPageToken: next}
	for _, sig := range sigs {
		resp.Signatures = append(resp.Signatures, &signetv1.Signature{
			Id: sig.ID, IssuerId: sig.IssuerID, Kind: sig.Kind, Serial: sig.Serial, CrlNumber: sig.CRLNumber,
			Purpose: sig.Purpose, RequestId: sig.RequestID, SubjectRef: sig.SubjectRef,
			TbsSha256: hex.EncodeToString(sig.TBSSHA256), State: sig.State, Outcome: sig.Outcome, Der: sig.DER,
			ReservedAt: timestamppb.New(sig.ReservedAt),
		})
	}
	return resp, nil
}

func (s *adminService) GetStats(ctx context.Context, req *signetv1.GetStatsRequest) (*signetv1.GetStatsResponse, error) {
	from, to := timeRange(req.GetDays())
	counts, days, err := s.db.Stats(ctx, s.ca.Now(), from, to)
	if err != nil {
		return nil, s.storeError(ctx, err)
	}
	resp := &signetv1.GetStatsResponse{}
	for _, c := range counts {
		resp.Counts = append(resp.Counts, &signetv1.StatusCount{Profile: c.Profile, Status: statusValues[c.Status], Count: c.Count})
	}
	for _, d := range days {
		resp.Days = append(resp.Days, &signetv1.DayCount{Day: d.Day, Issued: d.Issued, Renewed: d.Renewed, Reissued: d.Reissued, Revoked: d.Revoked})
	}
	return resp, nil
}

func (s *adminService) VerifyAuditLog(ctx context.Context, req *signetv1.VerifyAuditLogRequest) (*signetv1.VerifyAuditLogResponse, error) {
	// The checkpoint signer must chain to the issuing CA.
	roots := x509.NewCertPool()
	for _, c := range s.ca.Signer().Chain() {
		roots.AddCert(c)
	}
	r, err := audit.Verify(ctx, s.db, req.GetFromSeq(), req.GetToSeq(), roots)
	if err != nil {
		return nil, s.storeError(ctx, err)
	}
	resp := &signetv1.VerifyAuditLogResponse{
		Ok: r.OK, Checked: r.Checked, FirstBrokenSeq: r.FirstBrokenSeq, FirstBrokenEventId: r.FirstBrokenEventID,
		Problem: r.Problem, CheckpointSeq: r.CheckpointSeq,
	}
	if !r.CheckpointAt.IsZero() {
		resp.CheckpointAt = timestamppb.New(r.CheckpointAt)
	}
	return resp, nil
}
