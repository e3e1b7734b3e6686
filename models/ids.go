package models

import (
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// NewID returns a new UUIDv7: unique, and ordered by creation time, so
// keyset pagination by id follows insertion order.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// ValidID reports whether s looks like an id this service issued; anything
// else cannot name a row and is answered as not found.
func ValidID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

// StorableText reports whether PostgreSQL text can hold s (and compare
// it): valid UTF-8 without NUL. Mail headers and URLs carry any bytes.
func StorableText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}
