package mover

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/billyronks/couchestor/internal/mayastor"
)

// Placeholder replicas: small thin replicas that belong to no volume, created
// on a pool through PUT /v0/pools/{pool}/replicas/{id}. The core agent
// appends their spec to its global replica map like any replica
// (core/pool/specs.rs:323-333 via core/pool/replica_operations.rs:44-48), so
// one created after a round's new replica is the map's last entry, and the
// swap_remove of the source the round removes moves it — not the new replica
// — into the freed slot (forecast.go). No reconciler reclaims them (managed
// false: control-plane/rest/src/versions/v0.rs:119-137; the orphan collector
// destroys only managed replicas, core/controller/reconciler/replica/
// mod.rs:143-158; the ENOSPC reconciler skips unmanaged replicas outside a
// volume, core/controller/reconciler/pool/capacity.rs:86-90), so the Mover
// deletes every one it records when its migration ends, and the sweeper
// deletes strays of migrations that ended without it.

// PlaceholderSize is the size of a placeholder replica: thin, so it commits
// no space until written (it never is). 4 MiB is io-engine's default lvol
// cluster size; the smallest size io-engine accepts was not read upstream.
const PlaceholderSize = 4 << 20

// placeholderMark is the first group of every placeholder uuid, so that
// placeholders of any migration, deleted or not, can be recognised.
const placeholderMark = "c0c4e570"

// PlaceholderID is the uuid of a migration's seq-th placeholder (0 first):
// derived from both, so a restarted operator finds what it created, and
// marked as CoucheStor's (first group c0c4e570, RFC 9562 version 8 "custom").
func PlaceholderID(migrationID string, seq int) string {
	h := sha256.Sum256(fmt.Appendf(nil, "couchestor-placeholder/%s/%d", migrationID, seq))
	b := h[:16]
	copy(b[:4], []byte{0xc0, 0xc4, 0xe5, 0x70})
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// IsPlaceholderID reports whether id has the shape of a CoucheStor placeholder uuid.
func IsPlaceholderID(id string) bool {
	id = strings.ToLower(id)
	return len(id) == 36 && strings.HasPrefix(id, placeholderMark+"-") && id[14] == '8'
}

// freshReplicas is the process-wide registry of replicas that moves in
// flight need to keep where they are in the replica map: every replica a
// move added, from its increase until the move removed its last source. A
// round's decrease moves the placeholder behind its new replica into the
// source's slot, so the moved replica stays the map's last entry until the
// next round appends behind it. Before any removal a Mover makes (a
// decrease, a placeholder delete), the map's last entry must not be another
// move's fresh replica, or the swap_remove would pull it ahead of that
// move's remaining sources.
//
// Every removal anywhere in the map also takes one entry from behind each of
// them (GuardDepth): a Mover's own removals (a decrease, a placeholder
// delete) never leave another move that needs a guard with fewer than its
// GuardDepth entries behind its last fresh replica (othersDepth); a move
// that must wait to delete placeholders says how many (reclaim), and the
// others keep that many more behind theirs until it has.
type freshReplicas struct {
	mu        sync.Mutex
	owner     map[string]string // replica uuid -> migration id
	unguarded map[string]bool   // migration id -> its replicas need no guard now (keepGuard)
	reclaim   map[string]int    // migration id -> placeholders it waits to delete
}

// setGuarded records whether migrationID's replicas need a guard.
func (f *freshReplicas) setGuarded(migrationID string, need bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unguarded == nil {
		f.unguarded = map[string]bool{}
	}
	f.unguarded[migrationID] = !need
}

// othersDepth is the fewest map entries behind the last fresh replica of a
// migration other than migrationID that needs a guard, in the replica map
// specs; -1 when there is none.
func (f *freshReplicas) othersDepth(migrationID string, specs []mayastor.ReplicaSpec) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	at := -1
	for i, r := range specs {
		if m, ok := f.owner[r.UUID]; ok && m != migrationID && !f.unguarded[m] {
			at = i
		}
	}
	if at < 0 {
		return -1
	}
	return len(specs) - 1 - at
}

