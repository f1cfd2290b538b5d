// Package pathseg makes one segment of a name built from user text (an S3 key, a workflow ID):
// path-escaped, so the text cannot add segments, and bounded in bytes, so the name fits where it
// is stored. Equal texts give equal segments; different texts give different segments.
package pathseg

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
)

// Segment is s path-escaped when that fits in max bytes. Otherwise it is the longest escaped
// prefix of s (cut between characters) followed by "~" and 16 hex digits of the SHA-256 of the
// whole of s, at most max bytes; max must leave room for the 17 of the digest.
func Segment(s string, max int) string {
	escaped := url.PathEscape(s)
	if len(escaped) <= max {
		return escaped
	}
	sum := sha256.Sum256([]byte(s))
	digest := hex.EncodeToString(sum[:])[:16]
	prefix := ""
	for _, r := range s {
		next := prefix + string(r)
		if len(url.PathEscape(next))+1+len(digest) > max {
			break
		}
		prefix = next
	}
	return url.PathEscape(prefix) + "~" + digest
}
