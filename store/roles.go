package store

import (
	"context"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/signet-ca/signet/migrations"
)

// AppendOnlyTables are the tables whose rows, once written, nobody may
// change or delete (DESIGN.md invariant 2 and the signature ledger):
// triggers refuse it, and the service role must not be able to drop the
// triggers or grant itself the right.
var AppendOnlyTables = []string{"audit_events", "audit_chain", "audit_checkpoints", "signatures"}

// AuditTablePowers lists what the connected role could do to rewrite the
// append-only tables: own one of them (an owner can drop its triggers and
// grant itself anything), be a superuser, or hold UPDATE, DELETE or
// TRUNCATE on them. The service settles signature reservations and
// advances audit_chain.seq, so UPDATE on signatures and the column
// privilege on audit_chain are not counted. role is the connected role.
func (db *DB) AuditTablePowers(ctx context.Context) (role string, powers []string, err error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	var super bool
	if err := db.pool.QueryRow(ctx, `SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&role, &super); err != nil {
		return "", nil, err
	}
	if super {
		powers = append(powers, "is a superuser")
	}
	rows, err := db.pool.Query(ctx, `SELECT t, pg_get_userbyid(c.relowner), pg_has_role(current_user, c.relowner, 'USAGE'),
			t <> 'signatures' AND has_table_privilege(current_user, c.oid, 'UPDATE'),
			has_table_privilege(current_user, c.oid, 'DELETE'), has_table_privilege(current_user, c.oid, 'TRUNCATE')
		FROM unnest($1::text[]) AS t JOIN pg_class c ON c.oid = to_regclass(t) ORDER BY t`, AppendOnlyTables)
	if err != nil {
		return "", nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var table, owner string
		var owns, update, del, truncate bool
		if err := rows.Scan(&table, &owner, &owns, &update, &del, &truncate); err != nil {
			return "", nil, err
		}
		if owns {
			powers = append(powers, fmt.Sprintf("owns %s (through role %s)", table, owner))
			continue
		}
		var privs []string
		for _, p := range []struct {
			name string
			has  bool
		}{{"UPDATE", update}, {"DELETE", del}, {"TRUNCATE", truncate}} {
			if p.has {
				privs = append(privs, p.name)
			}
		}
		if len(privs) > 0 {
			powers = append(powers, fmt.Sprintf("holds %s on %s", strings.Join(privs, ", "), table))
		}
	}
	return role, powers, rows.Err()
}

// LatestMigration is the version of the newest embedded migration.
func LatestMigration() (uint, error) {
	entries, err := fs.ReadDir(migrations.FS, ".")
	if err != nil {
		return 0, err
	}
	var latest uint
	for _, e := range entries {
		n, _, ok := strings.Cut(e.Name(), "_")
		if !ok {
			continue
		}
		v, err := strconv.ParseUint(n, 10, 32)
		if err == nil && uint(v) > latest {
			latest = uint(v)
		}
	}
	return latest, nil
}

// SchemaVersion reads the applied migration version (golang-migrate's
// schema_migrations) without writing anything, so that a role that may
// not migrate can check the schema it is about to serve.
func (db *DB) SchemaVersion(ctx context.Context) (version uint, dirty bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	var v int64
	err = db.pool.QueryRow(ctx, `SELECT version, dirty FROM schema_migrations LIMIT 1`).Scan(&v, &dirty)
	if err != nil {
		return 0, false, fmt.Errorf("read the schema version (has `signetd migrate up` run?): %w", err)
	}
	return uint(v), dirty, nil
}

// GrantServiceRole gives the service role exactly what signetd needs, as
// the migration role that owns the tables: rows to read and write
// everywhere, but no UPDATE, DELETE or TRUNCATE on the append-only audit
// tables (the sealer may only number chained events) and no DELETE or
// TRUNCATE on the signature ledger. It runs after every `signetd migrate
// up`, so tables added by later migrations get their grants too.
func GrantServiceRole(ctx context.Context, migrationURL, role string) error {
	conn, err := pgx.Connect(ctx, pgx5URLToConn(migrationURL))
	if err != nil {
		return fmt.Errorf("store: connect as the migration role: %w", err)
	}
	defer conn.Close(ctx)
	r := pgx.Identifier{role}.Sanitize()
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, stmt := range []string{
			`GRANT USAGE ON SCHEMA public TO ` + r,
			`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ` + r,
			`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ` + r,
			`REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_chain, audit_checkpoints FROM ` + r,
			`REVOKE DELETE, TRUNCATE ON signatures FROM ` + r,
			`REVOKE ALL ON schema_migrations FROM ` + r,
			`GRANT SELECT ON schema_migrations TO ` + r,
			// River's tables are rows like any (jobs, leader, queues), but
			// its migration record is the migration role's, as Signet's is.
			`REVOKE ALL ON river_migration FROM ` + r,
			`GRANT SELECT ON river_migration TO ` + r,
			`GRANT UPDATE (seq) ON audit_chain TO ` + r,
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("store: %s: %w", stmt, err)
			}
		}
		return nil
	})
}

// RoleOf is the user a database URL connects as.
func RoleOf(url string) (string, error) {
	cfg, err := pgx.ParseConfig(pgx5URLToConn(url))
	if err != nil {
		return "", err
	}
	return cfg.User, nil
}

// pgx5URLToConn undoes the pgx5:// scheme golang-migrate's URLs use.
func pgx5URLToConn(url string) string {
	if rest, ok := strings.CutPrefix(url, "pgx5://"); ok {
		return "postgres://" + rest
	}
	return url
}
