package server

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/signet-ca/signet/ca"
)

// Every string field of every request is checked at the edge, before any
// handler, so that nothing a caller sends can reach the core, a SQL
// parameter or the audit log in a form PostgreSQL refuses (issue 8 item 5).

const (
	// maxField bounds an identifier, a filter or a name.
	maxField = 256
	// maxToken bounds an evidence token or a key proof: a signed JWT
	// with a certificate chain fits in a few KiB.
	maxToken = 16 << 10
	// maxComment bounds an operator's comment.
	maxComment = 1024
)

// fieldLimits are the fields allowed more than maxField, by name.
var fieldLimits = map[protoreflect.Name]int{
	"phone_token": maxToken, "account_token": maxToken, "proof": maxToken, "comment": maxComment,
}

// checkFields returns a refusal naming the first string field of m (nested
// messages included) that is not valid UTF-8, holds a control character
// or is longer than its limit; nil if every field is acceptable.
func checkFields(m proto.Message) *ca.Error {
	return checkMessage(m.ProtoReflect(), "")
}

func checkMessage(m protoreflect.Message, prefix string) *ca.Error {
	var rerr *ca.Error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := prefix + string(fd.Name())
		switch {
		case fd.IsMap():
			return true // no request has one
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && rerr == nil; i++ {
				rerr = checkValue(fd, l.Get(i), fmt.Sprintf("%s[%d]", name, i))
			}
		default:
			rerr = checkValue(fd, v, name)
		}
		return rerr == nil
	})
	return rerr
}

func checkValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, name string) *ca.Error {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return checkMessage(v.Message(), name+".")
	case protoreflect.StringKind:
		limit := maxField
		if l, ok := fieldLimits[fd.Name()]; ok {
			limit = l
		}
		if problem := badText(v.String(), limit); problem != "" {
			return &ca.Error{Kind: ca.KindInvalid, Reason: "invalid_field",
				Msg: fmt.Sprintf("field %s %s: send it as the API documents it", name, problem)}
		}
	}
	return nil
}

// badText says what is wrong with s as a field's text, or "".
func badText(s string, limit int) string {
	if len(s) > limit {
		return fmt.Sprintf("is %d bytes long, more than its limit of %d", len(s), limit)
	}
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return fmt.Sprintf("is not valid UTF-8 (byte %d)", i)
			}
		}
		if unicode.IsControl(r) {
			return fmt.Sprintf("contains the control character %U at byte %d", r, i)
		}
	}
	return ""
}

// validateFields is the main listener's check of every request: a refusal
// is audited once, with the method as its action, and answered
// INVALID_ARGUMENT with the field's name.
func validateFields(a *ca.Authority, log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if m, ok := req.(proto.Message); ok {
			if rerr := checkFields(m); rerr != nil {
				a.AuditEdgeRefusal(ctx, info.FullMethod, actor(ctx), "", rerr, nil)
				return nil, toStatus(ctx, log, rerr)
			}
		}
		return handler(ctx, req)
	}
}

// fieldCodec is gRPC's proto codec, except that a string field that is not
// valid UTF-8 is decoded as it came instead of failing the whole message:
// proto3 refuses such a message inside gRPC, which answers INTERNAL
// without naming the field. validateFields then refuses it with the
// field's name, audited like any other bad field.
type fieldCodec struct{ encoding.CodecV2 }

func newFieldCodec() fieldCodec { return fieldCodec{encoding.GetCodecV2("proto")} }

func (c fieldCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	m, ok := v.(proto.Message)
	if err == nil || !ok || !strings.Contains(err.Error(), "UTF-8") {
		return err
	}
	proto.Reset(m)
	if lerr := unmarshalLenient(data.Materialize(), m.ProtoReflect(), 0); lerr != nil {
		return err
	}
	return nil
}

// unmarshalLenient decodes b into m like proto.Unmarshal, but sets string
// fields that are not valid UTF-8 directly (reflection does not validate)
// and hands everything else to proto.Unmarshal.
func unmarshalLenient(b []byte, m protoreflect.Message, depth int) error {
	if depth > 32 {
		return fmt.Errorf("message nested too deeply")
	}
	var rest []byte
	fields := m.Descriptor().Fields()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		size := protowire.ConsumeFieldValue(num, typ, b[n:])
		if size < 0 {
			return protowire.ParseError(size)
		}
		raw, field := b[:n+size], b[n:n+size]
		b = b[n+size:]
		fd := fields.ByNumber(num)
		if fd == nil || typ != protowire.BytesType || fd.IsMap() {
			rest = append(rest, raw...)
			continue
		}
		val, _ := protowire.ConsumeBytes(field)
		switch fd.Kind() {
		case protoreflect.StringKind:
			if utf8.Valid(val) {
				rest = append(rest, raw...)
				continue
			}
			if fd.IsList() {
				m.Mutable(fd).List().Append(protoreflect.ValueOfString(string(val)))
			} else {
				m.Set(fd, protoreflect.ValueOfString(string(val)))
			}
		case protoreflect.MessageKind:
			var sub protoreflect.Message
			if fd.IsList() {
				l := m.Mutable(fd).List()
				e := l.NewElement()
				l.Append(e)
				sub = e.Message()
			} else {
				sub = m.Mutable(fd).Message()
			}
			if err := unmarshalLenient(val, sub, depth+1); err != nil {
				return err
			}
		default:
			rest = append(rest, raw...)
		}
	}
	return proto.UnmarshalOptions{Merge: true}.Unmarshal(rest, m.Interface())
}
