package api

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"
)

// BoolFact is a yes/no posture fact. Known is false when the OS could not
// tell; an unknown fact fails every check that asks about it.
//
// Source names where the fact came from (a command or a file), Reason says
// why it is unknown, or why a known value is what it is when that is not
// obvious (FileVault encryption still in progress). Both are for people
// reading the report; checks look only at Value and Known.
type BoolFact struct {
	Value  bool   `json:"value"`
	Known  bool   `json:"known"`
	Source string `json:"source,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// StringFact is a textual posture fact (an OS version, a hostname). Source
// and Reason are as for BoolFact.
type StringFact struct {
	Value  string `json:"value"`
	Known  bool   `json:"known"`
	Source string `json:"source,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// IntFact is a numeric posture fact (uptime in seconds). Source and
// Reason are as for BoolFact.
type IntFact struct {
	Value  int64  `json:"value"`
	Known  bool   `json:"known"`
	Source string `json:"source,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Known helpers keep collectors short.
func KnownBool(v bool) BoolFact       { return BoolFact{Value: v, Known: true} }
func KnownString(v string) StringFact { return StringFact{Value: v, Known: true} }
func KnownInt(v int64) IntFact        { return IntFact{Value: v, Known: true} }

// PostureReport is what an agent says about its device. Collectors fill it;
// only the controller decides what it means.
type PostureReport struct {
	CollectedAt    time.Time  `json:"collected_at"`
	AgentVersion   string     `json:"agent_version"`
	OSFamily       StringFact `json:"os_family"` // linux, darwin, windows
	OSName         StringFact `json:"os_name"`   // e.g. debian, ubuntu
	OSVersion      StringFact `json:"os_version"`
	Kernel         StringFact `json:"kernel"`
	Hostname       StringFact `json:"hostname"`
	Serial         StringFact `json:"serial"`
	DiskEncryption BoolFact   `json:"disk_encryption"` // the root volume
	Firewall       BoolFact   `json:"firewall"`
	ScreenLock     BoolFact   `json:"screen_lock"`
	SecureBoot     BoolFact   `json:"secure_boot"`
	UptimeSeconds  IntFact    `json:"uptime_seconds"`
	// OSBuild is the build of OSVersion: macOS BuildVersion (23E224),
	// Windows BuildNumber (22631).
	OSBuild StringFact `json:"os_build,omitzero"`
	// SIP is macOS System Integrity Protection, fully enabled.
	SIP BoolFact `json:"sip,omitzero"`
	// Gatekeeper is macOS Gatekeeper: downloaded apps are assessed.
	Gatekeeper BoolFact `json:"gatekeeper,omitzero"`
	// Antivirus is Windows Defender antivirus with real-time protection.
	Antivirus BoolFact `json:"antivirus,omitzero"`
	// DomainJoined says whether a Windows machine is joined to Domain.
	DomainJoined BoolFact   `json:"domain_joined,omitzero"`
	Domain       StringFact `json:"domain,omitzero"`
	// AutoUpdates: automatic OS updates are configured (unattended-upgrades,
	// dnf-automatic, softwareupdate schedule, Windows Update policy).
	AutoUpdates BoolFact `json:"auto_updates,omitzero"`
	// DaysSinceUpdate is the whole days since the OS package database last
	// changed (the last package install or upgrade).
	DaysSinceUpdate IntFact `json:"days_since_update,omitzero"`
	// MachineID is the OS's stable machine identifier (/etc/machine-id,
	// IOPlatformUUID, MachineGuid).
	MachineID StringFact `json:"machine_id,omitzero"`
	// Processes holds only the required software the controller asked
	// about: spec (a process name, or an executable path with an optional
	// sha256 or owning package, see ParseSoftware) → running.
	Processes map[string]BoolFact `json:"processes,omitempty"`
	// Forbidden holds only the forbidden software the controller asked
	// about: spec → running (Value true means a forbidden program runs).
	// A path or sha256 spec matches any running executable with that
	// content, wherever it lies and whatever its name (ParseSoftware).
	Forbidden map[string]BoolFact `json:"forbidden,omitempty"`
	// Files holds only the required files the controller asked about:
	// spec (an absolute path with an optional sha256) → present as asked.
	Files map[string]BoolFact `json:"files,omitempty"`
	// Overridden names the facts a development override file set instead
	// of the OS; a controller that does not trust overrides treats them as
	// unknown.
	Overridden []string `json:"overridden,omitempty"`
}

// MarkUnknown makes the facts named by their JSON names unknown
// ("processes" makes every asked process unknown). Unknown names are
// ignored.
func (r *PostureReport) MarkUnknown(names []string) {
	v := reflect.ValueOf(r).Elem()
	for i := 0; i < v.NumField(); i++ {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		if !slices.Contains(names, name) {
			continue
		}
		switch f := v.Field(i).Addr().Interface().(type) {
		case *BoolFact:
			*f = BoolFact{}
		case *StringFact:
			*f = StringFact{}
		case *IntFact:
			*f = IntFact{}
		case *map[string]BoolFact:
			for k := range *f {
				(*f)[k] = BoolFact{}
			}
		}
	}
}

// PostureQuery tells the agent which extra facts the policy needs.
type PostureQuery struct {
	// Processes is required software (PostureReport.Processes).
	Processes []string `json:"processes,omitempty"`
	// Forbidden is forbidden software (PostureReport.Forbidden), specs
	// as ParseSoftware reads them.
	Forbidden []string `json:"forbidden,omitempty"`
	// Files is required files (PostureReport.Files), specs as
	// ParseFileSpec reads them.
	Files []string `json:"files,omitempty"`
}

// ParseSoftwareSpec reads one required-software entry. An absolute path,
// optionally followed by ":" and the file's SHA-256 in hex or by ":pkg=" and
// the package that must own it (see ParseSoftware), asks for a running
// process whose executable is that root-owned file; anything else is a
// legacy process name, which any user can fake by naming a copy of another
// program after it. Callers that must honour the package form use
// ParseSoftware.
func ParseSoftwareSpec(spec string) (path, sha256 string, err error) {
	if !strings.HasPrefix(spec, "/") {
		return "", "", nil
	}
	s, err := ParseSoftware(spec)
	if err != nil {
		return "", "", err
	}
	return s.Path, s.SHA256, nil
}

// SoftwareSpec is one parsed software entry (ParseSoftware). Exactly one of
// Name, Path and SHA256 (alone) identifies the program.
type SoftwareSpec struct {
	// Name is a legacy process name; nothing else is set with it.
	Name string
	// Path is the executable's absolute, clean path.
	Path string
	// SHA256 is the executable's SHA-256 in lower-case hex. Without a Path
	// it names a program wherever it lies (forbidden software only).
	SHA256 string
	// Package is the package (dpkg or rpm) that must own Path and find it
	// unmodified; only with Path.
	Package string
}

// sha256Prefix starts a forbidden-software entry naming a program by its
// content alone: "sha256:<64 hex>".
const sha256Prefix = "sha256:"

// ParseSoftware reads one software entry of a posture profile:
//
//	sshd                             a process name (legacy: any user can name a copy so)
//	/usr/sbin/sshd                   a process runs this root-owned file
//	/usr/sbin/sshd:<sha256>          ... and the file has this SHA-256
//	/usr/sbin/sshd:pkg=openssh-server ... and the package manager says the file
//	                                 belongs to that package, unmodified
//	sha256:<sha256>                  any executable with this content, wherever
//	                                 it lies (forbidden software only)
//
// As forbidden software, a path also catches renamed copies: the agent
// looks for any running executable with the SHA-256 of the file at that
// path (or the given SHA-256).
func ParseSoftware(spec string) (SoftwareSpec, error) {
	switch {
	case strings.HasPrefix(spec, sha256Prefix):
		sum, err := parseSHA256(spec, strings.TrimPrefix(spec, sha256Prefix))
		return SoftwareSpec{SHA256: sum}, err
	case !strings.HasPrefix(spec, "/"):
		if spec == "" || strings.ContainsAny(spec, "/:\x00") {
			return SoftwareSpec{}, fmt.Errorf("software %q: want an absolute executable path (/usr/sbin/sshd[:sha256|:pkg=NAME]), sha256:HEX or a process name", spec)
		}
		return SoftwareSpec{Name: spec}, nil
	}
	path, rest, _ := strings.Cut(spec, ":")
	if filepath.Clean(path) != path || strings.ContainsRune(path, 0) {
		return SoftwareSpec{}, fmt.Errorf("software %q: path must be absolute and clean, like /usr/sbin/sshd", spec)
	}
	s := SoftwareSpec{Path: path}
	switch {
	case rest == "":
	case strings.HasPrefix(rest, "pkg="):
		s.Package = strings.TrimPrefix(rest, "pkg=")
		if !validPackageName(s.Package) {
			return SoftwareSpec{}, fmt.Errorf("software %q: package name %q must be letters, digits and + . _ - (dpkg -S PATH or rpm -qf PATH names it)", spec, s.Package)
		}
	default:
		sum, err := parseSHA256(spec, rest)
		if err != nil {
			return SoftwareSpec{}, err
		}
		s.SHA256 = sum
	}
	return s, nil
}

// ParseFileSpec reads one required-file entry: an absolute, clean path,
// optionally followed by ":" and the file's SHA-256 in hex.
func ParseFileSpec(spec string) (path, sha256 string, err error) {
	s, err := ParseSoftware(spec)
	if err == nil && (s.Path == "" || s.Package != "") {
		err = fmt.Errorf("required file %q: want an absolute path, optionally with :SHA256 (sha256sum PATH)", spec)
	}
	if err != nil {
		return "", "", err
	}
	return s.Path, s.SHA256, nil
}

func parseSHA256(spec, sum string) (string, error) {
	if len(sum) != 64 || strings.Trim(strings.ToLower(sum), "0123456789abcdef") != "" {
		return "", fmt.Errorf("software %q: sha256 must be 64 hex digits (sha256sum PATH)", spec)
	}
	return strings.ToLower(sum), nil
}

// validPackageName accepts dpkg and rpm package names.
func validPackageName(name string) bool {
	if name == "" || len(name) > 128 || name[0] == '-' || name[0] == '.' {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("+._-", c)) {
			return false
		}
	}
	return true
}
