package sysservice

// StateDir is the service's state directory.
const StateDir = "/var/lib/gatehouse-agent"

const exeSuffix = ""
