package policyfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Diff lists what making live into want changes: per object, created,
// changed (with the changed fields) or deleted, in section order and by
// name. A field absent and a field at its zero value are the same.
func Diff(live, want Objects) []api.PolicyChange {
	var out []api.PolicyChange
	out = diffSection(out, "group", live.Groups, want.Groups, func(g api.Group) string { return g.Name })
	out = diffSection(out, "app", live.Apps, want.Apps, func(a api.App) string { return a.Name })
	out = diffSection(out, "posture_profile", live.Profiles, want.Profiles, func(p api.PostureProfile) string { return p.Name })
	out = diffSection(out, "policy", live.Policies, want.Policies, func(p api.Policy) string { return p.Name })
	out = diffSection(out, "exception", live.Exceptions, want.Exceptions, func(x api.Exception) string { return x.ID })
	return out
}

func diffSection[T any](out []api.PolicyChange, object string, live, want []T, name func(T) string) []api.PolicyChange {
	have := map[string]T{}
	for _, v := range live {
		have[name(v)] = v
	}
	wanted := map[string]bool{}
	var mine []api.PolicyChange
	for _, v := range want {
		n := name(v)
		wanted[n] = true
		old, ok := have[n]
		switch {
		case !ok:
			mine = append(mine, api.PolicyChange{Object: object, Name: n, Kind: api.PolicyCreated})
		case len(diffFields(old, v)) > 0:
			mine = append(mine, api.PolicyChange{Object: object, Name: n, Kind: api.PolicyChanged, Fields: diffFields(old, v)})
		}
	}
	for _, v := range live {
		if !wanted[name(v)] {
			mine = append(mine, api.PolicyChange{Object: object, Name: name(v), Kind: api.PolicyDeleted})
		}
	}
	slices.SortStableFunc(mine, func(a, b api.PolicyChange) int { return strings.Compare(a.Name, b.Name) })
	return append(out, mine...)
}

// diffFields compares a and b field by field through their JSON, zero
// values dropped.
func diffFields(a, b any) []api.PolicyFieldChange {
	am, bm := fieldsOf(a), fieldsOf(b)
	keys := map[string]bool{}
	for k := range am {
		keys[k] = true
	}
	for k := range bm {
		keys[k] = true
	}
	var out []api.PolicyFieldChange
	for _, k := range slices.Sorted(mapKeys(keys)) {
		if !reflect.DeepEqual(am[k], bm[k]) {
			out = append(out, api.PolicyFieldChange{Field: k, Old: jsonText(am[k]), New: jsonText(bm[k])})
		}
	}
	return out
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// fieldsOf is v's JSON object with zero values (null, "", false, 0,
// empty lists and objects) left out.
func fieldsOf(v any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	for k, x := range m {
		if isZero(x) {
			delete(m, k)
		}
	}
	return m
}

func isZero(x any) bool {
	switch v := x.(type) {
	case nil:
		return true
	case string:
		return v == "" || v == "0001-01-01T00:00:00Z"
	case bool:
		return !v
	case float64:
		return v == 0
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

func jsonText(x any) string {
	if x == nil {
		return ""
	}
	b, _ := json.Marshal(x)
	return string(b)
}

// Format writes objs as a policy file: a header comment, the sections in
// a fixed order, objects sorted by name, fields in the api types' order,
// so the same policy always gives the same bytes (and export → apply
// changes nothing).
func Format(objs Objects) []byte {
	objs = sorted(objs)
	var b bytes.Buffer
	b.WriteString("// Gatehouse policy (HuJSON: comments and trailing commas are fine).\n")
	b.WriteString("// Check: gatehouse admin policy diff FILE   Apply: gatehouse admin policy apply FILE\n")
	b.WriteString("{\n")
	section := func(name string, v any) {
		body, err := json.MarshalIndent(v, "\t", "\t")
		if err != nil {
			body = []byte("[]")
		}
		if string(body) == "null" {
			body = []byte("[]")
		}
		fmt.Fprintf(&b, "\t%q: %s,\n", name, body)
	}
	section(SectionGroups, objs.Groups)
	section(SectionApps, objs.Apps)
	section(SectionProfiles, objs.Profiles)
	section(SectionPolicies, objs.Policies)
	section(SectionExceptions, objs.Exceptions)
	fmt.Fprintf(&b, "\t%q: [\n", SectionTests)
	b.WriteString("\t\t// { \"name\": \"alice without disk encryption cannot reach grafana\", \"user\": \"alice\", \"app\": \"grafana\",\n")
	b.WriteString("\t\t//   \"posture\": { \"os_family\": \"linux\", \"disk_encryption\": false }, \"expect\": \"deny\", \"reasons\": [\"posture.disk_encryption\"] },\n")
	b.WriteString("\t],\n}\n")
	return b.Bytes()
}

// Version names a policy's content: the hash of its file. Apply refuses
// when the live policy's version is no longer the one a plan was made
// against.
func Version(objs Objects) string {
	sum := sha256.Sum256(Format(objs))
	return hex.EncodeToString(sum[:12])
}

func sorted(o Objects) Objects {
	f := File{Objects: Objects{Groups: slices.Clone(o.Groups), Apps: slices.Clone(o.Apps), Profiles: slices.Clone(o.Profiles),
		Policies: slices.Clone(o.Policies), Exceptions: slices.Clone(o.Exceptions)}}
	for i := range f.Groups {
		f.Groups[i].Members = slices.Clone(f.Groups[i].Members)
	}
	f.sort()
	return f.Objects
}
