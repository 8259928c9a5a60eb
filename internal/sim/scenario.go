package sim

import (
	"embed"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Scenario is a simulated cluster: nodes, pools, volumes and how time
// behaves. Scenarios are YAML; see scenarios/small.yaml for an annotated one.
type Scenario struct {
	// Name is informational.
	Name string `yaml:"name"`
	// Seed drives every random choice (uuids, tie orders, workload ranges).
	Seed uint64 `yaml:"seed"`
	// RebuildBandwidth is the speed of one rebuild, bytes per second
	// (a rebuild of a volume takes size ÷ bandwidth).
	RebuildBandwidth ByteSize `yaml:"rebuild_bandwidth"`
	// ReconcileInterval is the period of the self-heal reconciler (default 10s).
	ReconcileInterval Duration `yaml:"reconcile_interval"`
	// FaultedChildWaitPeriod is how long a faulted in-sync child is kept for
	// a partial rebuild before it is replaced (default 600s, upstream's).
	FaultedChildWaitPeriod *Duration `yaml:"faulted_child_wait_period"`
	// RandomRemovalTies draws the remaining ties of the removal ranking at
	// random on every decrease instead of the core agent's replica map order.
	// Kinder than upstream; off by default (see WithRandomRemovalTies).
	RandomRemovalTies bool              `yaml:"random_removal_ties"`
	Nodes             []ScenarioNode    `yaml:"nodes"`
	Pools             []ScenarioPool    `yaml:"pools"`
	Volumes           []ScenarioVolume  `yaml:"volumes"`
	Generate          []VolumeGenerator `yaml:"generate"`

	// MaxRebuilds is the core agent's --max-rebuilds: attaching a replica
	// (which starts a rebuild) is refused while that many rebuilds run
	// cluster-wide. 0 or absent: no limit (upstream's default).
	MaxRebuilds int `yaml:"max_rebuilds"`
	// HAEnabled is false when the core agent runs with HA disabled (default
	// true): republish is then refused and a target whose node goes down
	// stays there.
	HAEnabled *bool `yaml:"ha_enabled"`
	// HAFailoverDelay is how long after its node went down an HA failover
	// moves a target to another node (default 30s, an assumption).
	HAFailoverDelay Duration `yaml:"ha_failover_delay"`
	// RebuildAncestryFix says the io-engine nodes carry the
	// NexusRebuildReplicaAncestry fix, without which an increase of a volume
	// with snapshots is refused (default false).
	RebuildAncestryFix bool `yaml:"rebuild_ancestry_fix"`

	file string
	pos  map[string]int // field path → line
}

// ScenarioNode is an io-engine node.
type ScenarioNode struct {
	ID      string            `yaml:"id"`
	Labels  map[string]string `yaml:"labels"`
	Offline bool              `yaml:"offline"`
	Cordons []string          `yaml:"cordons"`
	// Version is what the node's io-engine reports as its version (NodeSpec.version and
	// NodeState.version); DefaultIOEngineVersion when empty.
	Version string `yaml:"version"`
}

// DefaultIOEngineVersion is the version a simulated io-engine reports when its scenario node
// names none: the last release before the upstream commit the simulator follows (c02e0cb,
// October 2024). Upstream fills the field from the io-engine's registration
// (control-plane/agents/src/bin/core/node/specs.rs:42-62); the "v" + semantic version
// spelling is an assumption, not read upstream.
const DefaultIOEngineVersion = "v2.7.1"

// ScenarioPool is a disk pool.
type ScenarioPool struct {
	ID       string            `yaml:"id"`
	Node     string            `yaml:"node"`
	Capacity ByteSize          `yaml:"capacity"`
	Labels   map[string]string `yaml:"labels"`
	Disks    []string          `yaml:"disks"`
	// Status is Online (default), Degraded, Faulted or Unknown.
	Status string `yaml:"status"`
	// Filler is space used outside the scenario's replicas.
	Filler ByteSize `yaml:"filler"`
}

// ScenarioVolume is one volume and where its replicas are.
type ScenarioVolume struct {
	// UUID is drawn from the seed when empty.
	UUID string   `yaml:"uuid"`
	Size ByteSize `yaml:"size"`
	Thin bool     `yaml:"thin"`
	// Allocated is what each thin replica holds (default: half the size).
	Allocated ByteSize `yaml:"allocated"`
	// Replicas names the pools holding the replicas, one per node.
	Replicas []string `yaml:"replicas"`
	// NumReplicas is the spec's count (default: len(replicas)).
	NumReplicas int  `yaml:"num_replicas"`
	Published   bool `yaml:"published"`
	// NexusNode is where the target runs (default: the first replica's node).
	NexusNode string `yaml:"nexus_node"`
	// Inclusion is the pool topology's inclusion labels.
	Inclusion map[string]string `yaml:"inclusion"`
	// SelfHeal is the volume policy (default true).
	SelfHeal *bool     `yaml:"self_heal"`
	Workload *Workload `yaml:"workload"`
	// AffinityGroup names the volume's affinity group (spec.affinity_group.id).
	AffinityGroup string `yaml:"affinity_group"`
	// NumSnapshots is the number of volume snapshots (spec.num_snapshots).
	NumSnapshots int `yaml:"num_snapshots"`
}

// VolumeGenerator makes Count volumes alike, their replicas spread round-robin
// over Pools (one replica per node).
type VolumeGenerator struct {
	Count     int               `yaml:"count"`
	Size      ByteSize          `yaml:"size"`
	Thin      bool              `yaml:"thin"`
	Allocated ByteSize          `yaml:"allocated"`
	Replicas  int               `yaml:"replicas"`
	Pools     []string          `yaml:"pools"`
	Published *bool             `yaml:"published"`
	Inclusion map[string]string `yaml:"inclusion"`
	SelfHeal  *bool             `yaml:"self_heal"`
	Workload  *Workload         `yaml:"workload"`
}

// ScenarioError locates a problem in a scenario file.
type ScenarioError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *ScenarioError) Error() string {
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
}

