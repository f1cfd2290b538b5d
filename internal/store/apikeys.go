package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/k2kinvoice/autoinvoice/internal/invoice"
)

// ErrUnauthenticated means an API key is unknown, malformed, wrong or revoked.
var ErrUnauthenticated = errors.New("unauthenticated")

// APIKey is a company's credential for the HTTP gateway, acting in one role.
type APIKey struct {
	ID        string
	CompanyID string
	Role      invoice.Role
	Label     string
	CreatedAt time.Time
	RevokedAt *time.Time
}

// apiKeyPrefix starts every key, so a leaked one is easy to recognise and scan for.
const apiKeyPrefix = "k2k"

// APIKeyCreate creates a key for a company and role and returns it with its secret, in the form
// k2k_<id>_<secret>. Only a SHA-256 of the secret is stored: the key cannot be shown again. (The
// secret is 32 random bytes, so a fast hash is as safe as a slow one.)
func (s *Store) APIKeyCreate(ctx context.Context, companyID string, role invoice.Role, label string) (APIKey, string, error) {
	id, secret := randomHex(8), randomHex(32)
	k := APIKey{ID: id, CompanyID: companyID, Role: role, Label: label}
	err := s.pool.QueryRow(ctx, `
		INSERT INTO api_keys (id, company_id, role, label, secret_sha256) VALUES ($1, $2, $3, $4, $5)
		RETURNING created_at`, id, companyID, string(role), label, sha256Hex(secret)).Scan(&k.CreatedAt)
	if err != nil {
		return APIKey{}, "", mapError(err, "api key for "+companyID)
	}
	return k, fmt.Sprintf("%s_%s_%s", apiKeyPrefix, id, secret), nil
}

// APIKeyRevoke revokes a key; requests with it are refused from then on.
func (s *Store) APIKeyRevoke(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, id)
	if err != nil {
		return mapError(err, "revoke api key "+id)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("api key %s: %w (or revoked already)", id, ErrNotFound)
	}
	return nil
}

// APIKeyAuthenticate returns the key a presented credential belongs to, or ErrUnauthenticated.
func (s *Store) APIKeyAuthenticate(ctx context.Context, presented string) (APIKey, error) {
	prefix, rest, ok := strings.Cut(presented, "_")
	id, secret, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || prefix != apiKeyPrefix || len(id) != 16 || len(secret) != 64 {
		return APIKey{}, ErrUnauthenticated
	}
	var k APIKey
	var stored string
	err := s.pool.QueryRow(ctx, `
		SELECT id, company_id, role, label, created_at, revoked_at, secret_sha256 FROM api_keys WHERE id = $1`, id).
		Scan(&k.ID, &k.CompanyID, &k.Role, &k.Label, &k.CreatedAt, &k.RevokedAt, &stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKey{}, ErrUnauthenticated
	}
	if err != nil {
		return APIKey{}, mapError(err, "api key "+id)
	}
	if subtle.ConstantTimeCompare([]byte(stored), []byte(sha256Hex(secret))) != 1 || k.RevokedAt != nil {
		return APIKey{}, ErrUnauthenticated
	}
	return k, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
