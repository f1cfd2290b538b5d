package store

import "context"

// ExecForTest runs raw SQL, for tests that check what the schema itself refuses.
func (s *Store) ExecForTest(ctx context.Context, sql string, args ...any) error {
	_, err := s.pool.Exec(ctx, sql, args...)
	return err
}
