package v1

// Weekday names a day of the week in a migration window.
// +kubebuilder:validation:Enum=Mon;Tue;Wed;Thu;Fri;Sat;Sun
type Weekday string

// The days of the week.
const (
	Monday    Weekday = "Mon"
	Tuesday   Weekday = "Tue"
	Wednesday Weekday = "Wed"
	Thursday  Weekday = "Thu"
	Friday    Weekday = "Fri"
	Saturday  Weekday = "Sat"
	Sunday    Weekday = "Sun"
)

// MigrationWindow is a weekly window in which a policy may start new migrations: it opens on
// each of days at start, local time in timeZone, and stays open for duration.
type MigrationWindow struct {
	// Days are the days the window opens on, in timeZone: Mon, Tue, Wed, Thu, Fri, Sat, Sun.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=7
	// +listType=set
	Days []Weekday `json:"days"`

	// Start is the local time the window opens, "HH:MM" on a 24-hour clock. On the day a
	// daylight-saving change skips that time, the window opens as many minutes later as the
	// clock jumped (02:30 on a spring-forward night in Europe/Berlin opens at 03:30); on the
	// day one that the clock passes twice, at its second passing.
	// +kubebuilder:validation:MaxLength=5
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	Start string `json:"start"`

	// Duration is how long the window stays open, as a Go duration ("4h", "90m"), at most
	// 168h. It is elapsed time: a window that spans a daylight-saving change closes that long
	// after it opened, whatever the wall clock says.
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('168h')",message="must be a positive duration of at most 168h (7 days), such as 4h"
	Duration string `json:"duration"`

	// TimeZone is the IANA time zone days and start are read in ("Europe/Berlin"); UTC when
	// empty. Only the zones of the tz database Go embeds are accepted.
	// +kubebuilder:default=UTC
	// +optional
	TimeZone TimeZone `json:"timeZone,omitempty"`
}

// ApprovalMode says whether a policy's migrations start on their own or wait for a person.
// +kubebuilder:validation:Enum=Automatic;Manual
type ApprovalMode string

const (
	// ApprovalAutomatic: migrations start as soon as a slot is free.
	ApprovalAutomatic ApprovalMode = "Automatic"
	// ApprovalManual: migrations wait in phase WaitingApproval until a person approves or
	// rejects them, or they expire after approvalTimeout.
	ApprovalManual ApprovalMode = "Manual"
)

// Annotations on a TierMigration that approve or reject it while it is WaitingApproval. Any
// tool may set them (kubectl annotate, GitOps, internal/approval).
const (
	// AnnotationApproved set to "true" lets a WaitingApproval migration go on to Pending.
	AnnotationApproved = "storage.billyronks.io/approved"
	// AnnotationRejected set to "true" ends a WaitingApproval migration Failed with reason
	// Rejected. It wins over AnnotationApproved.
	AnnotationRejected = "storage.billyronks.io/rejected"
)

// AntiFlap configures the exponential cooldown of volumes that flip between the tiers. The base
// is the policy's cooldownPeriod.
type AntiFlap struct {
	// WindowCooldowns: a move back to the tier a volume left, made within windowCooldowns times
	// the volume's current cooldown of its previous move, is a flip; each flip doubles the
	// volume's cooldown. A move made later than that resets the count. 0 disables anti-flap.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=3
	// +optional
	WindowCooldowns *int32 `json:"windowCooldowns,omitempty"`

	// MaxCooldown caps the lengthened cooldown, as a Go duration. A cap below cooldownPeriod
	// leaves the cooldown at cooldownPeriod.
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="must be a positive duration such as 168h"
	// +kubebuilder:default="168h"
	// +optional
	MaxCooldown string `json:"maxCooldown,omitempty"`
}

// AnnotationMoves on a PersistentVolume records the volume's anti-flap state, written by the
// operator when it starts a real migration: "<flips>;<tier moved to>;<RFC 3339 time>", e.g.
// "2;SATA;2026-11-30T23:00:00Z". It survives restarts and the clean-up of TierMigrations. Remove
// it to forget the volume's flips.
const AnnotationMoves = "storage.billyronks.io/moves"
