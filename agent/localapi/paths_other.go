//go:build !darwin && !windows

package localapi

// ServiceSocket is the local API socket of the agent installed as a
// system service (`gatehouse service install`): open to every account,
// the agent checks each caller's uid.
const ServiceSocket = "/run/gatehouse-agent/agent.sock"
