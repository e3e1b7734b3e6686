package store_test

import (
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/backlinkoutreach/outreach/internal/storetest"
	"github.com/backlinkoutreach/outreach/models"
)

func TestSchemaRoundTrip(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *gorm.DB) {
		u := models.User{ID: "u1", Email: "a@example.com", CreatedAt: time.Now().UTC()}
		if err := db.Create(&u).Error; err != nil {
			t.Fatal(err)
		}
		cap5 := 5
		c := models.Campaign{
			ID: "c1", UserID: "u1", Name: "SaaS Growth Blogs Q3", Keywords: []string{"SaaS", "B2B"},
			Settings: models.CampaignSettings{Timezone: "Europe/Berlin", DailyCap: &cap5}, State: models.CampaignDraft,
		}
		if err := db.Create(&c).Error; err != nil {
			t.Fatal(err)
		}
		var got models.Campaign
		if err := db.First(&got, "id = ?", "c1").Error; err != nil {
			t.Fatal(err)
		}
		if len(got.Keywords) != 2 || got.Keywords[1] != "B2B" || got.Settings.Timezone != "Europe/Berlin" ||
			got.Settings.DailyCap == nil || *got.Settings.DailyCap != 5 {
			t.Fatalf("json columns did not round-trip: %+v", got)
		}
		now := time.Now().UTC()
		lead := models.Lead{
			ID: "l1", CampaignID: "c1", UserID: "u1", WebsiteURL: "https://x.com", NormalizedURL: "x.com",
			Source: models.SourceManual, Status: models.StatusDiscovered, StatusChangedAt: now,
		}
		if err := db.Create(&lead).Error; err != nil {
			t.Fatal(err)
		}
		dup := lead
		dup.ID = "l2"
		if err := db.Create(&dup).Error; !errors.Is(err, gorm.ErrDuplicatedKey) {
			t.Fatalf("duplicate normalised URL: want ErrDuplicatedKey, got %v", err)
		}
		// Deleting the campaign removes its leads (foreign key cascade).
		if err := db.Delete(&models.Campaign{}, "id = ?", "c1").Error; err != nil {
			t.Fatal(err)
		}
		var n int64
		db.Model(&models.Lead{}).Count(&n)
		if n != 0 {
			t.Fatalf("leads left after campaign delete: %d", n)
		}
	})
}
