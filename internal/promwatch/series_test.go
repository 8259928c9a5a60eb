package promwatch

import (
	storagev1 "github.com/billyronks/couchestor/api/v1"

	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/billyronks/couchestor/internal/testprom"
)

func TestInstantReturnsEverySampleWithItsLabels(t *testing.T) {
	needPrometheus(t)
	w := newTestWatcher(t, testConfig(shared.URL))
	got, err := w.Instant(context.Background(), "presence", `volume_num_read_ops{pv_name="`+PVName(uuidHot)+`"}`, fixtureEnd)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Labels["pv_name"] != PVName(uuidHot) || got[0].Labels["node"] != "node-a" ||
		got[0].Labels["__name__"] != "volume_num_read_ops" || got[0].Value <= 0 {
		t.Errorf("got %+v, want the hot volume's one read counter with its labels", got)
	}
	got, err = w.Instant(context.Background(), "count", `count(volume_num_read_ops{pv_name!=""})`, fixtureEnd)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Labels) != 0 || got[0].Value < float64(len(fixtureVolumes(fixtureEnd))) {
		t.Errorf("count gave %+v, want one unlabelled sample of at least %d", got, len(fixtureVolumes(fixtureEnd)))
	}
	if got, err := w.Instant(context.Background(), "absent", `volume_num_read_ops{pv_name="nope"}`, fixtureEnd); err != nil || len(got) != 0 {
		t.Errorf("a query matching nothing gave %+v, %v; want no sample and no error", got, err)
	}
	_, err = w.Instant(context.Background(), "scalar", `scalar(vector(1))`, fixtureEnd)
	assertKind(t, err, ErrInvalidResult, storagev1.ReasonInvalidQueryResult)
}

func TestInstantOnAStoppedServerIsUnreachable(t *testing.T) {
	needPrometheus(t)
	dir := t.TempDir()
	srv, err := testprom.Start(promBin, dir, filepath.Join(dir, "data"), "")
	if err != nil {
		t.Fatal(err)
	}
	w := newTestWatcher(t, testConfig(srv.URL))
	if _, err := w.Instant(context.Background(), "up", `vector(1)`, time.Time{}); err != nil {
		t.Fatalf("while the server runs: %v", err)
	}
	srv.Stop()
	_, err = w.Instant(context.Background(), "up", `vector(1)`, time.Time{})
	assertKind(t, err, ErrUnreachable, storagev1.ReasonPrometheusUnreachable)
}
