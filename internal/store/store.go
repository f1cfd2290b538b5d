// Package store is the PostgreSQL side of K2K Auto-Invoice: companies, K2K connections and their
// settings, vendor invoices, revisions and the audit log. SQL sits beside the Go that runs it;
// pgx types and errors stay inside this package (mapError is the one place they become the
// store's errors).
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotFound means the row asked for does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict means a write would break a business rule held by a constraint (an invoice number
// already used by another order) or a guarded transition found another status than expected.
var ErrConflict = errors.New("conflict")

// ErrInvalidData means PostgreSQL refused the values themselves (a data exception or an integrity
// violation no business rule maps): retrying the same write cannot succeed.
var ErrInvalidData = errors.New("invalid data")

// Store runs queries on a PostgreSQL pool.
type Store struct {
	pool *pgxpool.Pool
	// secrets seals the signing secrets it stores; nil: they are stored as given (development).
	secrets Sealer
}

// Sealer seals a text to store and opens what it sealed (payloadcrypt.Codec does, with the
// payload key ring); a text it did not seal opens as it is.
type Sealer interface {
	SealText(plain string) (string, error)
	OpenText(stored string) (string, error)
}

// SealSecretsWith makes the store seal the signing secrets it stores (webhook endpoints',
// accounting exports') with sealer, and open them when it reads them.
func (s *Store) SealSecretsWith(sealer Sealer) { s.secrets = sealer }

// seal is secret as the store keeps it.
func (s *Store) seal(secret string) (string, error) {
	if s.secrets == nil || secret == "" {
		return secret, nil
	}
	return s.secrets.SealText(secret)
}

// open is a stored secret as it was given.
func (s *Store) open(stored string) (string, error) {
	if s.secrets == nil {
		return stored, nil
	}
	return s.secrets.OpenText(stored)
}

// Open connects a pool to databaseURL and checks that the server answers.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: cannot reach the server of DATABASE_URL: %w", err)
	}
	return &Store{pool: pool}, nil
}

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// mapError is the one place that turns driver errors into the store's errors.
func mapError(err error, what string) error {
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	case errors.As(err, &pgErr) && pgErr.Code == "23505": // unique_violation
		return fmt.Errorf("%s: %w (%s)", what, ErrConflict, pgErr.ConstraintName)
	case errors.As(err, &pgErr) && pgErr.Code == "23503": // foreign_key_violation
		return fmt.Errorf("%s: %w (%s)", what, ErrNotFound, pgErr.Detail)
	case errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")):
		// Class 22 data exception, class 23 integrity constraint violation.
		return fmt.Errorf("%s: %w: %s (SQLSTATE %s)", what, ErrInvalidData, pgErr.Message, pgErr.Code)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// inTx runs fn in a transaction, committed when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}
