package posture

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Override replaces collected facts with fixed values. It is for
// development and tests only: it lets a developer or an end-to-end test
// flip a fact ("disk_encryption": false) without touching the machine.
//
// The zero Override changes nothing.
type Override struct {
	bools map[string]*bool // report JSON key → value; nil makes it unknown
	texts map[string]*string
	ints  map[string]*int64
	// specs overrides the asked-about entries of the map facts
	// (processes, forbidden, files), by report JSON name.
	specs map[string]specOverride
}

// specOverride is one map fact's override: entries by spec, or every
// asked entry unknown ("processes": null).
type specOverride struct {
	entries    map[string]*bool
	allUnknown bool
}

// The facts an override may set, by their PostureReport JSON names.
var (
	boolFacts = map[string]func(*api.PostureReport) *api.BoolFact{
		"disk_encryption": func(r *api.PostureReport) *api.BoolFact { return &r.DiskEncryption },
		"firewall":        func(r *api.PostureReport) *api.BoolFact { return &r.Firewall },
		"screen_lock":     func(r *api.PostureReport) *api.BoolFact { return &r.ScreenLock },
		"secure_boot":     func(r *api.PostureReport) *api.BoolFact { return &r.SecureBoot },
		"auto_updates":    func(r *api.PostureReport) *api.BoolFact { return &r.AutoUpdates },
	}
	stringFacts = map[string]func(*api.PostureReport) *api.StringFact{
		"os_family":  func(r *api.PostureReport) *api.StringFact { return &r.OSFamily },
		"os_name":    func(r *api.PostureReport) *api.StringFact { return &r.OSName },
		"os_version": func(r *api.PostureReport) *api.StringFact { return &r.OSVersion },
		"kernel":     func(r *api.PostureReport) *api.StringFact { return &r.Kernel },
		"hostname":   func(r *api.PostureReport) *api.StringFact { return &r.Hostname },
		"serial":     func(r *api.PostureReport) *api.StringFact { return &r.Serial },
		"machine_id": func(r *api.PostureReport) *api.StringFact { return &r.MachineID },
	}
	intFacts = map[string]func(*api.PostureReport) *api.IntFact{
		"uptime_seconds":    func(r *api.PostureReport) *api.IntFact { return &r.UptimeSeconds },
		"days_since_update": func(r *api.PostureReport) *api.IntFact { return &r.DaysSinceUpdate },
	}
	// Map facts hold only the entries the controller asked about.
	specFacts = map[string]func(*api.PostureReport) *map[string]api.BoolFact{
		"processes": func(r *api.PostureReport) *map[string]api.BoolFact { return &r.Processes },
		"forbidden": func(r *api.PostureReport) *map[string]api.BoolFact { return &r.Forbidden },
		"files":     func(r *api.PostureReport) *map[string]api.BoolFact { return &r.Files },
	}
)

// LoadOverride reads an override file: a JSON object whose keys are
// PostureReport field names and whose values are plain values, null making
// the fact unknown:
//
//	{"disk_encryption": false, "kernel": "6.1.0", "serial": null,
//	 "auto_updates": true, "days_since_update": 3, "machine_id": "…",
//	 "processes": {"falcon-sensor": true}, "forbidden": {"/usr/bin/nc": true},
//	 "files": {"/etc/gatehouse/ca.pem": false}}
//
// An empty file is an empty override; a missing file, an unknown key or a
// value of the wrong type is an error that names the file and the key.
func LoadOverride(path string) (Override, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Override{}, fmt.Errorf("read posture override: %w", err)
	}
	o, err := parseOverride(b)
	if err != nil {
		return Override{}, fmt.Errorf("posture override %s: %w", path, err)
	}
	return o, nil
}

