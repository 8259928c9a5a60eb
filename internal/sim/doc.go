// Package sim is an in-memory simulator of the OpenEBS Mayastor control plane
// (REST API v0 subset) and of its io-engine metrics exporters, faithful to
// upstream openebs/mayastor-control-plane (commit c02e0cb) where CoucheStor
// depends on it. Mayastor itself needs SPDK and hugepages; this stands in for
// it in tests, demos and scale runs. Answers use the internal/mayastor wire
// types and are validated against the upstream OpenAPI document in
// contract_test.go.
//
// # Using it
//
//	sc, _ := sim.LoadScenario("small")               // embedded, or a file path
//	clk := clocktesting.NewFakeClock(time.Now())
//	s, _ := sim.New(sc, sim.WithClock(clk))          // sim.WithSeed(n) overrides the seed
//	srv := httptest.NewServer(s.Handler())           // /v0/..., /metrics, /admin/...
//	clk.Step(2 * time.Minute)                        // rebuilds progress, self-heal runs
//
// Time comes only from the injected clock (k8s.io/utils/clock.PassiveClock).
// The model catches up lazily with clock.Now() whenever it is read or
// changed: rebuild completions and injected faults happen at their exact
// instants, the self-heal reconciler at multiples of reconcile_interval.
// There is no background goroutine, so a fake clock makes runs exactly
// repeatable; every random choice comes from the scenario's seed. Which
// replica a decrease removes is not a random choice: it follows upstream's
// ranking and replica map order (below).
//
// # What it models
//
//   - Endpoints: GET /v0/volumes (max_entries required, starting_token,
//     next_token; 0 = everything; volume_id filter), GET /v0/volumes/{id},
//     PUT /v0/volumes/{id}/replica_count/{n}, PUT and DELETE
//     /v0/volumes/{id}/target (publish, republish, unpublish, ?force),
//     GET /v0/volumes/{id}/rebuild-history, GET /v0/pools[/{id}],
//     GET /v0/nodes[/{id}] (?node_id; each node's io-engine version, the
//     scenario's or DefaultIOEngineVersion), GET /v0/nodes/{id}/pools,
//     PUT and DELETE /v0/nodes/{id}/cordon/{label}, PUT
//     /v0/pools/{id}/label/{key}={value} (?overwrite) and DELETE
//     /v0/pools/{id}/label/{key}, GET /v0/replicas[/{id}], PUT and DELETE
//     /v0/pools/{pool_id}/replicas/{replica_id} and
//     /v0/nodes/{node_id}/pools/{pool_id}/replicas/{replica_id}, GET
//     /v0/specs (nexus, pool, replica and volume specs; replicas in the core
//     agent's map order, each with its share, managed flag, owners and status).
//     Errors are RestJsonError {details, message, kind} with upstream's
//     status for the kind: NotFound 404, FailedPrecondition / NotPublished /
//     AlreadyPublished 412, AlreadyExists 422, InUse / Deleting 409,
//     ResourceExhausted 507, Unavailable 503 (NotReady: the target's node is
//     down), Aborted 503, InvalidArgument and Deserialize 400 (e.g.
//     max_entries missing).
//   - Replica placement (core/controller/scheduling/volume_policy): ±1 only; an increase needs an
//     Online volume whose target is up; node filters (not cordoned, online,
//     not already holding a replica of the volume); pool filters (not
//     Faulted/Unknown, capacity > size, inclusion labels; thick: free > size;
//     thin: free > 16MiB, free > min(allocated + 40% of size, size), and
//     size plus commitment under 250% of capacity); upstream's pairwise weighted sort (pool
//     status, then replica count 40 / free space 60 for thick; 25/40 plus
//     over-commitment 35 for thin). As upstream, a Degraded pool sorts before
//     an Online one. The replica count of a pool counts every replica on it,
//     a volume's or not.
//   - The core agent's global replica map: one ordered list of every replica
//     spec, of every volume and those created on a pool. Create appends;
//     destroy is swap_remove (the last entry of the whole map moves into the
//     freed slot); a core-agent restart (RestartCoreAgent, POST
//     /admin/core/restart) refills it in store-key order, i.e. replica uuid
//     order. Scenario loading creates replicas volume by volume in file
//     order. ReplicaOrder reads it.
//   - Replica removal (core/controller/scheduling): over the replicas the
//     volume owns, unhealthy in the NexusInfo of the volume's last nexus
//     (without an entry in it while one exists) first, all healthy while
//     none exists; then a child of the nexus spec before a replica that is
//     not one; among children one with a state in the nexus state before one
//     without (its replica's node, or the nexus's, is offline), then by state
//     Faulted < Unknown < Degraded < Online; then a shared replica before an
//     unshared one ("local" is the replica spec not being shared, not the
//     node, published or not); then, in an affinity group, the replica on the
//     pool holding more of the group's replicas; remaining ties keep the
//     replica map order (a stable sort), and the first goes. A healthy replica goes only while more healthy online
//     replicas remain than the new count; otherwise the count changes and
//     nothing is removed, as upstream. WithRandomRemovalTies or the scenario's
//     random_removal_ties: true draws ties at random instead: kinder than
//     upstream, never the default.
//   - Replica shares: a replica is created unshared, shared over nvmf when a
//     nexus on another node opens it, unshared when a nexus on its own node
//     does (publish, republish, attach); replica listings and specs report it.
//   - NexusInfo per nexus: every new nexus (publish, republish) starts its own
//     with only the children it opened; a replica left out counts unhealthy.
//     A child removed from a nexus loses its entry.
//   - Volume status: a published volume is Degraded when its child count
//     differs from num_replicas in either direction; an unpublished one is
//     Online when it has at least num_replicas replica specs (reachable or
//     not), Degraded with fewer, Faulted with none.
//   - Targets: a 1-replica volume's target is pinned to its replica's node;
//     without a node the target goes to an online, uncordoned node with the
//     fewest targets; republish shuts the old target down and opens a new
//     nexus (new uuid, new rebuild history) with the healthy replicas.
//   - Rebuilds only through a published volume's nexus: a new or re-attached
//     child rebuilds fully in size ÷ rebuild_bandwidth (per rebuild), showing
//     Degraded and rebuildProgress / rebuild-progress, then records Completed
//     (or Failed / Stopped) in the nexus's rebuild history. On an unpublished
//     volume a new replica is created empty, never synced, and the volume is
//     Online as soon as its count is met; at the next publish only replicas
//     NexusInfo trusts are opened (all of them if the volume was never
//     published).
//   - Self-heal (the hot spare reconciler) every reconcile_interval, only for
//     volumes with self_heal (scenario self_heal, default true as CSI sets
//     it): a child that faults while in sync stays in the nexus as Faulted
//     for faulted_child_wait_period (default 600s, scenario
//     faulted_child_wait_period, WithFaultedChildWait); if its replica comes
//     back in time it is partially rebuilt (our model: size × time away ÷
//     the wait period; rebuild history IsPartial), otherwise the child and
//     its replica are removed and replaced with a full rebuild. A child that
//     faults while rebuilding is removed at once, with its replica. Missing
//     replicas are created and attached; excess children are removed by the
//     removal ranking, then unused replicas in excess by the same ranking
//     (children refused as in use). Unpublished volumes get their replica
//     count fixed the same way.
//   - Replicas created on a pool (PUT .../replicas/{replica_id}): unmanaged,
//     without owners, appended to the replica map; refused on a cordoned
//     node (412), if the spec exists (422, or 409 while Deleting), if larger
//     than the pool (400); a thick one larger than the pool's free space
//     (507) or a node that is down (412) leaves a Deleting spec in the map
//     that the replica garbage collector removes (swap_remove) at its next
//     poll, every 5th reconcile tick, once the node is up. They count on
//     their pool and for placement, and nothing reclaims them: not the
//     removal ranking, hot spare, the ENOSPC reconciler, orphan collection or
//     a core-agent restart. DELETE removes them with a swap_remove; a
//     volume's replica is refused InUse (409). The node endpoints pass the
//     node on: a pool not on it is 404 (create) or 412 PoolNotLoaded
//     (delete, spec left Deleting); a node and pool that do not hold the
//     replica make the delete drop the spec and leave the replica on its
//     pool without one; another pool of the right node is 503 Aborted.
//   - Capacity: pool used = allocated bytes of its replicas + filler,
//     committed = sum of replica sizes; thin replicas become fully allocated
//     by a rebuild.
//   - io-engine exporter on /metrics (?node=<id> for one node's exporter):
//     volume_num_read_ops, volume_num_write_ops, volume_bytes_read,
//     volume_bytes_written, volume_read_latency_us, volume_write_latency_us
//     with labels node (the target's node) and pv_name ("pvc-<volume uuid>",
//     the PV name CSI gives a Mayastor volume); diskpool_total_size_bytes,
//     diskpool_used_size_bytes, diskpool_committed_size_bytes, diskpool_status
//     (0 Unknown, 1 Online, 2 Degraded, 3 Faulted) with labels node and name.
//     All gauges, as upstream. Volume counters integrate the workload model
//     (constant, diurnal, bursts, step changes; closed-form integrals, so a
//     scrape costs O(volumes)) while the volume is published and its target
//     up; they continue across a republish, only the node label changes.
//   - Faults (Go API and /admin): transport faults on the next N calls of a
//     spec operationId or "*" (status code, dropped connection before or after
//     the call took effect, latency); a replica fault, a fault of the next
//     rebuild of a volume at a given percentage, pool status, pool fill, node
//     drop and restore, a volume's workload, advancing a steppable clock.
//   - Attach refused after the create: the scenario's
//     max_rebuilds (0 or absent: no limit) refuses an attach while that many
//     rebuilds run cluster-wide, and FailNextAttach refuses the next one of a
//     volume; the increase answers 507 ResourceExhausted (MaxRebuilds), the
//     created replica stays owned by the volume without being a child, and
//     num_replicas is unchanged. Self-heal attaches respect max_rebuilds too.
//   - A decrease whose replica is on an offline node disowns it (gone
//     from the topology), answers 412 NodeNotOnline with num_replicas
//     unchanged; self-heal then adds a replacement. The disowned replica is
//     destroyed, and its pool space freed, when its node returns.
//   - Late operations: fault mode "late" answers 504 (or drops the
//     connection) and lands the effect of a replica-count change, publish or
//     republish, cordon or uncordon after a delay of simulation time or after
//     the next N REST calls. Until then the volume's or node's operation
//     guard answers 409 Conflict to other operations on it.
//   - Registry cache (off by default): WithRegistryCache(30*time.Second)
//     serves GET views of volumes, pools and nodes from a snapshot refreshed
//     every period and after every operation (REST, late, self-heal).
//   - HA: scenario ha_enabled (default true) and PUT /admin/ha;
//     without HA a republish answers 412 SwitchoverNotAllowedWhenHAisDisabled
//     and a target whose node is down stays there until the node returns.
//     With HA, such a target moves to another online, uncordoned node after
//     ha_failover_delay (default 30s, an assumption), and the recreated
//     nexus opens one healthy child (unclean shutdown); hot spare rebuilds
//     the others fully. FailNextRepublish fails a republish half-way (500):
//     the old target is shut down, the spec still names it, the volume has
//     no live target (Unknown, count changes 503) until the failover
//     recreates it with every healthy child.
//   - Affinity groups: a scenario volume's affinity_group is on the wire
//     (spec.affinity_group), its count cannot go below 2 (412
//     RestrictedReplicaCount), and the removal ranking counts the group's
//     replicas per pool (above).
//   - Snapshots: a scenario volume's num_snapshots is on the wire; an
//     increase answers 412 UpgradeRequiredToRebuild unless the scenario's
//     rebuild_ancestry_fix says the nodes carry the fix.
//   - ENOSPC (capacity reconciler): at the next reconcile tick after a pool
//     runs out of space, its largest thin replica that is a live child and
//     not fully allocated is moved to another pool (new replica attached and
//     rebuilt, old one removed) when another Online child remains.
//
// Admin endpoints (JSON bodies):
//
//	GET|POST|DELETE /admin/faults              {"operation","mode":"status|drop|drop-after|latency","count","status","latency":"2s"}
//	                                           late: {"operation","mode":"late","delay":"5s"|"after":N,"count","status":504,"drop":false}
//	POST /admin/volumes/{id}/fail-next-attach
//	POST /admin/volumes/{id}/fail-next-republish
//	GET|PUT /admin/ha                          {"enabled": false}
//	PUT  /admin/max-rebuilds                   {"max_rebuilds": 2}
//	POST /admin/replicas/{id}/fault
//	POST /admin/volumes/{id}/fault-next-rebuild {"at_percent": 50}
//	PUT  /admin/volumes/{id}/workload           Workload, e.g. {"pattern":"diurnal","read_iops":500,"write_iops":[10,50],"amplitude":0.5}
//	PUT  /admin/pools/{id}/status               {"status":"Faulted"}
//	PUT  /admin/pools/{id}/fill                 {"bytes":"90GiB"}
//	POST /admin/nodes/{id}/drop | /restore
//	POST /admin/core/restart                   refill the replica map in store-key order
//	GET  /admin/clock, POST /admin/clock/advance {"duration":"10m"}
//
// # What it does not model
//
//   - Volume and pool creation or deletion, snapshots, resize, volume
//     properties, node labels, drain, app nodes, nexus endpoints, replica
//     share and unshare endpoints, watches, authentication.
//   - Node topology (allowed/preferred nodes, node labels), pool exclusion
//     labels, affinity-group-aware placement (the scheduler's per-pool
//     affinity-group replica count), an I/O log of written blocks
//     (partial rebuilds are sized by time away only), rebuilt replicas
//     lacking replica snapshots, the loss of a nexus when its node restarts
//     without HA (it resumes as it was).
//   - Recovery of a volume whose every child faulted (it stays Faulted);
//     rebuild bandwidth shared between
//     concurrent rebuilds (each runs at full speed); I/O affecting latency or
//     rebuild speed; the io-engine resetting counters when a nexus is
//     recreated (counters here continue, so rate() is unaffected either way).
//   - For replicas created on a pool: a create on a pool io-engine reports
//     Faulted, the node endpoint naming a pool the simulator does not know
//     (404 before any spec is appended), re-creating the uuid of a replica
//     left without a spec on another pool (422), NQN validation of
//     allowed-hosts, size rounding to the cluster size, the reconcile loop's
//     busy/idle periods and phase for the garbage collector.
//   - The removal ranking of a volume with more than 20 replicas (upstream's
//     comparator is not symmetric; the result is shown equal for insertion
//     sort, which Rust uses up to 20 elements, not for its merge sort).
//   - Replica share/unshare as separate steps or failing, replica and nexus
//     operation records in specs, nexus owners of replica specs, the order of
//     the volume, pool and nexus maps in GET /v0/specs (simulator listing
//     order), a replica removed from an offline node staying in its pool
//     until garbage collection (it is freed at once), a core-agent restart
//     doing anything but reorder the replica map, and the exact wording of
//     every upstream message.
package sim
