// Package mayastor is CoucheStor's hand-written client for the OpenEBS Mayastor
// control-plane REST API v0 and its wire types. The replica-move sequence built
// on it is in internal/mover.
//
// The types in this file mirror the JSON shapes of the upstream OpenAPI
// document (openebs/mayastor-control-plane, control-plane/rest/openapi-specs/
// v0_api_spec.yaml). Only the shapes CoucheStor reads or writes are modelled.
// Fields the spec lists as required are plain values without omitempty, so a
// value marshals with every required property present; optional fields are
// pointers or carry omitempty. Arrays and maps the spec requires are written
// as [] or {} rather than null (see the MarshalJSON methods), so the
// simulator that reuses these types answers exactly the spec's shapes.
package mayastor

import (
	"encoding/json"
	"time"
)

// VolumeStatus is the spec's VolumeStatus enum.
type VolumeStatus string

// VolumeStatus values.
const (
	VolumeStatusUnknown  VolumeStatus = "Unknown"
	VolumeStatusOnline   VolumeStatus = "Online"
	VolumeStatusDegraded VolumeStatus = "Degraded"
	VolumeStatusFaulted  VolumeStatus = "Faulted"
	VolumeStatusShutdown VolumeStatus = "Shutdown"
)

// SpecStatus is the spec's SpecStatus enum: the life-cycle of a resource spec.
type SpecStatus string

// SpecStatus values.
const (
	SpecStatusCreating SpecStatus = "Creating"
	SpecStatusCreated  SpecStatus = "Created"
	SpecStatusDeleting SpecStatus = "Deleting"
	SpecStatusDeleted  SpecStatus = "Deleted"
)

// ChildState is the spec's ChildState enum: the state of a nexus child.
type ChildState string

// ChildState values.
const (
	ChildStateUnknown  ChildState = "Unknown"
	ChildStateOnline   ChildState = "Online"
	ChildStateDegraded ChildState = "Degraded"
	ChildStateFaulted  ChildState = "Faulted"
)

// ChildStateReason is the spec's ChildStateReason enum.
type ChildStateReason string

// ChildStateReasonOutOfSpace is the only ChildStateReason the spec defines.
const ChildStateReasonOutOfSpace ChildStateReason = "OutOfSpace"

// NexusState is the spec's NexusState enum.
type NexusState string

// NexusState values.
const (
	NexusStateUnknown      NexusState = "Unknown"
	NexusStateOnline       NexusState = "Online"
	NexusStateDegraded     NexusState = "Degraded"
	NexusStateFaulted      NexusState = "Faulted"
	NexusStateShuttingDown NexusState = "ShuttingDown"
	NexusStateShutdown     NexusState = "Shutdown"
)

// ReplicaState is the spec's ReplicaState enum.
type ReplicaState string

// ReplicaState values.
const (
	ReplicaStateUnknown  ReplicaState = "Unknown"
	ReplicaStateOnline   ReplicaState = "Online"
	ReplicaStateDegraded ReplicaState = "Degraded"
	ReplicaStateFaulted  ReplicaState = "Faulted"
)

// ReplicaKind is the spec's ReplicaKind enum.
type ReplicaKind string

// ReplicaKind values.
const (
	ReplicaKindRegular       ReplicaKind = "Regular"
	ReplicaKindSnapshot      ReplicaKind = "Snapshot"
	ReplicaKindSnapshotClone ReplicaKind = "SnapshotClone"
)

// PoolStatus is the spec's PoolStatus enum.
type PoolStatus string

// PoolStatus values.
const (
	PoolStatusUnknown  PoolStatus = "Unknown"
	PoolStatusOnline   PoolStatus = "Online"
	PoolStatusDegraded PoolStatus = "Degraded"
	PoolStatusFaulted  PoolStatus = "Faulted"
)

// NodeStatus is the spec's NodeStatus enum.
type NodeStatus string

