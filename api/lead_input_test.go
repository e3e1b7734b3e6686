package api

import (
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/backlinkoutreach/outreach/models"
)

// FuzzValidateLead checks the one lead validation used by single add, bulk
// add and CSV import: it never panics, and whatever it accepts is
// storable and consistent (normalised URL derived from the stored URL, a
// valid normalised address, finite scores in range, bounded text).
func FuzzValidateLead(f *testing.F) {
	seeds := []struct {
		url, title, email, name, source string
		q                               float64
	}{
		{"https://example.com", "Example Marketing Blog", "editor@example.com", "Ed", "manual", 0.85},
		{"http://WWW.Example.com:80/Blog/?utm_source=x&b=2&a=1#frag", "", "", "", "", 0},
		{"javascript:alert(1)", "", "", "", "", 1},
		{"https://", "t", "a@b", "", "bulk", -0.1},
		{"http:///path", "", "x@y.z", "", "csv", 1.1},
		{"https://xn--bcher-kva.example/ü", "Bücher", "Ünï@example.com", "Zoë", "discovery", math.NaN()},
		{"https://192.168.0.1:8080/a", strings.Repeat("t", 501), "\x00@example.com", "a\x00b", "api", math.Inf(1)},
		{" https://example.com/ ", "  spaced  ", " editor@EXAMPLE.com ", "  ", "scraper", 0.5},
	}
	for _, s := range seeds {
		f.Add(s.url, s.title, s.email, s.name, s.source, s.q)
	}
	f.Fuzz(func(t *testing.T, rawURL, title, email, name, source string, q float64) {
		in := LeadInput{WebsiteURL: rawURL, WebsiteTitle: title, ContactEmail: email, ContactName: name, Source: source, QualityScore: &q}
		l, err := ValidateLead(in, models.SourceBulk)
		if err != nil {
			var ve *models.ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) == 0 {
				t.Fatalf("error is not a validation error naming a field: %v", err)
			}
			for _, fe := range ve.Fields {
				if fe.Field == "" || fe.Reason == "" {
					t.Fatalf("detail without field or reason: %+v", fe)
				}
			}
			return
		}
		norm, nerr := models.NormalizeURL(l.WebsiteURL)
		if nerr != nil || norm != l.NormalizedURL || l.NormalizedURL == "" {
			t.Fatalf("accepted URL %q normalises to %q (%v), stored key %q", l.WebsiteURL, norm, nerr, l.NormalizedURL)
		}
		if l.ContactEmail != "" {
			if again, err := models.NormalizeEmail(l.ContactEmail); err != nil || again != l.ContactEmail {
				t.Fatalf("stored address %q is not normalised (%q, %v)", l.ContactEmail, again, err)
			}
		}
		if l.QualityScore == nil || math.IsNaN(*l.QualityScore) || *l.QualityScore < 0 || *l.QualityScore > 1 {
			t.Fatalf("accepted score %v", q)
		}
		for _, s := range []string{l.WebsiteURL, l.WebsiteTitle, l.ContactEmail, l.ContactName} {
			if strings.ContainsRune(s, 0) || !utf8.ValidString(s) {
				t.Fatalf("accepted text PostgreSQL cannot store: %q", s)
			}
		}
		if utf8.RuneCountInString(l.WebsiteTitle) > maxWebsiteTitle || utf8.RuneCountInString(l.ContactName) > maxContactName {
			t.Fatal("accepted over-long text")
		}
		if !l.Source.Valid() || l.Status != models.StatusDiscovered {
			t.Fatalf("source %q status %q", l.Source, l.Status)
		}
	})
}
