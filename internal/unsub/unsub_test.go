package unsub

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestRoundTripAndTampering(t *testing.T) {
	t.Parallel()
	s, err := New([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	c := Claims{UserID: "u1", CampaignID: "c1", LeadID: "l1", Email: "editor@example.com"}
	tok := s.Token(c)
	if strings.Contains(tok, "editor") {
		t.Fatalf("token leaks the address: %s", tok)
	}
	got, err := s.Open(tok)
	if err != nil || got != c {
		t.Fatalf("Open = %+v, %v", got, err)
	}
	// Every single-character change is refused.
	for i := 0; i < len(tok); i++ {
		b := []byte(tok)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		if _, err := s.Open(string(b)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("altered token at %d accepted", i)
		}
	}
	other, _ := New([]byte(strings.Repeat("x", 32)))
	if _, err := other.Open(tok); !errors.Is(err, ErrInvalid) {
		t.Fatal("token from another secret accepted")
	}
	for _, bad := range []string{"", "abc", "!!!", strings.Repeat("A", 200)} {
		if _, err := s.Open(bad); !errors.Is(err, ErrInvalid) {
			t.Fatalf("forged token %q accepted", bad)
		}
	}
}

func TestLoadSecretPersists(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, err := LoadSecret("", dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadSecret("", dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) < 32 || !bytes.Equal(a, b) {
		t.Fatalf("secret not kept: %q vs %q", a, b)
	}
	c, _ := LoadSecret(strings.Repeat("z", 40), dir)
	if string(c) != strings.Repeat("z", 40) {
		t.Fatal("configured secret not preferred")
	}
}
