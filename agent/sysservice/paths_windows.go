package sysservice

// StateDir is the service's state directory.
const StateDir = `C:\ProgramData\Gatehouse\agent`

const exeSuffix = ".exe"