func parseOverride(b []byte) (Override, error) {
	var o Override
	if len(bytes.TrimSpace(b)) == 0 {
		return o, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return o, fmt.Errorf("want a JSON object of facts, e.g. {\"disk_encryption\": false}: %w", err)
	}
	for key, val := range raw {
		null := bytes.Equal(bytes.TrimSpace(val), []byte("null"))
		switch {
		case boolFacts[key] != nil:
			v, err := decodeValue[bool](key, val, null, "true, false or null")
			if err != nil {
				return Override{}, err
			}
			o.bools = setKey(o.bools, key, v)
		case stringFacts[key] != nil:
			v, err := decodeValue[string](key, val, null, "a string or null")
			if err != nil {
				return Override{}, err
			}
			o.texts = setKey(o.texts, key, v)
		case intFacts[key] != nil:
			v, err := decodeValue[int64](key, val, null, "an integer or null")
			if err != nil {
				return Override{}, err
			}
			o.ints = setKey(o.ints, key, v)
		case specFacts[key] != nil:
			var so specOverride
			if null {
				so.allUnknown = true
			} else if err := json.Unmarshal(val, &so.entries); err != nil || so.entries == nil {
				return Override{}, fmt.Errorf("key %q: want an object of spec → true, false or null: %s", key, val)
			}
			if o.specs == nil {
				o.specs = make(map[string]specOverride)
			}
			o.specs[key] = so
		default:
			return Override{}, fmt.Errorf("unknown key %q; known keys: %s", key, strings.Join(overrideKeys(), ", "))
		}
	}
	return o, nil
}

func decodeValue[T any](key string, val json.RawMessage, null bool, want string) (*T, error) {
	if null {
		return nil, nil
	}
	v := new(T)
	if err := json.Unmarshal(val, v); err != nil {
		return nil, fmt.Errorf("key %q: want %s, got %s", key, want, val)
	}
	return v, nil
}

func setKey[T any](m map[string]*T, key string, v *T) map[string]*T {
	if m == nil {
		m = make(map[string]*T)
	}
	m[key] = v
	return m
}

func overrideKeys() []string {
	var keys []string
	for k := range boolFacts {
		keys = append(keys, k)
	}
	for k := range stringFacts {
		keys = append(keys, k)
	}
	for k := range intFacts {
		keys = append(keys, k)
	}
	for k := range specFacts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Keys lists the facts this override sets, sorted; for logs and status.
func (o Override) Keys() []string {
	var keys []string
	for k := range o.bools {
		keys = append(keys, k)
	}
	for k := range o.texts {
		keys = append(keys, k)
	}
	for k := range o.ints {
		keys = append(keys, k)
	}
	for k := range o.specs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Apply sets every overridden fact in r: Known with the value, or unknown
// for a null. Processes, forbidden software and files are overridden only
// where r already has them, so a report still holds exactly the entries
// that were asked about.
func (o Override) Apply(r *api.PostureReport) {
	for _, k := range o.Keys() {
		if !slices.Contains(r.Overridden, k) {
			r.Overridden = append(r.Overridden, k)
		}
	}
	slices.Sort(r.Overridden)
	for k, v := range o.bools {
		f := boolFacts[k](r)
		*f = api.BoolFact{}
		if v != nil {
			*f = api.KnownBool(*v)
		}
	}
	for k, v := range o.texts {
		f := stringFacts[k](r)
		*f = api.StringFact{}
		if v != nil {
			*f = api.KnownString(*v)
		}
	}
	for k, v := range o.ints {
		f := intFacts[k](r)
		*f = api.IntFact{}
		if v != nil {
			*f = api.KnownInt(*v)
		}
	}
	for k, so := range o.specs {
		m := specFacts[k](r)
		if len(*m) == 0 {
			continue
		}
		out := make(map[string]api.BoolFact, len(*m))
		for spec, f := range *m {
			if so.allUnknown {
				f = api.BoolFact{}
			}
			if v, ok := so.entries[spec]; ok {
				f = api.BoolFact{}
				if v != nil {
					f = api.KnownBool(*v)
				}
			}
			out[spec] = f
		}
		// A fresh map: the source may still hold the one in r.
		*m = out
	}
}
