package models

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRender(t *testing.T) {
	t.Parallel()
	vals := map[string]string{"name": "Ada", "website_title": "Ada's Blog", "topic": "", "your_name": "Sam"}
	cases := []struct {
		in, want          string
		unknown, unfilled []string
	}{
		{"Hi {name}", "Hi Ada", nil, nil},
		{"About {topic}.", "About .", nil, []string{"topic"}},
		{"{bogus} and {name}", "{bogus} and Ada", []string{"bogus"}, nil},
		{"{{name}} is literal", "{name} is literal", nil, nil},
		// Another case or spaces: not filled, and reported (it would go
		// out as written).
		{"{ name } {Name} {} { }", "{ name } {Name} {} { }", []string{" name ", "Name"}, nil},
		{"{{Name}} is literal", "{Name} is literal", nil, nil},
		{"'; DROP TABLE leads; -- {name}", "'; DROP TABLE leads; -- Ada", nil, nil},
		{"{website_title}{your_name}{zzz}{topic}", "Ada's BlogSam{zzz}", []string{"zzz"}, []string{"topic"}},
		{"unclosed {name", "unclosed {name", nil, nil},
	}
	for _, c := range cases {
		got := Render(c.in, vals)
		if got.Text != c.want || !reflect.DeepEqual(got.Unknown, c.unknown) || !reflect.DeepEqual(got.Unfilled, c.unfilled) {
			t.Errorf("Render(%q) = %+v, want %q unknown=%v unfilled=%v", c.in, got, c.want, c.unknown, c.unfilled)
		}
	}
}

func TestPlaceholderValues(t *testing.T) {
	t.Parallel()
	c := Campaign{Keywords: []string{"SaaS", "B2B"}, Settings: CampaignSettings{Sender: SenderInfo{Name: "Sam", Site: "sam.io"}}}
	l := Lead{ContactName: "Ada", WebsiteURL: "https://ada.dev", WebsiteTitle: "Ada Dev"}
	v := PlaceholderValues(c, l)
	if v["topic"] != "SaaS" || v["keyword"] != "SaaS" || v["keywords"] != "SaaS, B2B" || v["your_site"] != "sam.io" {
		t.Fatalf("values: %v", v)
	}
	for _, k := range KnownPlaceholders {
		if _, ok := v[k]; !ok {
			t.Errorf("placeholder %q has no value entry", k)
		}
	}
}

func FuzzRender(f *testing.F) {
	for _, s := range []string{"Hi {name}", "{{x}}", "{", "}", "{a}{b}{{c}}}", "{website_title} {unknown_1}", "\xff{name}"} {
		f.Add(s)
	}
	vals := map[string]string{"name": "Ada", "website_title": "T", "topic": ""}
	f.Fuzz(func(t *testing.T, in string) {
		r := Render(in, vals)
		// Rendering never invents text: without placeholders or escaped
		// braces the output equals the input.
		if !strings.ContainsAny(in, "{}") && r.Text != in {
			t.Fatalf("changed text without braces: %q -> %q", in, r.Text)
		}
		if utf8.ValidString(in) && !utf8.ValidString(r.Text) {
			t.Fatalf("valid UTF-8 in, invalid out: %q -> %q", in, r.Text)
		}
		for _, u := range r.Unknown {
			if _, ok := vals[u]; ok {
				t.Fatalf("known name %q reported unknown", u)
			}
			if !strings.Contains(r.Text, "{"+u+"}") {
				t.Fatalf("unknown placeholder %q not kept in %q", u, r.Text)
			}
		}
		for _, u := range r.Unfilled {
			if vals[u] != "" {
				t.Fatalf("filled name %q reported unfilled", u)
			}
		}
	})
}
