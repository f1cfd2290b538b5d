package pathseg_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/k2kinvoice/autoinvoice/internal/pathseg"
)

func TestSegment(t *testing.T) {
	if got := pathseg.Segment("PO 7/1", 100); got != "PO%207%2F1" {
		t.Errorf("short text = %q, want it path-escaped as it is", got)
	}
	if got := pathseg.Segment(strings.Repeat("a", 100), 100); got != strings.Repeat("a", 100) {
		t.Errorf("text of exactly max bytes was shortened: %q", got)
	}
	long1, long2 := strings.Repeat("ä", 64), strings.Repeat("ä", 63)+"ö"
	s1, s2 := pathseg.Segment(long1, 100), pathseg.Segment(long2, 100)
	if s1 == s2 {
		t.Errorf("two long texts share the segment %q", s1)
	}
	for _, s := range []string{s1, s2} {
		if len(s) > 100 || !strings.Contains(s, "~") || !utf8.ValidString(s) || strings.Contains(s, "/") {
			t.Errorf("segment %q (%d bytes): want at most 100 bytes, a digest, no slash", s, len(s))
		}
	}
	if !strings.HasPrefix(s1, "%C3%A4%C3%A4") || pathseg.Segment(long1, 100) != s1 {
		t.Errorf("segment %q: want the escaped prefix of the text, the same each time", s1)
	}
}
