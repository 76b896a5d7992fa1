package policyfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/policy"
)

// The file's sections, in the order export writes them.
const (
	SectionGroups     = "groups"
	SectionApps       = "apps"
	SectionProfiles   = "posture_profiles"
	SectionPolicies   = "policies"
	SectionExceptions = "exceptions"
	SectionTests      = "tests"
)

var sections = []string{SectionGroups, SectionApps, SectionProfiles, SectionPolicies, SectionExceptions, SectionTests}

// Limits on a file beyond its size (api.MaxPolicyFileBytes).
const (
	maxTests  = 1000
	maxErrors = 20 // reported at once; the rest are counted
)

// Objects is a whole policy: what a file declares and what the store
// holds. Every list is sorted by name (exceptions by ID).
type Objects struct {
	Groups     []api.Group
	Apps       []api.App
	Profiles   []api.PostureProfile
	Policies   []api.Policy
	Exceptions []api.Exception
}

// File is a parsed policy file.
type File struct {
	Objects
	Tests []Test

	name string
	src  []byte // as given: lines and columns are counted in it
	std  []byte // standardized: the same offsets, comments blanked
	ix   index
	// paths are where each object was in the file ("apps[3]"), by
	// section and name: the lists are sorted after parsing.
	paths map[string]string
}

// Error is one problem of a file, at its line and column.
type Error struct {
	File      string
	Line, Col int
	// Path is where in the document: "policies[1].apps[0]".
	Path string
	Msg  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Errors are all the problems found, in file order.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, 0, len(es))
	for i, e := range es {
		if i == maxErrors {
			lines = append(lines, fmt.Sprintf("… and %d more", len(es)-maxErrors))
			break
		}
		lines = append(lines, e.Error())
	}
	return strings.Join(lines, "\n")
}

// errs collects a file's errors.
type errs struct {
	f    *File
	list Errors
}

