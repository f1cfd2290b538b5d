package workflows_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/k2kinvoice/autoinvoice/internal/payloadcrypt"
	"github.com/k2kinvoice/autoinvoice/workflows"
)

// TestReplayRecordedHistories replays histories recorded from real runs of every path of the
// invoice workflow (testdata/histories, see its README) against the current code. A failure means
// workflows already running would break on a worker with this code: version the change with
// workflow.GetVersion (or worker versioning) instead of editing the workflow in place.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no histories in testdata/histories: record them (see testdata/histories/README.md)")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			t.Parallel()
			// Histories recorded with payload encryption on use the tests' public key ring;
			// older, plain ones pass through the codec unchanged.
			codec, err := payloadcrypt.ParseKeys(payloadcrypt.TestKeys)
			if err != nil {
				t.Fatal(err)
			}
			replayer, err := workflows.NewReplayer(codec.DataConverter())
			if err != nil {
				t.Fatal(err)
			}
			if err := replayer.ReplayWorkflowHistoryFromJSONFile(nil, file); err != nil {
				t.Fatalf("replay %s: %v", file, err)
			}
		})
	}
}
