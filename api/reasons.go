package api

// Reason and error codes: the one vocabulary the controller, the agent,
// the CLI, the tray and (later) the audit log use for why something was
// allowed, denied, revoked or refused. A code is stable once shipped:
// messages may be reworded, codes may not. CodeRateLimited is in wire.go.
const (
	// Decisions of the policy engine.
	CodePolicyAllow          = "policy.allow"           // a policy allows the app
	CodePolicyNoMatch        = "policy.no_match"        // no policy gives the user the app
	CodePolicyMissingProfile = "policy.missing_profile" // a policy names a profile that does not exist
	CodeAppUnknown           = "app.unknown"            // there is no such app
	CodeUserUnknown          = "user.unknown"           // the device's user no longer exists
	CodePolicyCondition      = "policy.condition"       // a policy's CEL condition is false, failed or read an unknown fact
	CodeExceptionWaived      = "exception.waived"       // an allowed decision passed only because an exception waived a check
	// Just-in-time access (api/access.go): the policy needs an approved request.
	CodeAccessRequired = "access.required" // no request for the app is approved
	CodeAccessPending  = "access.pending"  // a request waits for an approver
	CodeAccessExpired  = "access.expired"  // the approved time ran out
	CodeAccessDenied   = "access.denied"   // an approver denied the last request, or its access was ended early

	// Identity: who is at the keyboard (issue 7, docs/identity.md). Each
	// denial's message ends with its fix ("sign in again: gatehouse login").
	CodeSignInRequired = "session.none"    // the device needs a signed-in user and has none
	CodeSessionExpired = "session.expired" // the session's tokens ran out unrefreshed
	CodeSessionRevoked = "session.revoked" // the session was ended (logout, an admin, token theft)
	CodeSessionTooOld  = "session.too_old" // the policy wants a newer sign-in
	CodeMFARequired    = "mfa.required"    // the policy wants a second factor the session lacks
	CodeMFATooOld      = "mfa.too_old"     // the second factor was used longer ago than the policy allows
	CodeDevicePending  = "device.pending"  // the device waits for an admin's approval
	CodeDeviceBlocked  = "device.blocked"  // an admin blocked the device
	CodeUserDisabled   = "user.disabled"   // an admin disabled the user

	// Posture checks: "posture." + the check's name.
	CodePostureOSFamily       = "posture.os_family"
	CodePostureMinKernel      = "posture.min_kernel"
	CodePostureMinOSVersion   = "posture.min_os_version"
	CodePostureDiskEncryption = "posture.disk_encryption"
	CodePostureFirewall       = "posture.firewall"
	// CodePostureProcessPrefix + a process name: a required process.
	CodePostureProcessPrefix = "posture.process:"
	// Issue 8's typed checks (PostureProfile's newer fields).
	CodePostureMinOSVersions   = "posture.min_os_versions" // MinOSVersions, per os_name or os_family
	CodePostureScreenLock      = "posture.screen_lock"
	CodePostureSecureBoot      = "posture.secure_boot"
	CodePostureAutoUpdates     = "posture.auto_updates"
	CodePostureDaysSinceUpdate = "posture.max_days_since_update"
	CodePostureMinAgentVersion = "posture.min_agent_version" // older, a development build, or not a version
	CodePostureSIP             = "posture.sip"
	CodePostureGatekeeper      = "posture.gatekeeper"
	CodePostureAntivirus       = "posture.antivirus"
	CodePostureDomainJoined    = "posture.domain_joined"
	// CodePostureForbiddenPrefix + a spec: forbidden software runs (or
	// whether it does is unknown).
	CodePostureForbiddenPrefix = "posture.forbidden:"
	// CodePostureFilePrefix + a spec: a required file is missing, differs
	// or is unknown.
	CodePostureFilePrefix = "posture.file:"
	// CodePostureCondition: a posture profile's CEL condition is false,
	// failed or read an unknown fact.
	CodePostureCondition = "posture.condition"

	// Grant lifecycle, decided by the controller.
	CodeGatewayUnavailable  = "gateway.unavailable"  // the app's gateway refused or could not take the peer
	CodeGatewayOffline      = "gateway.offline"      // the app's gateway is not connected
	CodeGatewayChanged      = "gateway.changed"      // the app moved to another gateway
	CodeGatewayLostGrant    = "gateway.lost_grant"   // the gateway no longer holds the grant's peer (restarted, or expired it)
	CodeLeaseExpired        = "lease.expired"        // the lease ran out before it was renewed
	CodeControllerExhausted = "controller.exhausted" // no overlay address left
	CodeDeviceDeleted       = "device.deleted"       // an admin removed the device
	CodeUserDeleted         = "user.deleted"         // an admin removed the user

	// Decided by the agent on its own.
	CodeControllerLostGrant = "controller.lost_grant" // the controller no longer knows the tunnel
	CodeAppRemoved          = "app.removed"           // the app is no longer offered to the device

	// Errors (ErrorMsg codes, and reasons of a refused request).
	CodeBadRequest   = "bad_request"  // a message the controller cannot accept
	CodeMalformed    = "malformed"    // a message that is not valid JSON
	CodeUnauthorized = "unauthorized" // the device could not prove its key, or is gone
)