// NodeStatus values.
const (
	NodeStatusUnknown NodeStatus = "Unknown"
	NodeStatusOnline  NodeStatus = "Online"
	NodeStatusOffline NodeStatus = "Offline"
)

// RebuildJobState is the spec's RebuildJobState enum.
type RebuildJobState string

// RebuildJobState values.
const (
	RebuildJobStateInit       RebuildJobState = "Init"
	RebuildJobStateRebuilding RebuildJobState = "Rebuilding"
	RebuildJobStateStopped    RebuildJobState = "Stopped"
	RebuildJobStatePaused     RebuildJobState = "Paused"
	RebuildJobStateFailed     RebuildJobState = "Failed"
	RebuildJobStateCompleted  RebuildJobState = "Completed"
)

// Protocol is the spec's Protocol enum (nexus and replica shares).
type Protocol string

// Protocol values.
const (
	ProtocolNone  Protocol = "none"
	ProtocolNvmf  Protocol = "nvmf"
	ProtocolIscsi Protocol = "iscsi"
	ProtocolNbd   Protocol = "nbd"
)

// VolumeShareProtocol is the spec's VolumeShareProtocol enum.
type VolumeShareProtocol string

// VolumeShareProtocol values.
const (
	VolumeShareProtocolNvmf  VolumeShareProtocol = "nvmf"
	VolumeShareProtocolIscsi VolumeShareProtocol = "iscsi"
)

// VolumeOperation is the enum of VolumeSpec.operation.operation.
type VolumeOperation string

// VolumeOperation values.
const (
	VolumeOperationCreate              VolumeOperation = "Create"
	VolumeOperationDestroy             VolumeOperation = "Destroy"
	VolumeOperationShare               VolumeOperation = "Share"
	VolumeOperationUnshare             VolumeOperation = "Unshare"
	VolumeOperationSetReplica          VolumeOperation = "SetReplica"
	VolumeOperationRemoveUnusedReplica VolumeOperation = "RemoveUnusedReplica"
	VolumeOperationPublish             VolumeOperation = "Publish"
	VolumeOperationRepublish           VolumeOperation = "Republish"
	VolumeOperationUnpublish           VolumeOperation = "Unpublish"
	VolumeOperationCreateSnapshot      VolumeOperation = "CreateSnapshot"
	VolumeOperationDestroySnapshot     VolumeOperation = "DestroySnapshot"
	VolumeOperationResize              VolumeOperation = "Resize"
	VolumeOperationSetVolumeProperty   VolumeOperation = "SetVolumeProperty"
)

// ErrorKind is the enum of RestJsonError.kind.
type ErrorKind string

// ErrorKind values.
const (
	ErrorKindTimeout               ErrorKind = "Timeout"
	ErrorKindDeserialize           ErrorKind = "Deserialize"
	ErrorKindInternal              ErrorKind = "Internal"
	ErrorKindInvalidArgument       ErrorKind = "InvalidArgument"
	ErrorKindDeadlineExceeded      ErrorKind = "DeadlineExceeded"
	ErrorKindNotFound              ErrorKind = "NotFound"
	ErrorKindAlreadyExists         ErrorKind = "AlreadyExists"
	ErrorKindPermissionDenied      ErrorKind = "PermissionDenied"
	ErrorKindResourceExhausted     ErrorKind = "ResourceExhausted"
	ErrorKindFailedPrecondition    ErrorKind = "FailedPrecondition"
	ErrorKindNotShared             ErrorKind = "NotShared"
	ErrorKindNotPublished          ErrorKind = "NotPublished"
	ErrorKindAlreadyPublished      ErrorKind = "AlreadyPublished"
	ErrorKindAlreadyShared         ErrorKind = "AlreadyShared"
	ErrorKindAborted               ErrorKind = "Aborted"
	ErrorKindOutOfRange            ErrorKind = "OutOfRange"
	ErrorKindUnimplemented         ErrorKind = "Unimplemented"
	ErrorKindUnavailable           ErrorKind = "Unavailable"
	ErrorKindUnauthenticated       ErrorKind = "Unauthenticated"
	ErrorKindUnauthorized          ErrorKind = "Unauthorized"
	ErrorKindConflict              ErrorKind = "Conflict"
	ErrorKindFailedPersist         ErrorKind = "FailedPersist"
	ErrorKindDeleting              ErrorKind = "Deleting"
	ErrorKindInUse                 ErrorKind = "InUse"
	ErrorKindCapacityLimitExceeded ErrorKind = "CapacityLimitExceeded"
	ErrorKindNotAcceptable         ErrorKind = "NotAcceptable"
)

