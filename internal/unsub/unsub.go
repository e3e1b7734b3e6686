// Package unsub makes and checks the per-recipient unsubscribe tokens carried
// in every message's List-Unsubscribe link. A token is the recipient's
// identity sealed with AES-256-GCM under a key derived from
// UNSUBSCRIBE_SECRET: the address is not readable in the URL (or in access
// logs), and a forged or altered token fails authentication.
package unsub

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Claims identify who unsubscribes from what.
type Claims struct {
	UserID     string `json:"u"`
	CampaignID string `json:"c"`
	LeadID     string `json:"l"`
	Email      string `json:"e"`
}

// ErrInvalid means the token was not made with this secret, or was altered.
var ErrInvalid = errors.New("invalid unsubscribe token")

// Signer seals and opens tokens.
type Signer struct {
	aead cipher.AEAD
}

// New derives the token key from secret (at least 32 bytes).
func New(secret []byte) (*Signer, error) {
	if len(secret) < 32 {
		return nil, errors.New("unsubscribe secret must be at least 32 bytes")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("backlink-outreach unsubscribe v1"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, fmt.Errorf("unsubscribe key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("unsubscribe key: %w", err)
	}
	return &Signer{aead: aead}, nil
}

// Token seals claims into a URL-safe token.
func (s *Signer) Token(c Claims) string {
	plain, _ := json.Marshal(c) //nolint:errchkjson // a struct of strings always encodes
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	sealed := s.aead.Seal(nonce, nonce, plain, nil)
	return base64.RawURLEncoding.EncodeToString(sealed)
}

// Open checks a token and returns its claims, or ErrInvalid.
func (s *Signer) Open(token string) (Claims, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(token))
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return Claims{}, ErrInvalid
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], nil)
	if err != nil {
		return Claims{}, ErrInvalid
	}
	var c Claims
	if err := json.Unmarshal(plain, &c); err != nil || c.UserID == "" || c.Email == "" {
		return Claims{}, ErrInvalid
	}
	return c, nil
}

// LoadSecret returns the configured secret, or, when it is empty, the one
// kept in dataDir/unsubscribe.secret, creating it on first use. Several API
// replicas must share UNSUBSCRIBE_SECRET instead.
func LoadSecret(configured, dataDir string) ([]byte, error) {
	if configured != "" {
		return []byte(configured), nil
	}
	path := filepath.Join(dataDir, "unsubscribe.secret")
	if b, err := os.ReadFile(path); err == nil { //nolint:gosec // path from our own config
		secret := strings.TrimSpace(string(b))
		if len(secret) >= 32 {
			return []byte(secret), nil
		}
		return nil, fmt.Errorf("%s holds a secret shorter than 32 characters", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read unsubscribe secret: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("generate unsubscribe secret: %w", err)
	}
	secret := hex.EncodeToString(b)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) //nolint:gosec // path from our own config
	if errors.Is(err, os.ErrExist) {
		// Another process created it first: use theirs.
		return LoadSecret("", dataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("write unsubscribe secret: %w", err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write unsubscribe secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write unsubscribe secret: %w", err)
	}
	return []byte(secret), nil
}