// at records msg at path (the closest indexed path at or above it).
func (e *errs) at(path, format string, args ...any) {
	off := e.f.offset(path)
	line, col := lineCol(e.f.src, off)
	e.list = append(e.list, &Error{File: e.f.name, Line: line, Col: col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (e *errs) err() error {
	if len(e.list) == 0 {
		return nil
	}
	slices.SortStableFunc(e.list, func(a, b *Error) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
	return e.list
}

// offset is where path starts in the file: the path itself, else its
// key, else the nearest enclosing path indexed.
func (f *File) offset(path string) int {
	for p := path; ; {
		if off, ok := f.ix[p]; ok {
			return off
		}
		if off, ok := f.ix[p+"#key"]; ok {
			return off
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			return 0
		}
		p = p[:i]
	}
}

// Parse reads a policy file: HuJSON syntax, then each section's objects
// into the api types (unknown fields refused), then the file as a whole
// (names unique, references to objects of the file, CEL conditions). Its
// error is Errors, each at the file's line and column; name is the
// file's name for them.
func Parse(name string, src []byte) (*File, error) {
	f := &File{name: name, src: src}
	e := &errs{f: f}
	if len(src) > api.MaxPolicyFileBytes {
		e.at("", "the file is %d bytes; at most %d are taken: split what is generated out, or ask for a higher limit", len(src), api.MaxPolicyFileBytes)
		return nil, e.err()
	}
	std, err := standardize(src)
	if err == nil {
		f.std = std
		f.ix, err = buildIndex(std)
	}
	if pe, ok := errors.AsType[*posError](err); ok {
		line, col := lineCol(src, pe.off)
		return nil, Errors{{File: name, Line: line, Col: col, Msg: pe.msg}}
	} else if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(std)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		e.at("", "a policy file is one JSON object: { \"groups\": [ … ], \"apps\": [ … ], … }")
		return nil, e.err()
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(std, &top); err != nil {
		e.at("", "%v", err)
		return nil, e.err()
	}
	for key := range top {
		if !slices.Contains(sections, key) {
			e.at(key+"#key", "unknown section %q: the sections are %s", key, strings.Join(sections, ", "))
		}
	}
	decodeSection(e, top, SectionGroups, &f.Groups)
	decodeSection(e, top, SectionApps, &f.Apps)
	decodeSection(e, top, SectionProfiles, &f.Profiles)
	decodeSection(e, top, SectionPolicies, &f.Policies)
	decodeSection(e, top, SectionExceptions, &f.Exceptions)
	f.decodeTests(e, top[SectionTests])
	if len(e.list) == 0 {
		f.checkWhole(e)
	}
	if len(e.list) == 0 {
		// Each section is the whole set of its kind: one left out by
		// mistake would delete them all, so it must be there, if empty.
		for _, sec := range sections[:5] {
			if _, ok := top[sec]; !ok {
				e.at("", "section %q is missing: the file declares every kind in full (write \"%s\": [] for none; leaving it out would delete them all)", sec, sec)
			}
		}
	}
	if err := e.err(); err != nil {
		return nil, err
	}
	f.paths = map[string]string{}
	record := func(sec string, i int, name string) { f.paths[sec+"\x00"+name] = fmt.Sprintf("%s[%d]", sec, i) }
	for i, g := range f.Groups {
		record(SectionGroups, i, g.Name)
	}
	for i, a := range f.Apps {
		record(SectionApps, i, a.Name)
	}
	for i, p := range f.Profiles {
		record(SectionProfiles, i, p.Name)
	}
	for i, p := range f.Policies {
		record(SectionPolicies, i, p.Name)
	}
	for i, x := range f.Exceptions {
		record(SectionExceptions, i, x.ID)
	}
	f.sort()
	return f, nil
}

// decodeSection decodes top[sec], a list, into *out, one element at a
// time so each error names its element.
func decodeSection[T any](e *errs, top map[string]json.RawMessage, sec string, out *[]T) {
	raw, ok := top[sec]
	if !ok {
		return
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		e.at(sec, "section %q must be a list: [ { … }, … ]", sec)
		return
	}
	for i, el := range elems {
		path := sec + "[" + strconv.Itoa(i) + "]"
		var v T
		if decodeStrict(e, path, el, &v) {
			*out = append(*out, v)
		}
	}
}

// decodeStrict decodes raw (the value at path) into v, refusing unknown
// fields; it reports false after recording the error at its field.
func decodeStrict(e *errs, path string, raw json.RawMessage, v any) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return true
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		where := path
		if te.Field != "" {
			where = path + "." + te.Field
		}
		what := "this value"
		if te.Field != "" {
			what = fmt.Sprintf("field %q", te.Field)
		}
		e.at(where, "%s: %s given where %s is wanted", what, te.Value, typeWord(te.Type))
		return false
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field, _ := strconv.Unquote(name)
		e.at(e.f.keyUnder(path, field)+"#key", "unknown field %q%s", field, knownFields(reflect.TypeOf(v).Elem(), e.f.ix, path, field))
		return false
	}
	e.at(path, "%s", strings.TrimPrefix(err.Error(), "json: "))
	return false
}

// keyUnder is the path of the first key named field at or under path.
func (f *File) keyUnder(path, field string) string {
	best, bestOff := path, -1
	for p, off := range f.ix {
		k, ok := strings.CutSuffix(p, "#key")
		if !ok || !strings.HasPrefix(k, path) || !(strings.HasSuffix(k, "."+field) || k == field) {
			continue
		}
		if bestOff < 0 || off < bestOff {
			best, bestOff = k, off
		}
	}
	return best
}

// knownFields lists t's JSON fields when field sits right under path,
// to help fix a typo.
func knownFields(t reflect.Type, ix index, path, field string) string {
	if _, direct := ix[path+"."+field+"#key"]; !direct || t.Kind() != reflect.Struct {
		return " (a typo?)"
	}
	return "; the fields here are " + strings.Join(jsonFields(t), ", ")
}

// jsonFields are t's JSON field names, embedded structs' included.
func jsonFields(t reflect.Type) []string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		n, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case f.Anonymous && n == "" && f.Type.Kind() == reflect.Struct:
			for _, inner := range jsonFields(f.Type) {
				if !slices.Contains(names, inner) {
					names = append(names, inner)
				}
			}
		case n != "" && n != "-" && !slices.Contains(names, n):
			names = append(names, n)
		}
	}
	return names
}