// RestJsonError is the error body of every 4XX and 5XX answer.
type RestJsonError struct {
	Details string    `json:"details"`
	Message string    `json:"message"`
	Kind    ErrorKind `json:"kind"`
}

// Volume is a volume's spec and state.
type Volume struct {
	Spec  VolumeSpec  `json:"spec"`
	State VolumeState `json:"state"`
}

// VolumeBrief is what a tiering decision reads of one volume of GET /v0/volumes, decoded
// straight from the answer by WalkVolumeBriefs (no Volume is built).
type VolumeBrief struct {
	// UUID, Size, NumReplicas, NumSnapshots and AffinityGroup are spec.uuid, spec.size,
	// spec.num_replicas, spec.num_snapshots and spec.affinity_group.id.
	UUID          string
	Size          uint64
	NumReplicas   int
	NumSnapshots  int
	AffinityGroup string
	// Online: state.status is Online.
	Online bool
	// Published: state.target is present (the volume has a nexus).
	Published bool
	// ReplicaPools is the pool of each replica of state.replica_topology, in no set order
	// (the topology is a map).
	ReplicaPools []string
}

// BriefOf reduces a decoded volume to its VolumeBrief.
func BriefOf(v *Volume) VolumeBrief {
	b := VolumeBrief{
		UUID: v.Spec.UUID, Size: v.Spec.Size, NumReplicas: int(v.Spec.NumReplicas), NumSnapshots: int(v.Spec.NumSnapshots),
		Online: v.State.Status == VolumeStatusOnline, Published: v.State.Target != nil,
	}
	if v.Spec.AffinityGroup != nil {
		b.AffinityGroup = v.Spec.AffinityGroup.ID
	}
	if n := len(v.State.ReplicaTopology); n > 0 {
		b.ReplicaPools = make([]string, 0, n)
		for _, r := range v.State.ReplicaTopology {
			b.ReplicaPools = append(b.ReplicaPools, r.Pool)
		}
	}
	return b
}

// Volumes is one page of GET /v0/volumes.
type Volumes struct {
	Entries []Volume `json:"entries"`
	// NextToken is the starting_token of the next page; absent on the last page.
	NextToken *uint64 `json:"next_token,omitempty"`
}

// MarshalJSON writes entries as [] when empty: the spec requires an array.
func (v Volumes) MarshalJSON() ([]byte, error) {
	type plain Volumes
	p := plain(v)
	if p.Entries == nil {
		p.Entries = []Volume{}
	}
	return json.Marshal(p)
}

// VolumeSpec is the user specification of a volume.
//
// The upstream spec also lists num_paths and protocol as required without
// defining them; the real server never sends them, and neither does this type.
type VolumeSpec struct {
	Labels        map[string]string    `json:"labels,omitempty"`
	NumReplicas   uint8                `json:"num_replicas"`
	Operation     *VolumeSpecOperation `json:"operation,omitempty"`
	Size          uint64               `json:"size"`
	Status        SpecStatus           `json:"status"`
	Target        *VolumeTarget        `json:"target,omitempty"`
	UUID          string               `json:"uuid"`
	Topology      *Topology            `json:"topology,omitempty"`
	Policy        VolumePolicy         `json:"policy"`
	Thin          bool                 `json:"thin"`
	AsThin        *bool                `json:"as_thin,omitempty"`
	AffinityGroup *AffinityGroup       `json:"affinity_group,omitempty"`
	ContentSource *VolumeContentSource `json:"content_source,omitempty"`
	NumSnapshots  uint32               `json:"num_snapshots"`
	MaxSnapshots  *uint32              `json:"max_snapshots,omitempty"`
}

