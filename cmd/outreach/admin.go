package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/store"
	"github.com/backlinkoutreach/outreach/models"
)

// openDB opens the configured database. Only `migrate` (and the embedded
// SQLite default) apply migrations; other commands refuse a schema that is
// behind instead of changing a production database behind the operator's back.
func (e *env) openDB(ctx context.Context, migrate bool) (*gorm.DB, error) {
	db, err := store.Open(ctx, store.Options{
		URL: e.cfg.DatabaseURL, SQLitePath: e.cfg.SQLitePath(), Logger: e.log, Migrate: migrate,
	})
	if err != nil {
		return nil, err
	}
	if !migrate {
		if err := store.CheckMigrated(ctx, db); err != nil {
			store.Close(db)
			return nil, err
		}
	}
	return db, nil
}

// withDB runs fn on the configured database (openDB) and closes it after.
func (e *env) withDB(ctx context.Context, migrate bool, fn func(db *gorm.DB) error) error {
	db, err := e.openDB(ctx, migrate)
	if err != nil {
		return err
	}
	defer store.Close(db)
	return fn(db)
}

func migrateCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "apply pending schema migrations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withDB(cmd.Context(), true, func(*gorm.DB) error {
				e.note("schema is up to date")
				return nil
			})
		},
	}
}

func usersCmd(e *env) *cobra.Command {
	users := &cobra.Command{Use: "users", Short: "manage users"}
	var email string
	create := &cobra.Command{
		Use:   "create --email E",
		Short: "create a user and a first API key; prints only the key on standard output",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return e.withDB(ctx, false, func(db *gorm.DB) error {
				u, err := store.CreateUser(ctx, db, email)
				if err != nil {
					return err
				}
				return e.issueKey(ctx, db, u, func(models.APIKey) string {
					return fmt.Sprintf("created user %s (%s); the API key below is shown once", u.Email, u.ID)
				})
			})
		},
	}
	create.Flags().StringVar(&email, "email", "", "the user's e-mail address")
	_ = create.MarkFlagRequired("email")
	users.AddCommand(create)
	return users
}

func keysCmd(e *env) *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "manage API keys"}
	var email string
	create := &cobra.Command{
		Use:   "create --email E",
		Short: "issue another API key for a user; prints only the key on standard output",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return e.withDB(ctx, false, func(db *gorm.DB) error {
				u, err := store.UserByEmail(ctx, db, email)
				if err != nil {
					return err
				}
				return e.issueKey(ctx, db, u, func(k models.APIKey) string {
					return fmt.Sprintf("created key %s for %s; it is shown once", k.Prefix, u.Email)
				})
			})
		},
	}
	create.Flags().StringVar(&email, "email", "", "the user's e-mail address")
	_ = create.MarkFlagRequired("email")
	revoke := &cobra.Command{
		Use:   "revoke KEY_PREFIX",
		Short: "revoke a key by its prefix (the 12 hex digits after obk_)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withDB(cmd.Context(), false, func(db *gorm.DB) error {
				if err := store.RevokeKey(cmd.Context(), db, args[0]); err != nil {
					return err
				}
				e.note("revoked key %s", args[0])
				return nil
			})
		},
	}
	keys.AddCommand(create, revoke)
	return keys
}

// issueKey creates an API key for u, tells the operator on standard error
// what was done (note), and prints only the key on standard output, so
// `key=$(outreach keys create ...)` captures it alone.
func (e *env) issueKey(ctx context.Context, db *gorm.DB, u models.User, note func(models.APIKey) string) error {
	key, k, err := store.CreateKey(ctx, db, u.ID)
	if err != nil {
		return err
	}
	e.note("%s", note(k))
	return e.printKey(key)
}

// note tells the operator what a command did, on standard error. A failed
// write there has nowhere better to be reported.
func (e *env) note(format string, args ...any) {
	_, _ = fmt.Fprintf(e.stderr, format+"\n", args...)
}

// printKey writes a new API key, alone, on standard output. The key is
// stored only hashed, so a write that fails must fail the command: the
// operator would otherwise believe a key was handed over.
func (e *env) printKey(key string) error {
	if _, err := fmt.Fprintln(e.stdout, key); err != nil {
		return fmt.Errorf("print the API key (it was created; revoke it and issue another): %w", err)
	}
	return nil
}
