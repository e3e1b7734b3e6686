package inbox

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestFastParseMatchesReader holds the in-place reader to go-message's
// streaming one: every message of the test data, and shapes written to sit
// on the edges of the rules, read the same either way; the well-formed
// ones are read in place, and the others are left to the streaming reader.
func TestFastParseMatchesReader(t *testing.T) {
	t.Parallel()
	var files []string
	for _, dir := range []string{"corpus", "holdout"} {
		fs, err := filepath.Glob(filepath.Join("testdata", dir, "*.eml"))
		if err != nil || len(fs) == 0 {
			t.Fatalf("testdata/%s: %v", dir, err)
		}
		files = append(files, fs...)
	}
	inPlace := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if sameEitherWay(t, filepath.Base(f), raw) {
			inPlace++
		}
	}
	// The corpus is well-formed mail from real clients: nearly all of it
	// must take the in-place path, or it is not doing its job.
	if inPlace < len(files)*95/100 {
		t.Errorf("%d of %d test messages were read in place, want at least 95%%", inPlace, len(files))
	}

	head := "From: Ann <ann@example.org>\nTo: pitch@agency.example\nSubject: Re: guest post\nMessage-ID: <edge@example.org>\n"
	mp := func(ct, body string) string {
		return head + "MIME-Version: 1.0\nContent-Type: " + ct + "\n\n" + body
	}
	cases := []struct {
		name    string
		raw     string
		inPlace bool
	}{
		{"plain", head + "\nSounds good, send it over.\n", true},
		{"bare line feeds", head + "\nYes please.\n", true},
		{"crlf", strings.ReplaceAll(head+"\nYes please.\n", "\n", "\r\n"), true},
		{"header only, blank line", head + "\n", true},
		{"no blank line after the header", head, false},
		{"header cut mid-line", head + "X-Cut: abc", false},
		{"folded first line", " From: a@b.c\n\nbody\n", false},
		{"line without a colon", head + "Nonsense line\n\nbody\n", false},
		{"field without a name", head + ": value\n\nbody\n", false},
		{"space before the colon", "From : x@example.org\nSubject :  spaced \n\nhello\n", true},
		{"folded fields", "From: Ann\n <ann@example.org>\nSubject: a long\n\tsubject line\nReferences: <a@x>\n  <b@x>\n\nhello\n", true},
		{"repeated fields, first wins", "Subject: first\nSubject: second\nFrom: a@x.org\nFrom: b@x.org\n\nhi\n", true},
		{"lower-case field names", "message-id: <lc@x.org>\nfrom: lc@x.org\ncontent-type: text/plain; charset=windows-1252\n\ncaf\xe9\n", true},
		{"carriage return inside a field", "Subject: a\rb\nFrom: c@d.org\n\r\nbody\n", true},
		{"two carriage returns are not a blank line", "Subject: a\nFrom: c@d.org\n\r\r\nbody\n", false},
		{"alternative", mp(`multipart/alternative; boundary="b1"`,
			"preamble\n--b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nWe'd love it =E2=80=93 go ahead.=\n\n--b1\nContent-Type: text/html\n\n<p>We'd love it</p>\n--b1--\nepilogue\n"), true},
		{"crlf alternative", strings.ReplaceAll(mp(`multipart/alternative; boundary=b2`,
			"--b2\nContent-Type: text/html\n\n<div>only <b>html</b></div>\n--b2  \n\nempty header part\n--b2--"), "\n", "\r\n"), true},
		{"nested with attachment", mp(`multipart/mixed; boundary=out`,
			"--out\nContent-Type: multipart/alternative; boundary=in\n\n--in\nContent-Type: text/plain\n\nInner text\n--in--\n\n--out\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=a.pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--out--\n"), true},
		{"delimiter as a prefix of a longer line", mp(`multipart/mixed; boundary=ab`,
			"--ab\nContent-Type: text/plain\n\nline\n--abc is not a delimiter\n--ab--\n"), true},
		{"delimiter right at the start of a body", mp(`multipart/mixed; boundary=z`,
			"--z\nContent-Type: text/plain\n\n--z\nContent-Type: text/plain\n\nsecond\n--z--\n"), true},
		{"no closing delimiter", mp(`multipart/mixed; boundary=q`, "--q\nContent-Type: text/plain\n\nunfinished\n"), false},
		{"only a preamble", mp(`multipart/mixed; boundary=q`, "no delimiter at all\n"), false},
		{"closing delimiter at once", mp(`multipart/mixed; boundary=q`, "--q--"), true},
		{"closing delimiter at once, bare line feed", mp(`multipart/mixed; boundary=q`, "--q--\n"), false},
		{"stray line between parts", mp(`multipart/mixed; boundary=q`, "--q\n\none\n--q\n\ntwo\nxx\n--q--\n"), true},
		{"text after a part's line end", mp(`multipart/mixed; boundary=q`, "--q\n\none\n\nstray\n--q--\n"), true},
		{"part header without a blank line", mp(`multipart/mixed; boundary=q`, "--q\nContent-Type: text/plain\n--q--\n"), false},
		{"boundary missing", mp(`multipart/mixed`, "--x\n\ntext\n--x--\n"), true},
		{"delivery report", mp(`multipart/report; report-type=delivery-status; boundary=r`,
			"--r\nContent-Type: text/plain\n\nDelivery failed.\n--r\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; gone@example.net\nAction: failed\nStatus: 5.1.1\n--r\nContent-Type: text/rfc822-headers\n\nMessage-ID: <orig@agency.example>\nSubject: Guest post\n--r--\n"), true},
		{"unknown charset", mp(`text/plain; charset=x-unknown`, "still text\n"), true},
		{"unknown transfer encoding", head + "Content-Transfer-Encoding: x-uu\n\nbegin 644\n", true},
		{"broken base64", head + "Content-Transfer-Encoding: base64\n\nSGVsbG8gd29ybGQ=!!!*\n", true},
		{"quoted-printable with a bad escape", head + "Content-Transfer-Encoding: quoted-printable\n\nFine =E2=80=93 then =\rbroken\n", true},
		{"quoted-printable, literal equals", head + "Content-Transfer-Encoding: Quoted-Printable\n\n2+2 =4 and =ZZ=\n", true},
		{"quoted-printable line past 4 KB", head + "Content-Transfer-Encoding: quoted-printable\n\n" + strings.Repeat("long ", 1000) + "\nafter\n", true},
		{"quoted-printable in US-ASCII with 8-bit bytes", mp(`text/plain; charset="US-ASCII"`, "caf\xe9 =E9\n"), true},
		{"quoted-printable multipart, encoding ignored", head + "Content-Type: multipart/mixed; boundary=\"q\n" +
			"Content-Transfer-Encoding: quoted-printable\n\n=41 stays\n", true},
		{"8bit part in a multipart", mp(`multipart/mixed; boundary=q`, "--q\nContent-Transfer-Encoding: 8bit\n\nna\xc3\xafve\n--q--\n"), true},
	}
	for _, tt := range cases {
		if got := sameEitherWay(t, tt.name, []byte(tt.raw)); got != tt.inPlace {
			t.Errorf("%s: read in place = %v, want %v", tt.name, got, tt.inPlace)
		}
	}
}

// sameEitherWay parses raw both ways and reports whether it was read in
// place; a difference fails the test.
func sameEitherWay(t *testing.T, name string, raw []byte) bool {
	t.Helper()
	slow, err := parse(raw, false)
	if err != nil {
		t.Fatalf("%s: the streaming reader failed: %v", name, err)
	}
	fast, err := parse(raw, true)
	if err != nil {
		return false
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Errorf("%s: read in place\n%+v\nstreamed\n%+v", name, fast, slow)
	}
	if !reflect.DeepEqual(Parse(raw), slow) {
		t.Errorf("%s: Parse differs from the streaming reader", name)
	}
	return true
}
