package localapi

// ServiceSocket is the local API's named pipe of the agent installed as a
// system service (`gatehouse service install`): its ACL admits SYSTEM,
// Administrators and the device's user, and the agent checks each
// caller's token.
const ServiceSocket = PipePrefix + "gatehouse-agent"
