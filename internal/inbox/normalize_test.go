package inbox

import (
	"strings"
	"testing"
)

// normalizeTextReference is the plain statement of normalizeText's rules,
// which the one-pass version must answer exactly.
func normalizeTextReference(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.ReplaceAll(s, "\u00a0", " ")
	var out []string
	blank := 0
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			blank++
			if blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

func TestNormalizeText(t *testing.T) {
	for _, in := range []string{
		"", "\n", "a", " a \r\n\r\n\r\n b\t\r\n", "a\rb\r\r\nc", "x\u00a0\u00a0 \n\n\n\u00a0y\u00a0",
		"\u2003lead\u2003\n", "a \t \u00a0\n \n\nb", "\xc2", "a\xc2\xa0\xa0b", "\r", "\r\n\r", "q\n\n",
	} {
		if got, want := normalizeText(in), normalizeTextReference(in); got != want {
			t.Errorf("normalizeText(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzNormalizeText(f *testing.F) {
	f.Add(" a \r\n\r\n\r\n b\t\r\n\u00a0")
	f.Fuzz(func(t *testing.T, in string) {
		if got, want := normalizeText(in), normalizeTextReference(in); got != want {
			t.Fatalf("normalizeText(%q) = %q, want %q", in, got, want)
		}
	})
}

// The prefilter before the Message-ID expression never hides a match.
func TestContainsFoldASCII(t *testing.T) {
	for _, s := range []string{"Message-ID: <a@b>", "  message-id:\t<x@y>", "MESSAGE-ID: <q@r>", "meſſage-Id: <s@t>", "x\nMessage-Id:<u@v>"} {
		if !textIDRe.MatchString(s) || !containsFoldASCII(s, "-id:") {
			t.Errorf("%q: expression %v, prefilter %v; want both", s, textIDRe.MatchString(s), containsFoldASCII(s, "-id:"))
		}
	}
	for _, s := range []string{"", "-i", "message id: <a@b>", "Message-IF: x"} {
		if containsFoldASCII(s, "-id:") {
			t.Errorf("%q: prefilter matched", s)
		}
	}
}

func FuzzContainsFoldASCII(f *testing.F) {
	f.Add("Message-ID: <a@b>")
	f.Fuzz(func(t *testing.T, s string) {
		if textIDRe.MatchString(s) && !containsFoldASCII(s, "-id:") {
			t.Fatalf("%q matches the Message-ID expression but not its prefilter", s)
		}
	})
}