// VolumeSpecOperation records the operation in progress on a volume.
type VolumeSpecOperation struct {
	Operation VolumeOperation `json:"operation"`
	Result    *bool           `json:"result,omitempty"`
}

// VolumeTarget is the specification of a volume's target (where it is published).
type VolumeTarget struct {
	Node          string              `json:"node"`
	Protocol      VolumeShareProtocol `json:"protocol,omitempty"`
	FrontendNodes []NodeAccessInfo    `json:"frontend_nodes,omitempty"`
}

// NodeAccessInfo identifies a front-end node.
type NodeAccessInfo struct {
	Name string `json:"name"`
	NQN  string `json:"nqn"`
}

// VolumePolicy says whether the control plane heals the volume by itself.
type VolumePolicy struct {
	SelfHeal bool `json:"self_heal"`
}

// AffinityGroup names a volume's affinity group.
type AffinityGroup struct {
	ID string `json:"id"`
}

// VolumeContentSource is the snapshot a volume was created from.
type VolumeContentSource struct {
	Snapshot *SnapshotAsSource `json:"snapshot,omitempty"`
}

// SnapshotAsSource identifies a snapshot used as volume content source.
type SnapshotAsSource struct {
	Snapshot string `json:"snapshot"`
	Volume   string `json:"volume"`
}

// Topology is a volume's node and pool placement topology.
type Topology struct {
	NodeTopology *NodeTopology `json:"node_topology,omitempty"`
	PoolTopology *PoolTopology `json:"pool_topology,omitempty"`
}

// NodeTopology restricts replica nodes, explicitly or by labels (exactly one).
type NodeTopology struct {
	Explicit *ExplicitNodeTopology `json:"explicit,omitempty"`
	Labelled *LabelledTopology     `json:"labelled,omitempty"`
}

// ExplicitNodeTopology lists allowed and preferred nodes.
type ExplicitNodeTopology struct {
	AllowedNodes   []string `json:"allowed_nodes"`
	PreferredNodes []string `json:"preferred_nodes"`
}

// MarshalJSON writes both required lists as [] when empty.
func (t ExplicitNodeTopology) MarshalJSON() ([]byte, error) {
	type plain ExplicitNodeTopology
	p := plain(t)
	if p.AllowedNodes == nil {
		p.AllowedNodes = []string{}
	}
	if p.PreferredNodes == nil {
		p.PreferredNodes = []string{}
	}
	return json.Marshal(p)
}

// PoolTopology restricts replica pools by labels. The spec requires labelled.
type PoolTopology struct {
	Labelled *LabelledTopology `json:"labelled,omitempty"`
}

// LabelledTopology is a label-based placement rule.
type LabelledTopology struct {
	// Exclusion keys: resources sharing the same value of the key are not paired.
	Exclusion map[string]string `json:"exclusion"`
	// Inclusion labels: a pool must carry each key (and the value, if non-empty).
	Inclusion   map[string]string `json:"inclusion"`
	AffinityKey []string          `json:"affinity_key,omitempty"`
}

// MarshalJSON writes both required maps as {} when empty.
func (t LabelledTopology) MarshalJSON() ([]byte, error) {
	type plain LabelledTopology
	p := plain(t)
	if p.Exclusion == nil {
		p.Exclusion = map[string]string{}
	}
	if p.Inclusion == nil {
		p.Inclusion = map[string]string{}
	}
	return json.Marshal(p)
}

