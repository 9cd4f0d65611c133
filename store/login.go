package store

import (
	"context"
	"time"
)

// LoginChallenge is one sign-in challenge.
type LoginChallenge struct {
	ID        string
	Challenge string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// CreateLoginChallenge stores a new challenge.
func (db *DB) CreateLoginChallenge(ctx context.Context, c *LoginChallenge) error {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	_, err := db.pool.Exec(ctx, `INSERT INTO login_challenges (id, challenge, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		c.ID, c.Challenge, c.CreatedAt, c.ExpiresAt)
	return err
}

// LoginChallenge reads and locks a challenge, so that two verifications
// cannot both spend it.
func (t *Tx) LoginChallenge(ctx context.Context, id string) (*LoginChallenge, error) {
	var c LoginChallenge
	err := t.tx.QueryRow(ctx, `SELECT id::text, challenge, created_at, expires_at, used_at
		FROM login_challenges WHERE id = $1 FOR UPDATE`, id).Scan(&c.ID, &c.Challenge, &c.CreatedAt, &c.ExpiresAt, &c.UsedAt)
	if err != nil {
		return nil, notFound(err)
	}
	return &c, nil
}

// UseLoginChallenge spends a challenge.
func (t *Tx) UseLoginChallenge(ctx context.Context, id string, at time.Time) error {
	_, err := t.tx.Exec(ctx, `UPDATE login_challenges SET used_at = $2 WHERE id = $1`, id, at)
	return err
}

// PurgeLoginChallenges deletes up to limit challenges that expired before
// cutoff and returns how many.
func (db *DB) PurgeLoginChallenges(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, db.timeout)
	defer cancel()
	tag, err := db.pool.Exec(ctx, `DELETE FROM login_challenges WHERE id IN
		(SELECT id FROM login_challenges WHERE expires_at < $1 ORDER BY expires_at LIMIT $2)`, cutoff, limit)
	return tag.RowsAffected(), err
}
