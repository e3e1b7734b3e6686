package outreach_test

import (
	"os"
	"strings"
	"testing"

	"github.com/backlinkoutreach/outreach/internal/config"
)

// configTable renders the README's configuration table from config.Vars().
func configTable() []string {
	rows := []string{"| variable | default | meaning |", "|---|---|---|"}
	for _, v := range config.Vars() {
		def := "*(empty)*"
		if v.Default != "" {
			def = "`" + v.Default + "`"
		}
		meaning := v.Help
		if len(v.OneOf) > 0 {
			meaning += "; one of `" + strings.Join(v.OneOf, "`, `") + "`"
		}
		rows = append(rows, "| `"+v.Name+"` | "+def+" | "+strings.ReplaceAll(meaning, "|", `\|`)+" |")
	}
	return rows
}

// readmeSection returns the lines under a "## " heading, up to the next one.
func readmeSection(t *testing.T, heading string) []string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "## ") {
			if in {
				break
			}
			in = strings.TrimSpace(strings.TrimPrefix(line, "## ")) == heading
			continue
		}
		if in {
			out = append(out, line)
		}
	}
	if !in && out == nil {
		t.Fatalf("README.md has no %q section", heading)
	}
	return out
}

// The README's configuration table is exactly config.Vars(): every
// variable, in order, with its default and meaning.
func TestReadmeConfigurationTable(t *testing.T) {
	t.Parallel()
	var got []string
	for _, line := range readmeSection(t, "Configuration") {
		if strings.HasPrefix(line, "|") {
			got = append(got, strings.TrimSpace(line))
		}
	}
	want := configTable()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		for i := range max(len(got), len(want)) {
			var g, w string
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if g != w {
				t.Errorf("first difference at row %d:\n README: %s\n config: %s", i, g, w)
				break
			}
		}
		t.Fatalf("README.md's configuration table is out of date with internal/config; replace it with:\n\n%s\n", strings.Join(want, "\n"))
	}
}