// VolumeState is the runtime state of a volume.
type VolumeState struct {
	// Target is the nexus; nil when the volume is not published.
	Target *Nexus       `json:"target,omitempty"`
	Size   uint64       `json:"size"`
	Status VolumeStatus `json:"status"`
	UUID   string       `json:"uuid"`
	Usage  *VolumeUsage `json:"usage,omitempty"`
	// ReplicaTopology maps replica uuid to where the replica is and how it is.
	ReplicaTopology map[string]ReplicaTopology `json:"replica_topology"`
}

// MarshalJSON writes replica_topology as {} when empty.
func (s VolumeState) MarshalJSON() ([]byte, error) {
	type plain VolumeState
	p := plain(s)
	if p.ReplicaTopology == nil {
		p.ReplicaTopology = map[string]ReplicaTopology{}
	}
	return json.Marshal(p)
}

// ReplicaTopology is one replica of a volume as seen in the volume state.
type ReplicaTopology struct {
	Node              string           `json:"node,omitempty"`
	Pool              string           `json:"pool,omitempty"`
	State             ReplicaState     `json:"state"`
	ChildStatus       ChildState       `json:"child-status,omitempty"`
	ChildStatusReason ChildStateReason `json:"child-status-reason,omitempty"`
	Usage             *ReplicaUsage    `json:"usage,omitempty"`
	// RebuildProgress is present (0..100) while the child is rebuilding.
	RebuildProgress *int `json:"rebuild-progress,omitempty"`
}

// ReplicaUsage is a replica's space usage, as seen in the volume state.
type ReplicaUsage struct {
	Capacity              uint64 `json:"capacity"`
	Allocated             uint64 `json:"allocated"`
	AllocatedSnapshots    uint64 `json:"allocated_snapshots"`
	AllocatedAllSnapshots uint64 `json:"allocated_all_snapshots"`
}

// VolumeUsage is a volume's space usage.
type VolumeUsage struct {
	Capacity                uint64 `json:"capacity"`
	Allocated               uint64 `json:"allocated"`
	AllocatedReplica        uint64 `json:"allocated_replica"`
	AllocatedSnapshots      uint64 `json:"allocated_snapshots"`
	AllocatedAllSnapshots   uint64 `json:"allocated_all_snapshots"`
	TotalAllocated          uint64 `json:"total_allocated"`
	TotalAllocatedReplicas  uint64 `json:"total_allocated_replicas"`
	TotalAllocatedSnapshots uint64 `json:"total_allocated_snapshots"`
}

// Nexus is a volume target: the nexus and its children (one per replica).
type Nexus struct {
	Children []Child `json:"children"`
	// DeviceURI is the device URI for the volume; empty when not published.
	DeviceURI string     `json:"deviceUri"`
	Node      string     `json:"node"`
	Rebuilds  uint32     `json:"rebuilds"`
	Protocol  Protocol   `json:"protocol"`
	Size      uint64     `json:"size"`
	State     NexusState `json:"state"`
	UUID      string     `json:"uuid"`
}

// MarshalJSON writes children as [] when empty.
func (n Nexus) MarshalJSON() ([]byte, error) {
	type plain Nexus
	p := plain(n)
	if p.Children == nil {
		p.Children = []Child{}
	}
	return json.Marshal(p)
}

// Child is a nexus child.
type Child struct {
	// RebuildProgress is present (0..100) while the child is rebuilding.
	RebuildProgress *int             `json:"rebuildProgress,omitempty"`
	State           ChildState       `json:"state"`
	StateReason     ChildStateReason `json:"state_reason,omitempty"`
	URI             string           `json:"uri"`
}

// RebuildHistory is the answer of GET /v0/volumes/{id}/rebuild-history.
type RebuildHistory struct {
	TargetUUID string          `json:"targetUuid"`
	Records    []RebuildRecord `json:"records"`
}