// wantReclaim records that migrationID waits to delete n placeholders (0: none).
func (f *freshReplicas) wantReclaim(migrationID string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reclaim == nil {
		f.reclaim = map[string]int{}
	}
	if n <= 0 {
		delete(f.reclaim, migrationID)
		return
	}
	f.reclaim[migrationID] = n
}

// reclaimOfOthers is how many placeholders migrations other than migrationID wait to delete.
func (f *freshReplicas) reclaimOfOthers(migrationID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for m, k := range f.reclaim {
		if m != migrationID {
			n += k
		}
	}
	return n
}

// removalWaits says why removing replicaID from the replica map specs now,
// for migrationID ("" or another remover's name: none of the moves), must
// wait, "" when it need not: the map's last entry is another migration's
// fresh replica and replicaID is not that entry (the swap_remove would pull
// it forward), or another migration's fresh replica that needs a guard has
// no more than depth entries behind it (every removal takes one from behind
// it; forDepth). A replica not in the map moves nothing.
func (f *freshReplicas) removalWaits(migrationID string, specs []mayastor.ReplicaSpec, replicaID string, depth int) (why string, forDepth bool) {
	if !slices.ContainsFunc(specs, func(r mayastor.ReplicaSpec) bool { return r.UUID == replicaID }) {
		return "", false
	}
	if tail := specs[len(specs)-1].UUID; tail != replicaID && f.protectedFromOthers(migrationID, tail) {
		return fmt.Sprintf("removing it now would move replica %s of another migration forward in the replica map", tail), false
	}
	if others := f.othersDepth(migrationID, specs); others >= 0 && others <= depth {
		return fmt.Sprintf("removing it now would leave another migration's new replica with fewer than %d replica map entries behind it", depth), true
	}
	return "", false
}

// protect adds replicaID to the replicas migrationID keeps in place.
func (f *freshReplicas) protect(migrationID, replicaID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.owner == nil {
		f.owner = map[string]string{}
	}
	f.owner[replicaID] = migrationID
}

// release forgets the replicas migrationID keeps in place.
func (f *freshReplicas) release(migrationID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, m := range f.owner {
		if m == migrationID {
			delete(f.owner, id)
		}
	}
	delete(f.unguarded, migrationID)
	delete(f.reclaim, migrationID) // asked again by the next delete that has to wait
}

// protectedFromOthers: replicaID is a fresh replica of a migration other than migrationID.
func (f *freshReplicas) protectedFromOthers(migrationID, replicaID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.owner[replicaID]
	return ok && m != migrationID
}

// choosePlaceholderPool picks the pool for a placeholder: online, on an
// online uncordoned node (the core agent refuses creation on a cordoned node,
// core/pool/replica_operations.rs:36-41) with room for it, and not one the
// next increase could choose for the volume: a source replica's pool first
// (its node holds a replica of the volume, which excludes it from placement,
// and one more replica there only lowers its score later), then any pool off
// the target tier (a higher replica count only makes it lose against the
// target), then any other pool, each by pool id.
func (m *Mover) choosePlaceholderPool(plan Plan, cl *cluster) (*mayastor.Pool, error) {
	t, err := m.tiersOf(plan)
	if err != nil {
		return nil, err
	}
	fits := func(p *mayastor.Pool) bool {
		if p == nil || p.State == nil || p.State.Status != mayastor.PoolStatusOnline {
			return false
		}
		if !nodeUsable(cl.nodes[poolNode(p)]) {
			return false
		}
		return p.State.Capacity > p.State.Used && p.State.Capacity-p.State.Used > PlaceholderSize
	}
	for _, s := range plan.SourceReplicas {
		if p := cl.pools[s.Pool]; fits(p) {
			return p, nil
		}
	}
	for _, id := range cl.order {
		if p := cl.pools[id]; fits(p) && !m.onTarget(t, p) {
			return p, nil
		}
	}
	for _, id := range cl.order {
		if p := cl.pools[id]; fits(p) {
			return p, nil
		}
	}
	return nil, refuse(plan.VolumeID, ReasonPlaceholderFailed, "no online pool on an online, uncordoned node has room for a %d MiB placeholder replica", PlaceholderSize>>20)
}

