package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// ErrIdempotencyMismatch means an Idempotency-Key was used before with another request.
var ErrIdempotencyMismatch = errors.New("idempotency key used with another request")

// ErrIdempotencyInProgress means the first request with this Idempotency-Key is still running.
var ErrIdempotencyInProgress = errors.New("a request with this idempotency key is in progress")

// StoredResponse is the first answer given to an Idempotency-Key.
type StoredResponse struct {
	StatusCode  int
	ContentType string
	Body        []byte
}

// abandonAfter is how long a claimed key may stay without an answer before it is taken to be
// abandoned (the process died mid-request) and may be claimed again. It is well above the
// gateway's request timeout.
const abandonAfter = "2 minutes"

// IdempotencyBegin claims an Idempotency-Key for a request with this fingerprint. It returns nil
// when the caller should process the request (and then IdempotencyFinish or IdempotencyRelease),
// the stored response when the same request was answered before, ErrIdempotencyMismatch when the
// key belongs to another request, and ErrIdempotencyInProgress when the first one still runs.
func (s *Store) IdempotencyBegin(ctx context.Context, companyID, key, fingerprint string) (*StoredResponse, error) {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO idempotency_keys (company_id, key, fingerprint) VALUES ($1, $2, $3)
		ON CONFLICT (company_id, key) DO NOTHING`, companyID, key, fingerprint)
	if err != nil {
		return nil, mapError(err, "idempotency key")
	}
	if tag.RowsAffected() == 1 {
		return nil, nil
	}
	tag, err = s.pool.Exec(ctx, `
		UPDATE idempotency_keys SET created_at = now()
		WHERE company_id = $1 AND key = $2 AND fingerprint = $3 AND status_code IS NULL
		  AND created_at < now() - interval '`+abandonAfter+`'`, companyID, key, fingerprint)
	if err != nil {
		return nil, mapError(err, "idempotency key")
	}
	if tag.RowsAffected() == 1 {
		return nil, nil // an abandoned claim, taken over
	}
	var stored string
	var status *int
	var r StoredResponse
	var contentType *string
	err = s.pool.QueryRow(ctx, `
		SELECT fingerprint, status_code, content_type, body FROM idempotency_keys WHERE company_id = $1 AND key = $2`,
		companyID, key).Scan(&stored, &status, &contentType, &r.Body)
	switch {
	case errors.Is(err, pgx.ErrNoRows): // released meanwhile: try again
		return s.IdempotencyBegin(ctx, companyID, key, fingerprint)
	case err != nil:
		return nil, mapError(err, "idempotency key")
	case stored != fingerprint:
		return nil, ErrIdempotencyMismatch
	case status == nil:
		return nil, ErrIdempotencyInProgress
	}
	r.StatusCode = *status
	if contentType != nil {
		r.ContentType = *contentType
	}
	return &r, nil
}

// IdempotencyFinish stores the answer to a claimed key; replays get it from now on.
func (s *Store) IdempotencyFinish(ctx context.Context, companyID, key string, r StoredResponse) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE idempotency_keys SET status_code = $3, content_type = $4, body = $5
		WHERE company_id = $1 AND key = $2`, companyID, key, r.StatusCode, r.ContentType, r.Body)
	return mapError(err, "idempotency key")
}

// IdempotencyRelease frees a claimed key whose request failed before any answer worth keeping
// (a server error): the client may retry with the same key.
func (s *Store) IdempotencyRelease(ctx context.Context, companyID, key string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE company_id = $1 AND key = $2 AND status_code IS NULL`, companyID, key)
	return mapError(err, "idempotency key")
}