// MarshalJSON writes records as [] when empty.
func (h RebuildHistory) MarshalJSON() ([]byte, error) {
	type plain RebuildHistory
	p := plain(h)
	if p.Records == nil {
		p.Records = []RebuildRecord{}
	}
	return json.Marshal(p)
}

// RebuildRecord is one finished or running rebuild job of a nexus child.
type RebuildRecord struct {
	ChildURI          string          `json:"childUri"`
	SrcURI            string          `json:"srcUri"`
	RebuildJobState   RebuildJobState `json:"rebuildJobState"`
	BlocksTotal       uint64          `json:"blocksTotal"`
	BlocksRecovered   uint64          `json:"blocksRecovered"`
	BlocksTransferred uint64          `json:"blocksTransferred"`
	BlocksRemaining   uint64          `json:"blocksRemaining"`
	BlockSize         uint64          `json:"blockSize"`
	IsPartial         bool            `json:"isPartial"`
	StartTime         time.Time       `json:"startTime"`
	EndTime           time.Time       `json:"endTime"`
}

// Pool is a storage pool: its spec (what was asked) and state (what io-engine reports).
type Pool struct {
	ID    string     `json:"id"`
	Spec  *PoolSpec  `json:"spec,omitempty"`
	State *PoolState `json:"state,omitempty"`
}

// PoolSpec is the user specification of a pool.
type PoolSpec struct {
	Disks  []string          `json:"disks"`
	ID     string            `json:"id"`
	Labels map[string]string `json:"labels,omitempty"`
	Node   string            `json:"node"`
	Status SpecStatus        `json:"status"`
}

// MarshalJSON writes disks as [] when empty.
func (s PoolSpec) MarshalJSON() ([]byte, error) {
	type plain PoolSpec
	p := plain(s)
	if p.Disks == nil {
		p.Disks = []string{}
	}
	return json.Marshal(p)
}

// PoolState is the state of a pool as reported by io-engine.
type PoolState struct {
	Capacity uint64     `json:"capacity"`
	Disks    []string   `json:"disks"`
	ID       string     `json:"id"`
	Node     string     `json:"node"`
	Status   PoolStatus `json:"status"`
	Used     uint64     `json:"used"`
	// Committed is the accrued size of all replicas in the pool (optional).
	Committed *uint64 `json:"committed,omitempty"`
}

// MarshalJSON writes disks as [] when empty.
func (s PoolState) MarshalJSON() ([]byte, error) {
	type plain PoolState
	p := plain(s)
	if p.Disks == nil {
		p.Disks = []string{}
	}
	return json.Marshal(p)
}

// Node is an io-engine storage node.
type Node struct {
	ID    string     `json:"id"`
	Spec  *NodeSpec  `json:"spec,omitempty"`
	State *NodeState `json:"state,omitempty"`
}

// NodeSpec is a node's specification, including its cordon labels.
type NodeSpec struct {
	GRPCEndpoint     string            `json:"grpcEndpoint"`
	ID               string            `json:"id"`
	Labels           map[string]string `json:"labels,omitempty"`
	CordonDrainState *CordonDrainState `json:"cordondrainstate,omitempty"`
	NodeNQN          string            `json:"node_nqn,omitempty"`
	Version          string            `json:"version,omitempty"`
}

// CordonDrainState is exactly one of cordoned, draining or drained.
type CordonDrainState struct {
	CordonedState *CordonedState `json:"cordonedstate,omitempty"`
	DrainingState *DrainState    `json:"drainingstate,omitempty"`
	DrainedState  *DrainState    `json:"drainedstate,omitempty"`
}

// CordonedState lists a cordoned node's cordon labels.
type CordonedState struct {
	CordonLabels []string `json:"cordonlabels"`
}

// MarshalJSON writes cordonlabels as [] when empty.
func (s CordonedState) MarshalJSON() ([]byte, error) {
	type plain CordonedState
	p := plain(s)
	if p.CordonLabels == nil {
		p.CordonLabels = []string{}
	}
	return json.Marshal(p)
}