func typeWord(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8,
		reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	}
	return t.String()
}

// checkWhole checks the file as a whole: unique names, references
// between its objects, conditions.
func (f *File) checkWhole(e *errs) {
	groups := unique(e, SectionGroups, "group", f.Groups, func(g api.Group) string { return g.Name })
	apps := unique(e, SectionApps, "app", f.Apps, func(a api.App) string { return a.Name })
	profiles := unique(e, SectionProfiles, "posture profile", f.Profiles, func(p api.PostureProfile) string { return p.Name })
	unique(e, SectionPolicies, "policy", f.Policies, func(p api.Policy) string { return p.Name })
	for i, ex := range f.Exceptions {
		if ex.ID == "" {
			e.at(fmt.Sprintf("%s[%d]", SectionExceptions, i), "exception needs an \"id\": the name the file keeps it by (e.g. \"fw-alice-laptop\")")
		}
	}
	unique(e, SectionExceptions, "exception", f.Exceptions, func(x api.Exception) string { return x.ID })
	for i, g := range f.Groups {
		seen := map[string]bool{}
		for j, m := range g.Members {
			if seen[m] {
				e.at(fmt.Sprintf("%s[%d].members[%d]", SectionGroups, i, j), "group %q lists %q twice", g.Name, m)
			}
			seen[m] = true
		}
	}
	for i, p := range f.Policies {
		path := fmt.Sprintf("%s[%d]", SectionPolicies, i)
		refs(e, path+".groups", "policy", p.Name, "group", p.Groups, groups)
		refs(e, path+".apps", "policy", p.Name, "app", p.Apps, apps)
		refs(e, path+".posture_profiles", "policy", p.Name, "posture profile", p.PostureProfiles, profiles)
		if err := policy.CheckCondition(p.Condition); err != nil {
			e.at(path+".condition", "policy %q: condition: %v", p.Name, err)
		}
	}
	if len(f.Tests) > maxTests {
		e.at(SectionTests, "%d tests; at most %d are run", len(f.Tests), maxTests)
	}
	for i, t := range f.Tests {
		t.check(e, fmt.Sprintf("%s[%d]", SectionTests, i), apps)
	}
}

// unique records every name given twice in sec (and an empty one), and
// returns the set of names.
func unique[T any](e *errs, sec, noun string, vs []T, name func(T) string) map[string]bool {
	seen := map[string]bool{}
	for i, v := range vs {
		n := name(v)
		path := fmt.Sprintf("%s[%d]", sec, i)
		switch {
		case n == "" && noun != "exception":
			e.at(path, "%s needs a \"name\"", noun)
		case seen[n] && n != "":
			e.at(path, "%s %q is declared twice: keep one", noun, n)
		}
		seen[n] = true
	}
	return seen
}

// refs records every name of names (at path) that is not in declared.
func refs(e *errs, path, noun, name, kind string, names []string, declared map[string]bool) {
	for j, n := range names {
		if !declared[n] {
			e.at(fmt.Sprintf("%s[%d]", path, j), "%s %q names %s %q, which the file does not declare: add it to %q or fix the name",
				noun, name, kind, n, sectionOf(kind))
		}
	}
}

func sectionOf(kind string) string {
	switch kind {
	case "group":
		return SectionGroups
	case "app":
		return SectionApps
	}
	return SectionProfiles
}

