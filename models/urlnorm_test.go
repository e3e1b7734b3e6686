package models

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeURL(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"https://example.com", "example.com"},
		{"HTTPS://WWW.Example.COM/", "example.com"},
		{"http://example.com:80/blog/", "example.com/blog"},
		{"https://example.com:443/blog#top", "example.com/blog"},
		{"https://example.com:8443/blog", "example.com:8443/blog"},
		{"https://example.com/post?utm_source=x&utm_medium=y&id=3", "example.com/post?id=3"},
		{"https://example.com/post?b=2&a=1&fbclid=zz&gclid=q", "example.com/post?a=1&b=2"},
		{"  https://example.com/Path/  ", "example.com/Path"},
		{"https://example.com.", "example.com"},
		// One site however its internationalised name is written.
		{"https://bücher.example/", "xn--bcher-kva.example"},
		{"https://BU\u0308CHER.example", "xn--bcher-kva.example"},
		{"https://xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"https://ｗｗｗ.ｅｘａｍｐｌｅ.com/blog", "example.com/blog"},
		{"https://my_site.example/a", "my_site.example/a"},
		// One path however it is percent-encoded.
		{"https://example.com/caf%c3%a9", "example.com/caf%C3%A9"},
		{"https://example.com/café", "example.com/caf%C3%A9"},
		{"https://example.com/%7Eeditor", "example.com/~editor"},
	}
	for _, c := range cases {
		got, err := NormalizeURL(c.in)
		if err != nil {
			t.Errorf("NormalizeURL(%q): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("NormalizeURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestNormalizeURLRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"", "javascript:alert(1)", "ftp://example.com", "https://", "https:///path",
		"example.com", "//example.com", "mailto:a@b.com", "https://exa mple.com", "data:text/html,hi",
		"https://example.com:99999/",
		// Within 2048 characters, but 5,400 once percent-encoded.
		"https://example.com/" + strings.Repeat("漢", 600),
	} {
		if _, err := NormalizeURL(in); !errors.Is(err, ErrInvalidURL) {
			t.Errorf("NormalizeURL(%q): want ErrInvalidURL, got %v", in, err)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"editor@example.com":         "editor@example.com",
		" Editor@Example.COM ":       "Editor@example.com",
		"first.last+tag@sub.blog.io": "first.last+tag@sub.blog.io",
	}
	for in, want := range good {
		got, err := NormalizeEmail(in)
		if err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "nope", "a@b", "@example.com", "a@.com", "Bob <bob@example.com>", "a@exa_mple.com", "a@@example.com", "a@example..com"} {
		if _, err := NormalizeEmail(in); !errors.Is(err, ErrInvalidEmail) {
			t.Errorf("NormalizeEmail(%q): want ErrInvalidEmail, got %v", in, err)
		}
	}
}

func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{
		"https://example.com", "HTTP://WWW.EXAMPLE.COM:80/a/?utm_x=1#f", "javascript:x",
		"https://[::1]:8080/p?q=1&q=0", "https://ex%41mple.com/%2F", "http://a.b/c?d=e&utm_source=z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, err := NormalizeURL(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidURL) {
				t.Fatalf("error not wrapping ErrInvalidURL: %v", err)
			}
			return
		}
		// Normalising twice must not change the key, once given a scheme.
		again, err := NormalizeURL("https://" + n)
		if err != nil {
			t.Fatalf("re-normalising %q (from %q): %v", n, in, err)
		}
		if again != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, n, again)
		}
	})
}