// DrainState lists a draining or drained node's cordon and drain labels.
type DrainState struct {
	CordonLabels []string `json:"cordonlabels"`
	DrainLabels  []string `json:"drainlabels"`
}

// MarshalJSON writes both lists as [] when empty.
func (s DrainState) MarshalJSON() ([]byte, error) {
	type plain DrainState
	p := plain(s)
	if p.CordonLabels == nil {
		p.CordonLabels = []string{}
	}
	if p.DrainLabels == nil {
		p.DrainLabels = []string{}
	}
	return json.Marshal(p)
}

// NodeState is a node's deemed state.
type NodeState struct {
	GRPCEndpoint string     `json:"grpcEndpoint"`
	ID           string     `json:"id"`
	Status       NodeStatus `json:"status"`
	NodeNQN      string     `json:"node_nqn,omitempty"`
	Version      string     `json:"version,omitempty"`
}

// CordonLabels returns every cordon label on the node (cordoned, draining or drained).
func (n Node) CordonLabels() []string {
	if n.Spec == nil || n.Spec.CordonDrainState == nil {
		return nil
	}
	s := n.Spec.CordonDrainState
	switch {
	case s.CordonedState != nil:
		return s.CordonedState.CordonLabels
	case s.DrainingState != nil:
		return s.DrainingState.CordonLabels
	case s.DrainedState != nil:
		return s.DrainedState.CordonLabels
	}
	return nil
}

// Cordoned reports whether the node carries any cordon (or drain) label.
func (n Node) Cordoned() bool {
	if n.Spec == nil || n.Spec.CordonDrainState == nil {
		return false
	}
	s := n.Spec.CordonDrainState
	return s.CordonedState != nil && len(s.CordonedState.CordonLabels) > 0 ||
		s.DrainingState != nil || s.DrainedState != nil
}

// Replica is a replica as listed by the replica endpoints.
type Replica struct {
	Node         string             `json:"node"`
	Pool         string             `json:"pool"`
	PoolUUID     string             `json:"poolUuid,omitempty"`
	Share        Protocol           `json:"share"`
	Size         uint64             `json:"size"`
	Space        *ReplicaSpaceUsage `json:"space,omitempty"`
	State        ReplicaState       `json:"state"`
	Thin         bool               `json:"thin"`
	URI          string             `json:"uri"`
	UUID         string             `json:"uuid"`
	AllowedHosts []string           `json:"allowed-hosts,omitempty"`
	Kind         ReplicaKind        `json:"kind"`
}

// ReplicaSpaceUsage is a replica's space usage, as listed by the replica endpoints.
type ReplicaSpaceUsage struct {
	CapacityBytes              uint64  `json:"capacity_bytes"`
	AllocatedBytes             uint64  `json:"allocated_bytes"`
	AllocatedBytesSnapshots    uint64  `json:"allocated_bytes_snapshots"`
	AllocatedBytesAllSnapshots *uint64 `json:"allocated_bytes_all_snapshots,omitempty"`
	ClusterSize                uint64  `json:"cluster_size"`
	Clusters                   uint64  `json:"clusters"`
	AllocatedClusters          uint64  `json:"allocated_clusters"`
}

// PublishVolumeBody is the body of PUT /v0/volumes/{id}/target (publish and republish).
type PublishVolumeBody struct {
	// PublishContext is required by the spec; nil marshals as {}.
	PublishContext map[string]string `json:"publish_context"`
	// ReuseExisting allows reusing the current target.
	ReuseExisting *bool `json:"reuse_existing,omitempty"`
	// Node is where the target should reside.
	Node string `json:"node,omitempty"`
	// Protocol is required by the spec.
	Protocol VolumeShareProtocol `json:"protocol"`
	// Republish shuts the existing target down first, then publishes on Node.
	Republish *bool `json:"republish,omitempty"`
	// FrontendNode is where the workload runs.
	FrontendNode string `json:"frontend_node,omitempty"`
}

