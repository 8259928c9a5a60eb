package operator

import (
	"strings"
	"testing"
	"time"
)

// --finished-migration-ttl and --finished-migrations-per-volume.
func TestFinishedMigrationRetentionFlags(t *testing.T) {
	cfg, err := Parse("couchestor", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.FinishedMigrationTTL != 168*time.Hour || cfg.FinishedMigrationsPerVolume != 3 {
		t.Fatalf("defaults: --finished-migration-ttl %v (want 168h), --finished-migrations-per-volume %d (want 3)",
			cfg.FinishedMigrationTTL, cfg.FinishedMigrationsPerVolume)
	}
	cfg, err = Parse("couchestor", []string{"--finished-migration-ttl=36h", "--finished-migrations-per-volume=0"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.FinishedMigrationTTL != 36*time.Hour || cfg.FinishedMigrationsPerVolume != 0 {
		t.Fatalf("flags not applied: %v %d", cfg.FinishedMigrationTTL, cfg.FinishedMigrationsPerVolume)
	}
	for arg, want := range map[string]string{
		"--finished-migration-ttl=0s":          "--finished-migration-ttl: must be a positive duration such as 168h, got 0s",
		"--finished-migration-ttl=-1h":         "--finished-migration-ttl: must be a positive duration",
		"--finished-migration-ttl=7d":          "-finished-migration-ttl",
		"--finished-migrations-per-volume=-1":  "--finished-migrations-per-volume: must be 0 or more, got -1",
		"--finished-migrations-per-volume=all": "-finished-migrations-per-volume",
	} {
		_, err := Parse("couchestor", []string{arg})
		if err == nil {
			t.Errorf("%s: accepted", arg)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: want one line containing %q, got %q", arg, want, msg)
		}
	}
}
