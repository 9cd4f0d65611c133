package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5" // registers pgx5://
	"github.com/golang-migrate/migrate/v4/source/iofs"

	"github.com/signet-ca/signet/migrations"
)

// Migrator applies the embedded migrations. golang-migrate's PostgreSQL
// driver holds an advisory lock while it runs, so several replicas starting
// at once migrate exactly once.
type Migrator struct {
	m   *migrate.Migrate
	url string
}

// NewMigrator opens the embedded migrations against url (postgres:// form).
func NewMigrator(url string) (*Migrator, error) {
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("store: embedded migrations: %w", err)
	}
	m, err := migrate.NewWithSourceInstance("iofs", src, pgx5URL(url))
	if err != nil {
		return nil, fmt.Errorf("store: migrate: %w", err)
	}
	return &Migrator{m: m, url: url}, nil
}

func pgx5URL(url string) string {
	for _, p := range []string{"postgres://", "postgresql://"} {
		if strings.HasPrefix(url, p) {
			return "pgx5://" + strings.TrimPrefix(url, p)
		}
	}
	return url
}

// Up applies every pending migration, Signet's and then River's (the job
// queue of expiry reminders, package reminder).
func (m *Migrator) Up() error {
	if err := ignoreNoChange(m.m.Up()); err != nil {
		return err
	}
	return MigrateRiver(context.Background(), m.url)
}

// Down reverts the most recent migration.
func (m *Migrator) Down() error { return ignoreNoChange(m.m.Steps(-1)) }

// Version reports the applied version and whether a failed migration left
// the schema dirty.
func (m *Migrator) Version() (version uint, dirty bool, err error) {
	v, d, err := m.m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return 0, false, nil
	}
	return v, d, err
}

// Close releases the migration connection.
func (m *Migrator) Close() error {
	srcErr, dbErr := m.m.Close()
	return errors.Join(srcErr, dbErr)
}

func ignoreNoChange(err error) error {
	if errors.Is(err, migrate.ErrNoChange) {
		return nil
	}
	return err
}

// MigrateUp is the start-up path: open, apply, close.
func MigrateUp(url string) error {
	m, err := NewMigrator(url)
	if err != nil {
		return err
	}
	defer m.Close()
	return m.Up()
}