// MarshalJSON writes publish_context as {} when empty.
func (b PublishVolumeBody) MarshalJSON() ([]byte, error) {
	type plain PublishVolumeBody
	p := plain(b)
	if p.PublishContext == nil {
		p.PublishContext = map[string]string{}
	}
	return json.Marshal(p)
}

// Specs is GET /v0/specs: the core agent's specs of every object. Its
// replicas come in the order of the core agent's replica map, the order that
// breaks ties when a replica-count decrease ranks the replicas to remove
// (control-plane/agents/src/bin/core/registry/service.rs:52-61 and
// core/pool/specs.rs:265-271 list the map's values; the ranking is a stable
// sort over that order, core/controller/scheduling/mod.rs:79-91).
type Specs struct {
	Nexuses  []NexusSpec   `json:"nexuses"`
	Pools    []PoolSpec    `json:"pools"`
	Replicas []ReplicaSpec `json:"replicas"`
	Volumes  []VolumeSpec  `json:"volumes"`
}

// NexusSpec is the user specification of a nexus.
type NexusSpec struct {
	Children  []string       `json:"children"`
	Managed   bool           `json:"managed"`
	Node      string         `json:"node"`
	Operation *SpecOperation `json:"operation,omitempty"`
	Owner     string         `json:"owner,omitempty"`
	Share     Protocol       `json:"share"`
	Size      uint64         `json:"size"`
	Status    SpecStatus     `json:"status"`
	UUID      string         `json:"uuid"`
}

// SpecOperation is the record of an operation in progress on a nexus or replica spec.
type SpecOperation struct {
	Operation string `json:"operation"`
	Result    *bool  `json:"result,omitempty"`
}

// ReplicaSpec is the user specification of a replica. Share "none" means the
// replica is not shared: the core agent's removal ranking calls such a
// replica local and removes it last.
type ReplicaSpec struct {
	Managed   bool              `json:"managed"`
	Operation *SpecOperation    `json:"operation,omitempty"`
	Owners    ReplicaSpecOwners `json:"owners"`
	Pool      string            `json:"pool"`
	PoolUUID  string            `json:"poolUuid,omitempty"`
	Share     Protocol          `json:"share"`
	Size      uint64            `json:"size"`
	Status    SpecStatus        `json:"status"`
	Thin      bool              `json:"thin"`
	UUID      string            `json:"uuid"`
	Kind      ReplicaKind       `json:"kind,omitempty"`
}

// ReplicaSpecOwners are the volume and nexuses that own a replica.
type ReplicaSpecOwners struct {
	Nexuses []string `json:"nexuses"`
	Volume  string   `json:"volume,omitempty"`
}

// MarshalJSON writes nexuses as [] when empty.
func (o ReplicaSpecOwners) MarshalJSON() ([]byte, error) {
	type plain ReplicaSpecOwners
	p := plain(o)
	if p.Nexuses == nil {
		p.Nexuses = []string{}
	}
	return json.Marshal(p)
}

// MarshalJSON writes children as [] when empty.
func (s NexusSpec) MarshalJSON() ([]byte, error) {
	type plain NexusSpec
	p := plain(s)
	if p.Children == nil {
		p.Children = []string{}
	}
	return json.Marshal(p)
}

// CreateReplicaBody is the body of PUT /v0/pools/{pool_id}/replicas/{replica_id}: a replica
// created this way belongs to no volume (control-plane/rest/src/versions/v0.rs:119-137 builds
// the request with managed false and no owners).
type CreateReplicaBody struct {
	Size         uint64   `json:"size"`
	Thin         bool     `json:"thin"`
	Share        Protocol `json:"share,omitempty"`
	AllowedHosts []string `json:"allowed-hosts,omitempty"`
}
