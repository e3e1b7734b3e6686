package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/models"
)

// API keys look like "obk_<prefix>_<secret>": the 12-hex-digit prefix is
// public (listings, revocation), the 256-bit secret is shown once and only its
// SHA-256 is stored.
const keyScheme = "obk_"

// CreateUser adds a user.
func CreateUser(ctx context.Context, db *gorm.DB, email string) (models.User, error) {
	addr, err := models.NormalizeEmail(email)
	if err != nil {
		return models.User{}, fmt.Errorf("create user: %w", err)
	}
	u := models.User{ID: models.NewID(), Email: strings.ToLower(addr), CreatedAt: time.Now().UTC()}
	if err := db.WithContext(ctx).Create(&u).Error; err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return models.User{}, fmt.Errorf("create user %s: %w", u.Email, models.ErrUserExists)
		}
		return models.User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// UserByEmail finds a user.
func UserByEmail(ctx context.Context, db *gorm.DB, email string) (models.User, error) {
	var u models.User
	err := db.WithContext(ctx).Where("email = ?", strings.ToLower(strings.TrimSpace(email))).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return u, fmt.Errorf("user %s: %w", email, models.ErrUserNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("find user: %w", err)
	}
	return u, nil
}

// CreateKey issues a new API key for a user and returns the plaintext key,
// which is never stored.
func CreateKey(ctx context.Context, db *gorm.DB, userID string) (string, models.APIKey, error) {
	prefix := make([]byte, 6)
	secret := make([]byte, 32)
	if _, err := rand.Read(prefix); err != nil {
		return "", models.APIKey{}, fmt.Errorf("create key: %w", err)
	}
	if _, err := rand.Read(secret); err != nil {
		return "", models.APIKey{}, fmt.Errorf("create key: %w", err)
	}
	p := hex.EncodeToString(prefix)
	plain := keyScheme + p + "_" + base64.RawURLEncoding.EncodeToString(secret)
	k := models.APIKey{ID: models.NewID(), UserID: userID, Prefix: p, Hash: hashKey(plain), CreatedAt: time.Now().UTC()}
	if err := db.WithContext(ctx).Create(&k).Error; err != nil {
		return "", models.APIKey{}, fmt.Errorf("create key: %w", err)
	}
	return plain, k, nil
}

// RevokeKey revokes the key with the given prefix (with or without the
// "obk_" scheme in front).
func RevokeKey(ctx context.Context, db *gorm.DB, prefix string) error {
	p := strings.TrimPrefix(strings.TrimSpace(prefix), keyScheme)
	if i := strings.IndexByte(p, '_'); i >= 0 {
		p = p[:i]
	}
	res := db.WithContext(ctx).Model(&models.APIKey{}).
		Where("prefix = ? AND revoked_at IS NULL", p).
		Update("revoked_at", time.Now().UTC())
	if res.Error != nil {
		return fmt.Errorf("revoke key: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("revoke key %s: %w", p, models.ErrKeyNotFound)
	}
	return nil
}

// Authenticate returns the owner of a valid, unrevoked key.
func Authenticate(ctx context.Context, db *gorm.DB, plain string) (models.User, error) {
	if !strings.HasPrefix(plain, keyScheme) || len(plain) > 128 {
		return models.User{}, models.ErrKeyNotFound
	}
	var u models.User
	err := db.WithContext(ctx).Model(&models.User{}).
		Joins("JOIN api_keys k ON k.user_id = users.id").
		Where("k.hash = ? AND k.revoked_at IS NULL", hashKey(plain)).
		Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return models.User{}, models.ErrKeyNotFound
	}
	if err != nil {
		return models.User{}, fmt.Errorf("authenticate: %w", err)
	}
	return u, nil
}

func hashKey(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}
