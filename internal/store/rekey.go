package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"

	"github.com/backlinkoutreach/outreach/models"
)

// rekeyLeadsVersion is migration 00013 of both schemas, in Go: a lead's
// key (normalized_url) is the one models.NormalizeURL gives now, its host
// in IDNA's ASCII form and its path escaped afresh, so bücher.example and
// xn--bcher-kva.example, or /caf%c3%a9 and /caf%C3%A9, are one site. Keys
// that cannot change (the campaign already holds the new key: the same
// site stored twice before) stay as they were.
const rekeyLeadsVersion = 13

func rekeyLeadsMigration(pg bool) *goose.Migration {
	return goose.NewGoMigration(rekeyLeadsVersion,
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error { return rekeyLeads(ctx, tx, pg) }},
		// Down keeps the keys: the old code finds the same sites by them,
		// except the duplicates it used to miss.
		&goose.GoFunc{RunTx: func(context.Context, *sql.Tx) error { return nil }})
}

func rekeyLeads(ctx context.Context, tx *sql.Tx, pg bool) error {
	type change struct{ id, campaign, key string }
	var changes []change
	rows, err := tx.QueryContext(ctx, "SELECT id, campaign_id, website_url, normalized_url FROM leads")
	if err != nil {
		return fmt.Errorf("rekey leads: %w", err)
	}
	for rows.Next() {
		var id, campaign, site, key string
		if err := rows.Scan(&id, &campaign, &site, &key); err != nil {
			_ = rows.Close()
			return fmt.Errorf("rekey leads: %w", err)
		}
		if k, err := models.NormalizeURL(site); err == nil && k != key {
			changes = append(changes, change{id, campaign, k})
		}
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("rekey leads: %w", err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("rekey leads: %w", err)
	}
	update := rebind(pg, "UPDATE leads SET normalized_url = ? WHERE id = ? AND NOT EXISTS "+
		"(SELECT 1 FROM leads AS other WHERE other.campaign_id = ? AND other.normalized_url = ?)")
	for _, c := range changes {
		if _, err := tx.ExecContext(ctx, update, c.key, c.id, c.campaign, c.key); err != nil {
			return fmt.Errorf("rekey lead %s: %w", c.id, err)
		}
	}
	return nil
}
