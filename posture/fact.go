package posture

import (
	"strings"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// The parsers in macparse.go and winparse.go build facts with these: every
// fact names its source, and an unknown one says why.

func knownBoolFrom(v bool, source string) api.BoolFact {
	return api.BoolFact{Value: v, Known: true, Source: source}
}

func unknownBool(source, reason string) api.BoolFact {
	return api.BoolFact{Source: source, Reason: reason}
}

func knownStringFrom(v, source string) api.StringFact {
	return api.StringFact{Value: v, Known: true, Source: source}
}

func unknownString(source, reason string) api.StringFact {
	return api.StringFact{Source: source, Reason: reason}
}

// unrecognised is the reason for output a parser does not know: its first
// line, short, so a new OS release's wording shows up in the report.
func unrecognised(out string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	line = strings.TrimSpace(line)
	if line == "" {
		return "empty output"
	}
	const max = 120
	if len(line) > max {
		line = line[:max] + "…"
	}
	return "unrecognised output: " + line
}
