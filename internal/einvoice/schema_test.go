package einvoice

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// schemas are the official Factur-X 1.09 / ZUGFeRD 2.5 XSDs (schema/README.md) that every
// generated document must satisfy: EN 16931, its declared profile, and BASIC, whose elements
// are all it uses.
var schemas = []string{
	"schema/EN16931/FACTUR-X_EN16931.xsd",
	"schema/BASIC/FACTUR-X_BASIC.xsd",
}

// xmllint returns the path of xmllint, failing the test when it is not installed.
func xmllint(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint is not installed: the XSD validation needs it. Install the Debian package libxml2-utils " +
			"(scripts/system-packages.sh does).")
	}
	return path
}

// validate runs xmllint on doc against the schema and returns its output and whether it passed.
func validate(t *testing.T, doc []byte, schema string) (string, bool) {
	t.Helper()
	file := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(file, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(xmllint(t), "--noout", "--nonet", "--schema", schema, file).CombinedOutput()
	if _, failed := err.(*exec.ExitError); err != nil && !failed {
		t.Fatalf("run xmllint: %v", err)
	}
	return string(out), err == nil
}

func TestDocumentsAreSchemaValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  func(t *testing.T) []byte
	}{
		{"EUR invoice with markup characters", func(t *testing.T) []byte { return mustInvoice(t, smallOrder()) }},
		{"Greek, Polish and Czech lines", func(t *testing.T) []byte { return mustInvoice(t, europeanOrder()) }},
		{"JPY without minor digits", func(t *testing.T) []byte { return mustInvoice(t, jpyOrder()) }},
		{"MaxLines lines", func(t *testing.T) []byte { return mustInvoice(t, manyLinesOrder()) }},
		{"credit note", func(t *testing.T) []byte { return mustCreditNote(t, creditNote(), europeanOrder()) }},
	} {
		doc := tc.doc(t)
		for _, schema := range schemas {
			t.Run(tc.name+"/"+filepath.Base(schema), func(t *testing.T) {
				if out, ok := validate(t, doc, schema); !ok || !strings.Contains(out, "validates") {
					t.Errorf("xmllint --schema %s refuses the document:\n%s", schema, out)
				}
			})
		}
	}
}

// TestSchemaValidationCatchesErrors shows that the validation above is real: a document without
// its type code, or with an amount that is no decimal, fails it.
func TestSchemaValidationCatchesErrors(t *testing.T) {
	doc := mustInvoice(t, smallOrder())
	for _, tc := range []struct {
		name, old, new, phrase string
	}{
		{"no type code", "<ram:TypeCode>380</ram:TypeCode>", "", "TypeCode"},
		{"amount with a decimal comma", "<ram:GrandTotalAmount>143.45<", "<ram:GrandTotalAmount>143,45<", "GrandTotalAmount"},
	} {
		broken := bytes.Replace(doc, []byte(tc.old), []byte(tc.new), 1)
		if bytes.Equal(broken, doc) {
			t.Fatalf("%s: the document lacks %q", tc.name, tc.old)
		}
		for _, schema := range schemas {
			t.Run(tc.name+"/"+filepath.Base(schema), func(t *testing.T) {
				if out, ok := validate(t, broken, schema); ok || !strings.Contains(out, tc.phrase) {
					t.Errorf("xmllint passed = %v, output %q; want a failure naming %s", ok, out, tc.phrase)
				}
			})
		}
	}
}
