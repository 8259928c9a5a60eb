// Package promwatch is CoucheStor's eyes: it asks Prometheus for the mean IOPS of every Mayastor
// volume over a policy's sampling window, in a fixed number of queries whatever the number of
// volumes, and says which volumes it cannot judge.
//
// # Queries
//
// Evaluate sends two instant queries, concurrently, at Request.At:
//
//   - the IOPS query, DefaultIOPSQuery unless overridden (Config.IOPSQuery from --iops-query, or
//     Request.IOPSQuery from the policy). It is a template in which the placeholder {{window}} is
//     replaced by the sampling window in PromQL syntax ("1h", "1h30m"); no other placeholder
//     exists. Its result must be an instant vector with exactly one sample per non-empty
//     pv_name label; anything else (a matrix, a sample without pv_name, two samples for one
//     pv_name) fails the evaluation with ErrInvalidResult rather than being guessed at.
//   - the coverage query, count_over_time((count by (pv_name) (P))[W:S]), where P is
//     Config.PresenceQuery (DefaultPresenceQuery: volume_num_read_ops{pv_name!=""}), W the
//     window and S = W/60 in whole seconds (at least 1s). It counts, per pv_name, the 60
//     evaluation points of the window at which Prometheus holds a sample of the volume. Its
//     cost does not depend on the window length.
//
// # Coverage rule: missing data is not zero
//
// A volume gets a number only if it is covered: coverage = points × S / W must be at least
// Config.MinCoverage (default 0.95, i.e. at least 57 of the 60 points). A volume is Unknown,
// with a reason, when
//
//   - no series has a sample in the window (NoSeries; a volume absent from the result is
//     reported so by Result.Get),
//   - it is covered less than MinCoverage (PartialHistory): a volume younger than the window,
//     an exporter or scrape outage, a volume unpublished for part of the window,
//   - it is covered but the IOPS query has no value for it (NoRate), or a NaN, infinite or
//     negative one (InvalidValue).
//
// Tolerance: a point counts as present when Prometheus's instant lookup finds a sample, i.e.
// within its lookback delta (5m by default) and before any staleness marker. A live Prometheus
// writes staleness markers when a scrape fails, so outages are seen at scrape resolution;
// without markers (backfilled data), a gap shorter than the lookback delta is invisible and a
// longer one counts as its length minus the lookback. Up to 5% of the window (3 points) may be
// missing: an IOPS figure may therefore be computed over as little as 95% of the window, and
// rate() still spans any gap within one series (the counter kept counting), so only ops made
// before a volume's first sample are lost.
//
// # Why rate per series, then sum by pv_name
//
// The exporter publishes volume_num_read_ops and volume_num_write_ops per nexus, labelled with
// the nexus node. When the nexus moves (republish on another node), the old series stops and a
// new one, with another node label and a counter starting again from zero, begins. rate() is
// taken per series before summing by pv_name: each half contributes the ops it counted, divided
// by the whole window, so the sum is the volume's mean over the window, without the negative
// jump (read as a reset, hence a spike) that summing counters first would produce, and without
// a hole, since the coverage query counts both series under one pv_name. rate() also treats a
// drop of the counter within one series (io-engine restart) as a reset. The metrics are typed
// gauge by the exporter; PromQL applies rate() to them regardless (Prometheus 3 may return an
// informational annotation, which is ignored).
//
// # Failures
//
// Every error from Evaluate is an *Error whose Kind is ErrUnreachable, ErrTimeout,
// ErrUnauthorized, ErrBadQuery, ErrResponseTooLarge, ErrInvalidResult, ErrInvalidQuery or
// ErrPrometheus (errors.Is works on each), with a one-line message and a CamelCase Reason() for
// the policy's MetricsAvailable condition. No partial result is returned with an error: a
// policy with no trustworthy answer must not move anything.
//
// Only the stable HTTP API v1 /api/v1/query endpoint is used (POST, falling back to GET), with
// the "timeout" parameter and, understood by Prometheus 3 and ignored by 2.x, "limit"; the
// queries use functions available since Prometheus 2.7, so 2.30+ and 3.x both work.
package promwatch
