package store

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"
)

// IsUnavailable reports whether err means the database could not be
// reached or stopped serving, rather than that it refused what was asked:
// connection refused or reset, a server shutting down or starting up, a
// closed connection or pool, a statement the server cancelled. The call
// may succeed if retried once the database is back, so the gRPC layer
// answers UNAVAILABLE with a retry hint instead of INTERNAL. A context
// that ended is not a fault of the database and is left to the caller:
// it knows whose deadline it was.
func IsUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return unavailableCode(pgErr.Code)
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr),
		errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, puddle.ErrClosedPool),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	return false
}

// unavailableCode reports whether a SQLSTATE says the server is not
// serving: class 08 (connection exception), 57P01 admin_shutdown (a fast
// shutdown or pg_terminate_backend), 57P02 crash_shutdown, 57P03
// cannot_connect_now (starting up or in recovery), 53300
// too_many_connections, and 57014 query_canceled. Signet cancels nothing
// itself except through statement_timeout and its own deadlines, so a
// cancelled statement means the database was too slow or an operator
// cancelled it: both are worth a retry, neither is a fault in Signet.
func unavailableCode(code string) bool {
	switch code {
	case "57P01", "57P02", "57P03", "53300", "57014":
		return true
	}
	return strings.HasPrefix(code, "08")
}