func (f *File) sort() {
	byName := func(a, b string) int { return strings.Compare(a, b) }
	slices.SortFunc(f.Groups, func(a, b api.Group) int { return byName(a.Name, b.Name) })
	for i := range f.Groups {
		slices.Sort(f.Groups[i].Members)
	}
	slices.SortFunc(f.Apps, func(a, b api.App) int { return byName(a.Name, b.Name) })
	slices.SortFunc(f.Profiles, func(a, b api.PostureProfile) int { return byName(a.Name, b.Name) })
	slices.SortFunc(f.Policies, func(a, b api.Policy) int { return byName(a.Name, b.Name) })
	slices.SortFunc(f.Exceptions, func(a, b api.Exception) int { return byName(a.ID, b.ID) })
}

// Checker is the controller's own checks of each kind of object, the
// ones its admin API makes (names, upstreams, profile specs, sign-in
// ages), run on the file's objects before anything is compared or
// stored. They may complete an object in place as the admin API does
// (an app's default gateway and its virtual IP). Users are not declared
// by the file: they come from sign-up or an IdP, so the checker says
// whether one exists.
type Checker interface {
	Group(ctx context.Context, g *api.Group) error
	App(ctx context.Context, a *api.App) error
	Profile(ctx context.Context, p *api.PostureProfile) error
	Policy(ctx context.Context, p *api.Policy) error
	Exception(ctx context.Context, x *api.Exception) error
	// User fails if there is no user named name.
	User(ctx context.Context, name string) error
}

// Check runs c over every object of f, in the file's order, each error
// placed at its object (groups' members at the member).
func (f *File) Check(ctx context.Context, c Checker) error {
	e := &errs{f: f}
	// f is sorted by now: each object's path is found by its name.
	for i := range f.Groups {
		g := &f.Groups[i]
		path := f.pathOf(SectionGroups, g.Name)
		if err := c.Group(ctx, g); err != nil {
			e.at(path, "%v", err)
		}
		for _, m := range g.Members {
			if err := c.User(ctx, m); err != nil {
				e.at(f.memberPath(path, m), "group %q: member %q: %v", g.Name, m, err)
			}
		}
	}
	for i := range f.Apps {
		if err := c.App(ctx, &f.Apps[i]); err != nil {
			e.at(f.pathOf(SectionApps, f.Apps[i].Name), "%v", err)
		}
	}
	for i := range f.Profiles {
		if err := c.Profile(ctx, &f.Profiles[i]); err != nil {
			e.at(f.pathOf(SectionProfiles, f.Profiles[i].Name), "%v", err)
		}
	}
	for i := range f.Policies {
		if err := c.Policy(ctx, &f.Policies[i]); err != nil {
			e.at(f.pathOf(SectionPolicies, f.Policies[i].Name), "%v", err)
		}
	}
	for i := range f.Exceptions {
		if err := c.Exception(ctx, &f.Exceptions[i]); err != nil {
			e.at(f.pathOf(SectionExceptions, f.Exceptions[i].ID), "exception %q: %v", f.Exceptions[i].ID, err)
		}
	}
	return e.err()
}

// pathOf is the path of the object of sec named name (exceptions: by
// ID) as it was in the file.
func (f *File) pathOf(sec, name string) string {
	if p, ok := f.paths[sec+"\x00"+name]; ok {
		return p
	}
	return sec
}

// memberPath is the path of member m in the group at path.
func (f *File) memberPath(path, m string) string {
	for j := 0; ; j++ {
		p := fmt.Sprintf("%s.members[%d]", path, j)
		if _, ok := f.ix[p]; !ok {
			return path
		}
		if f.stringAt(p) == m {
			return p
		}
	}
}

// stringAt is the JSON string at path, or "".
func (f *File) stringAt(path string) string {
	off, ok := f.ix[path]
	if !ok {
		return ""
	}
	var s string
	if json.NewDecoder(bytes.NewReader(f.std[off:])).Decode(&s) != nil {
		return ""
	}
	return s
}