// addPlaceholder records the migration's next placeholder, then creates it
// (at the end of the core agent's replica map) on choosePlaceholderPool's
// pool. A create whose answer was lost stays recorded: it is deleted when
// the migration ends either way.
func (m *Mover) addPlaceholder(ctx context.Context, plan Plan, j Journal) (Plan, error) {
	cl, err := m.loadCluster(ctx)
	if err != nil {
		return plan, fmt.Errorf("add placeholder for volume %s: %w", plan.VolumeID, err)
	}
	pool, err := m.choosePlaceholderPool(plan, cl)
	if err != nil {
		return plan, err
	}
	plan, _, err = m.addPlaceholderOn(ctx, plan, j, pool)
	return plan, err
}

// addPlaceholderOn records the migration's next placeholder on pool, then
// creates it, and returns its id.
func (m *Mover) addPlaceholderOn(ctx context.Context, plan Plan, j Journal, pool *mayastor.Pool) (Plan, string, error) {
	if len(plan.Placeholders) >= maxPlaceholders {
		return plan, "", refuse(plan.VolumeID, ReasonPlaceholderFailed, "the migration already holds %d placeholder replicas", len(plan.Placeholders))
	}
	id := PlaceholderID(plan.MigrationID, plan.PlaceholdersCreated)
	plan.PlaceholdersCreated++
	plan.Placeholders = append(plan.Placeholders, ReplicaRef{ID: id, Node: poolNode(pool), Pool: pool.ID})
	if err := record(ctx, j, plan); err != nil {
		return plan, id, err
	}
	_, err := m.c.CreatePoolReplica(ctx, pool.ID, id, mayastor.CreateReplicaBody{Size: PlaceholderSize, Thin: true})
	if err != nil && !mayastor.IsKind(err, mayastor.ErrorKindAlreadyExists) {
		if mayastor.IsKind(err, mayastor.ErrorKindFailedPrecondition) || mayastor.IsKind(err, mayastor.ErrorKindResourceExhausted) {
			return plan, id, refuse(plan.VolumeID, ReasonPlaceholderFailed, "creating placeholder replica %s on pool %s was refused: %v", id, pool.ID, err)
		}
		return plan, id, fmt.Errorf("add placeholder for volume %s on pool %s: %w", plan.VolumeID, pool.ID, err)
	}
	return plan, id, nil
}

// maxPlaceholders bounds the placeholders one migration holds at once
// (status.checkpoint.placeholders' MaxItems).
const maxPlaceholders = 64

// deletePlaceholders deletes the placeholders plan records, the one last in
// the replica map first (removing the map's last entry moves nothing), and
// returns the plan without those whose removal is certain. A placeholder
// whose removal would pull another move's fresh replica forward waits until
// that move's round is over. Call it with the gate held.
func (m *Mover) deletePlaceholders(ctx context.Context, plan Plan) (Plan, error) {
	return m.deletePlaceholdersOf(ctx, plan, nil)
}