//go:embed scenarios/*.yaml
var embedded embed.FS

// ScenarioNames lists the embedded scenarios.
func ScenarioNames() []string {
	ents, _ := embedded.ReadDir("scenarios")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	return out
}

// LoadScenario loads an embedded scenario by name ("small", "scale-10k") or
// a scenario file by path.
func LoadScenario(nameOrPath string) (*Scenario, error) {
	name := strings.TrimSuffix(nameOrPath, ".yaml")
	if !strings.ContainsAny(name, `/\`) {
		if data, err := embedded.ReadFile("scenarios/" + name + ".yaml"); err == nil {
			return ParseScenario("scenarios/"+name+".yaml", data)
		}
	}
	data, err := os.ReadFile(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("scenario %q is neither embedded (%s) nor a readable file: %w",
			nameOrPath, strings.Join(ScenarioNames(), ", "), err)
	}
	return ParseScenario(nameOrPath, data)
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ParseScenario decodes and validates a scenario strictly: an unknown field,
// a wrong type or an inconsistent value is an error naming file, line and field.
func ParseScenario(file string, data []byte) (*Scenario, error) {
	sc := &Scenario{file: file, pos: map[string]int{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, sc.wrapYAML(err)
	}
	if len(doc.Content) == 0 {
		return nil, &ScenarioError{File: file, Line: 1, Field: "(document)", Msg: "empty scenario"}
	}
	if err := sc.checkFields(doc.Content[0], reflect.TypeOf(Scenario{}), ""); err != nil {
		return nil, err
	}
	if err := doc.Content[0].Decode(sc); err != nil {
		return nil, sc.wrapYAML(err)
	}
	if err := sc.validate(); err != nil {
		return nil, err
	}
	return sc, nil
}

var yamlLine = regexp.MustCompile(`line (\d+): (.*)`)

// wrapYAML turns a yaml.v3 error into a ScenarioError.
func (sc *Scenario) wrapYAML(err error) error {
	var le *lineError
	if errors.As(err, &le) {
		return sc.errAtLine(le.line, le.msg)
	}
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		var line int
		fmt.Sscan(m[1], &line)
		return sc.errAtLine(line, m[2])
	}
	return &ScenarioError{File: sc.file, Line: 0, Field: "(document)", Msg: strings.TrimPrefix(msg, "yaml: ")}
}

func (sc *Scenario) errAtLine(line int, msg string) error {
	field := "(document)"
	best := ""
	for p, l := range sc.pos {
		if l == line && len(p) > len(best) {
			best = p
		}
	}
	if best != "" {
		field = best
	}
	return &ScenarioError{File: sc.file, Line: line, Field: field, Msg: msg}
}

// errAt reports msg at the field path (or its closest recorded parent).
func (sc *Scenario) errAt(field, format string, args ...any) error {
	p := field
	for {
		if l, ok := sc.pos[p]; ok {
			return &ScenarioError{File: sc.file, Line: l, Field: field, Msg: fmt.Sprintf(format, args...)}
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			return &ScenarioError{File: sc.file, Line: 1, Field: field, Msg: fmt.Sprintf(format, args...)}
		}
		p = p[:i]
	}
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// checkFields walks the document against the Go types: it rejects unknown
// keys and records the line of every field path.
func (sc *Scenario) checkFields(n *yaml.Node, t reflect.Type, at string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Tag == "!!null" || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	join := func(k string) string {
		if at == "" {
			return k
		}
		return at + "." + k
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return sc.errAtNode(n, at, "want a mapping")
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if tag := strings.Split(f.Tag.Get("yaml"), ",")[0]; tag != "" && tag != "-" {
				fields[tag] = f.Type
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(k.Value)
			sc.pos[p] = k.Line
			ft, ok := fields[k.Value]
			if !ok {
				return &ScenarioError{File: sc.file, Line: k.Line, Field: p, Msg: "unknown field" + suggest(k.Value, fields)}
			}
			if err := sc.checkFields(v, ft, p); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return sc.errAtNode(n, at, "want a list")
		}
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", at, i)
			sc.pos[p] = item.Line
			if err := sc.checkFields(item, t.Elem(), p); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return sc.errAtNode(n, at, "want a mapping")
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(k.Value)
			sc.pos[p] = k.Line
			if err := sc.checkFields(v, t.Elem(), p); err != nil {
				return err
			}
		}
	default:
		if n.Kind != yaml.ScalarNode {
			return sc.errAtNode(n, at, "want a single value")
		}
	}
	return nil
}

func (sc *Scenario) errAtNode(n *yaml.Node, field, msg string) error {
	return &ScenarioError{File: sc.file, Line: n.Line, Field: field, Msg: msg}
}

func suggest(k string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for f := range fields {
		names = append(names, f)
	}
	sort.Strings(names)
	return " (known: " + strings.Join(names, ", ") + ")"
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// validate checks references and values, reporting the first problem.
func (sc *Scenario) validate() error {
	if sc.RebuildBandwidth < 0 {
		return sc.errAt("rebuild_bandwidth", "must be positive")
	}
	if sc.FaultedChildWaitPeriod != nil && sc.FaultedChildWaitPeriod.Duration < 0 {
		return sc.errAt("faulted_child_wait_period", "must not be negative")
	}
	if sc.MaxRebuilds < 0 {
		return sc.errAt("max_rebuilds", "must not be negative")
	}
	if sc.HAFailoverDelay.Duration < 0 {
		return sc.errAt("ha_failover_delay", "must not be negative")
	}
	nodes := map[string]bool{}
	for i, n := range sc.Nodes {
		f := fmt.Sprintf("nodes[%d]", i)
		if !idPattern.MatchString(n.ID) {
			return sc.errAt(f+".id", "want a node id of letters, digits, '.', '_' or '-', got %q", n.ID)
		}
		if nodes[n.ID] {
			return sc.errAt(f+".id", "duplicate node %q", n.ID)
		}
		nodes[n.ID] = true
	}
	pools := map[string]*ScenarioPool{}
	for i := range sc.Pools {
		p := &sc.Pools[i]
		f := fmt.Sprintf("pools[%d]", i)
		if !idPattern.MatchString(p.ID) {
			return sc.errAt(f+".id", "want a pool id of letters, digits, '.', '_' or '-', got %q", p.ID)
		}
		if pools[p.ID] != nil {
			return sc.errAt(f+".id", "duplicate pool %q", p.ID)
		}
		if !nodes[p.Node] {
			return sc.errAt(f+".node", "unknown node %q", p.Node)
		}
		if p.Capacity <= 0 {
			return sc.errAt(f+".capacity", "must be positive")
		}
		switch p.Status {
		case "", "Online", "Degraded", "Faulted", "Unknown":
		default:
			return sc.errAt(f+".status", "want Online, Degraded, Faulted or Unknown, got %q", p.Status)
		}
		pools[p.ID] = p
	}
	uuids := map[string]bool{}
	for i := range sc.Volumes {
		v := &sc.Volumes[i]
		f := fmt.Sprintf("volumes[%d]", i)
		if v.UUID != "" {
			if !uuidPattern.MatchString(v.UUID) {
				return sc.errAt(f+".uuid", "want a lower-case uuid, got %q", v.UUID)
			}
			if uuids[v.UUID] {
				return sc.errAt(f+".uuid", "duplicate volume %q", v.UUID)
			}
			uuids[v.UUID] = true
		}
		if err := sc.validateVolumeShape(f, int64(v.Size), v.Replicas, pools); err != nil {
			return err
		}
		if v.NumSnapshots < 0 {
			return sc.errAt(f+".num_snapshots", "must not be negative")
		}
		if v.NumReplicas < 0 || v.NumReplicas > 255 {
			return sc.errAt(f+".num_replicas", "must be within [1, 255]")
		}
		if v.NexusNode != "" {
			if !v.Published {
				return sc.errAt(f+".nexus_node", "set on a volume that is not published")
			}
			if !nodes[v.NexusNode] {
				return sc.errAt(f+".nexus_node", "unknown node %q", v.NexusNode)
			}
		}
		if v.Workload != nil {
			if err := v.Workload.Validate(); err != nil {
				return sc.errAt(f+".workload."+strings.SplitN(err.Error(), ":", 2)[0], "%s", err)
			}
		}
	}
	for i := range sc.Generate {
		g := &sc.Generate[i]
		f := fmt.Sprintf("generate[%d]", i)
		if g.Count <= 0 {
			return sc.errAt(f+".count", "must be positive")
		}
		if g.Replicas == 0 {
			g.Replicas = 1
		}
		if g.Size <= 0 {
			return sc.errAt(f+".size", "must be positive")
		}
		if len(g.Pools) == 0 {
			return sc.errAt(f+".pools", "list the pools to spread replicas over")
		}
		distinct := map[string]bool{}
		for j, id := range g.Pools {
			p, ok := pools[id]
			if !ok {
				return sc.errAt(fmt.Sprintf("%s.pools[%d]", f, j), "unknown pool %q", id)
			}
			distinct[p.Node] = true
		}
		if g.Replicas < 1 || g.Replicas > len(distinct) {
			return sc.errAt(f+".replicas", "want 1..%d (one replica per node of the listed pools)", len(distinct))
		}
		if g.Workload != nil {
			if err := g.Workload.Validate(); err != nil {
				return sc.errAt(f+".workload."+strings.SplitN(err.Error(), ":", 2)[0], "%s", err)
			}
		}
	}
	return nil
}

func (sc *Scenario) validateVolumeShape(f string, size int64, replicas []string, pools map[string]*ScenarioPool) error {
	if size <= 0 {
		return sc.errAt(f+".size", "must be positive")
	}
	if len(replicas) == 0 {
		return sc.errAt(f+".replicas", "a volume needs at least one replica pool")
	}
	seen := map[string]int{}
	for j, id := range replicas {
		p, ok := pools[id]
		if !ok {
			return sc.errAt(fmt.Sprintf("%s.replicas[%d]", f, j), "unknown pool %q", id)
		}
		if k, dup := seen[p.Node]; dup {
			return sc.errAt(fmt.Sprintf("%s.replicas[%d]", f, j),
				"pool %q is on node %q, which already holds replica %d of this volume", id, p.Node, k)
		}
		seen[p.Node] = j
	}
	return nil
}

// ScenarioSource is the YAML text of an embedded scenario.
func ScenarioSource(name string) ([]byte, error) {
	return embedded.ReadFile("scenarios/" + strings.TrimSuffix(name, ".yaml") + ".yaml")
}
