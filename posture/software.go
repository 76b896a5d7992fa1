package posture

import "github.com/gatehouse-ztna/gatehouse/api"

// softwareVerdict is one required executable's fact with the reason
// behind it ("owned by uid 1000", "sha256 differs").
type softwareVerdict struct {
	Fact   api.BoolFact
	Reason string
}