// deletePlaceholdersOf is deletePlaceholders for the placeholders whose ids
// are in only (nil: all of them).
func (m *Mover) deletePlaceholdersOf(ctx context.Context, plan Plan, only []string) (Plan, error) {
	plan = *plan.DeepCopy()
	chosen := func(r ReplicaRef) bool { return only == nil || slices.Contains(only, r.ID) }
	for slices.ContainsFunc(plan.Placeholders, chosen) {
		specs, err := m.c.GetReplicaSpecs(ctx)
		if err != nil {
			return plan, fmt.Errorf("delete placeholders of volume %s: read the replica map order: %w", plan.VolumeID, err)
		}
		order := mayastor.OrderOf(specs, plan.VolumeID)
		pos := func(r ReplicaRef) int {
			if i, ok := order.Unowned[r.ID]; ok {
				return i
			}
			return -1 // not in the map: its create never landed, or it is gone
		}
		left := slices.DeleteFunc(slices.Clone(plan.Placeholders), func(r ReplicaRef) bool { return !chosen(r) })
		next := slices.MaxFunc(left, func(a, b ReplicaRef) int { return pos(a) - pos(b) })
		if why, forDepth := m.opts.CordonGate.fresh.removalWaits(plan.MigrationID, specs.Replicas, next.ID, m.opts.GuardDepth); why != "" {
			if forDepth {
				// Asked a few at a time: the others keep that many more behind their fresh replicas.
				m.opts.CordonGate.fresh.wantReclaim(plan.MigrationID, min(len(left), m.opts.GuardDepth))
			}
			return plan, fmt.Errorf("placeholder %s of volume %s waits: %s", next.ID, plan.VolumeID, why)
		}
		if err := m.c.DeletePoolReplica(ctx, next.Pool, next.ID); err != nil && !mayastor.IsNotFound(err) {
			return plan, fmt.Errorf("delete placeholder %s of volume %s on pool %s: %w", next.ID, plan.VolumeID, next.Pool, err)
		}
		plan.Placeholders = slices.DeleteFunc(plan.Placeholders, func(r ReplicaRef) bool { return r.ID == next.ID })
	}
	m.opts.CordonGate.fresh.wantReclaim(plan.MigrationID, 0)
	return plan, nil
}

// readMap reads the replica map (GET /v0/specs, once): the volume's order
// and othersDepth (freshReplicas).
func (m *Mover) readMap(ctx context.Context, plan Plan) (mayastor.ReplicaOrder, int, error) {
	specs, err := m.c.GetReplicaSpecs(ctx)
	if err != nil {
		return mayastor.ReplicaOrder{}, -1, err
	}
	return mayastor.OrderOf(specs, plan.VolumeID), m.opts.CordonGate.fresh.othersDepth(plan.MigrationID, specs.Replicas), nil
}

// DefaultCordonGate is the gate Movers built without one share: whoever
// else changes the replica map in the process (the sweeper) takes it too.
func DefaultCordonGate() *CordonGate { return processCordonGate }

// RemovalWaits says why removing replicaID from the replica map specs now
// would break a move in flight, "" when it would not: the rule each Mover's
// own placeholder deletes follow (freshReplicas.removalWaits with depth the
// Movers' GuardDepth), for a remover outside the Movers named who (never a
// migration id), with the gate held. When the removal waits for another
// move's guard depth, who asks the moves in flight to keep up to min(left,
// depth) more entries behind their fresh replicas, as a Mover whose
// placeholder delete waits does, until WithdrawReclaim(who).
func (g *CordonGate) RemovalWaits(who string, specs []mayastor.ReplicaSpec, replicaID string, depth, left int) string {
	why, forDepth := g.fresh.removalWaits(who, specs, replicaID, depth)
	if forDepth {
		g.fresh.wantReclaim(who, min(left, depth))
	}
	return why
}

// WithdrawReclaim withdraws who's request that moves keep more entries behind
// their fresh replicas (RemovalWaits).
func (g *CordonGate) WithdrawReclaim(who string) { g.fresh.wantReclaim(who, 0) }

// HoldsFresh reports whether replicaID is the fresh replica of a move in
// flight, which a removal elsewhere in the replica map must not pull forward.
func (g *CordonGate) HoldsFresh(replicaID string) bool {
	return g.fresh.protectedFromOthers("", replicaID)
}
