package localapi

// ServiceSocket is the local API socket of the agent installed as a
// system service (`gatehouse service install`). Windows has no caller
// check yet (a named pipe with an ACL is to come), so it lives in the
// service's state dir under ProgramData, meant for SYSTEM and
// administrators (its inherited ACL; not verified on Windows yet).
const ServiceSocket = `C:\ProgramData\Gatehouse\agent\agent.sock`
