package appkit_test

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEShowsExample keeps the README's "complete app" the compiled
// and run Example of example_test.go, word for word, so the snippet cannot
// drift into code that does not build.
func TestREADMEShowsExample(t *testing.T) {
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	start := strings.Index(s, "// A complete app:")
	fn := strings.Index(s, "\nfunc Example() {\n")
	if start < 0 || fn < start {
		t.Fatal(`example_test.go: no "// A complete app:" doc comment above func Example`)
	}
	end := strings.Index(s[fn:], "\n}\n")
	if end < 0 {
		t.Fatal("example_test.go: func Example has no end")
	}
	example := s[start : fn+end+3]
	if !strings.Contains(string(readme), "```go\n"+example+"```\n") {
		t.Errorf("README.md must show func Example of appkit/example_test.go exactly, with its doc comment, in a ```go block:\n%s", example)
	}
}
