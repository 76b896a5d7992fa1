package sysservice

// StateDir is the service's state directory.
const StateDir = "/Library/Application Support/Gatehouse/agent"

const exeSuffix = ""
