package inbox

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/backlinkoutreach/outreach/models"
)

// label is one line of testdata/labels.jsonl.
type label struct {
	File string `json:"file"`
	Tag  string `json:"tag"`
	// Until is the expected first day back (YYYY-MM-DD in the message's
	// zone) for out-of-office replies; "" when the message states none.
	Until *string `json:"until"`
	// Bounce is hard or soft for bounces.
	Bounce string `json:"bounce"`
}

func loadCorpus(t testing.TB) []label {
	return loadLabels(t, filepath.Join("testdata", "labels.jsonl"))
}

func loadLabels(t testing.TB, path string) []label {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var out []label
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l label
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("labels.jsonl: %v", err)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func readCorpus(t testing.TB, file string) []byte {
	t.Helper()
	return readFile(t, filepath.Join("testdata", "corpus", file))
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCorpusAccuracy classifies every labelled reply with the rules and
// reports per-tag precision and recall, the return-date accuracy of
// out-of-office replies and the kind accuracy of bounces. It fails below 0.9
// overall accuracy, and below 0.9 on dates and bounce kinds.
func TestCorpusAccuracy(t *testing.T) {
	t.Parallel()
	labels := loadCorpus(t)
	if len(labels) < 150 {
		t.Fatalf("corpus has %d labelled messages, want at least 150", len(labels))
	}
	acc, dates, kinds := evaluate(t, filepath.Join("testdata", "corpus"), labels)
	if acc < 0.9 {
		t.Errorf("overall accuracy %.3f is below 0.9", acc)
	}
	if dates < 0.9 {
		t.Errorf("return date accuracy %.3f is below 0.9", dates)
	}
	if kinds < 0.9 {
		t.Errorf("bounce kind accuracy %.3f is below 0.9", kinds)
	}
}

// TestHoldoutAccuracy runs the rules on replies written after the rules
// were tuned on the corpus and not used to tune them: its figure estimates
// how the rules do on mail they have not seen.
func TestHoldoutAccuracy(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("testdata", "holdout")
	acc, _, _ := evaluate(t, dir, loadLabels(t, filepath.Join(dir, "labels.jsonl")))
	if acc < 0.75 {
		t.Errorf("holdout accuracy %.3f is below 0.75", acc)
	}
}

// evaluate classifies the labelled files of dir, logs the per-tag table
// and the misses, and answers the overall, return-date and bounce-kind
// accuracies.
func evaluate(t *testing.T, dir string, labels []label) (acc, dateAcc, kindAcc float64) {
	t.Helper()
	type counts struct{ tp, fp, fn, n int }
	per := map[string]*counts{}
	for _, tag := range models.ReplyTags {
		per[tag] = &counts{}
	}
	var right, dateRight, dates, kindRight, kinds int
	var misses []string
	for _, l := range labels {
		if per[l.Tag] == nil {
			t.Fatalf("%s: unknown tag %q", l.File, l.Tag)
		}
		m := Parse(readFile(t, filepath.Join(dir, l.File)))
		if !m.Parsed {
			t.Errorf("%s: not parsed: %s", l.File, m.ParseError)
		}
		r := ClassifyRules(m)
		per[l.Tag].n++
		if r.Tag == l.Tag {
			right++
			per[l.Tag].tp++
		} else {
			per[l.Tag].fn++
			if per[r.Tag] != nil {
				per[r.Tag].fp++
			}
			misses = append(misses, fmt.Sprintf("%s: want %s, got %s (%s) reply=%q", l.File, l.Tag, r.Tag, r.Rule, clip(m.Reply, 160)))
		}
		if l.Tag == models.ReplyOutOfOffice && l.Until != nil {
			dates++
			got := ""
			if res, ok := MessageReturnDate(m); ok {
				got = res.Format("2006-01-02")
			}
			if got == *l.Until {
				dateRight++
			} else {
				misses = append(misses, fmt.Sprintf("%s: return date want %q, got %q", l.File, *l.Until, got))
			}
		}
		if l.Tag == models.ReplyBounce {
			kinds++
			if r.BounceKind == l.Bounce {
				kindRight++
			} else {
				misses = append(misses, fmt.Sprintf("%s: bounce kind want %q, got %q (code %q)", l.File, l.Bounce, r.BounceKind, r.BounceCode))
			}
		}
	}
	tags := append([]string(nil), models.ReplyTags...)
	sort.Strings(tags)
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%-16s %5s %9s %7s\n", dir, "tag", "n", "precision", "recall")
	for _, tag := range tags {
		c := per[tag]
		fmt.Fprintf(&b, "%-16s %5d %9.3f %7.3f\n", tag, c.n, ratio(c.tp, c.tp+c.fp), ratio(c.tp, c.tp+c.fn))
	}
	acc = ratio(right, len(labels))
	fmt.Fprintf(&b, "overall accuracy %.3f (%d/%d); return dates %.3f (%d/%d); bounce kinds %.3f (%d/%d)",
		acc, right, len(labels), ratio(dateRight, dates), dateRight, dates, ratio(kindRight, kinds), kindRight, kinds)
	t.Log("\n" + b.String())
	for _, m := range misses {
		t.Log(m)
	}
	for _, tag := range tags {
		if per[tag].n > 0 && per[tag].n < 5 {
			t.Errorf("tag %s has %d examples, want several", tag, per[tag].n)
		}
	}
	dateAcc, kindAcc = ratio(dateRight, dates), ratio(kindRight, kinds)
	if dates == 0 {
		dateAcc = 1
	}
	if kinds == 0 {
		kindAcc = 1
	}
	return acc, dateAcc, kindAcc
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " | ")
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
