package store

import (
	"context"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Apps, posture profiles and policies are plain rows; their lists are JSON.
var (
	apps = newTable("app", "apps",
		[]string{"name", "upstreams", "protocol", "gateway", "virtual_ip"},
		func(a *api.App) []any {
			return []any{&a.Name, listCol{&a.Upstreams}, &a.Protocol, &a.Gateway, &a.VirtualIP}
		})
	profiles = newTable("posture profile", "posture_profiles",
		[]string{"name", "os_family", "min_kernel", "min_os_version", "disk_encryption", "firewall", "required_processes",
			"min_os_versions", "screen_lock", "secure_boot", "auto_updates", "max_days_since_update", "min_agent_version",
			"forbidden_software", "required_files", "sip", "gatekeeper", "antivirus", "domain_joined", "condition"},
		func(p *api.PostureProfile) []any {
			return []any{&p.Name, &p.OSFamily, &p.MinKernel, &p.MinOSVersion, &p.DiskEncryption, &p.Firewall,
				listCol{&p.RequiredProcesses},
				mapCol(&p.MinOSVersions), &p.ScreenLock, &p.SecureBoot, &p.AutoUpdates, &p.MaxDaysSinceUpdate, &p.MinAgentVersion,
				optListCol(&p.ForbiddenSoftware), optListCol(&p.RequiredFiles), &p.SIP, &p.Gatekeeper, &p.Antivirus, &p.DomainJoined, &p.Condition}
		})
	policies = newTable("policy", "policies",
		[]string{"name", "group_names", "app_names", "posture_profiles",
			"require_signin", "require_mfa", "mfa_max_age", "session_max_age", "condition",
			"approvers", "max_access"},
		func(p *api.Policy) []any {
			return []any{&p.Name, listCol{&p.Groups}, listCol{&p.Apps}, listCol{&p.PostureProfiles},
				&p.RequireSignIn, &p.RequireMFA, &p.MFAMaxAge, &p.SessionMaxAge, &p.Condition,
				&p.Approvers, &p.MaxAccess}
		})
)

// CreateApp implements Store.
func (s *SQLite) CreateApp(ctx context.Context, a api.App) error {
	return apps.create(ctx, s.db, a)
}

// UpdateApp implements Store.
func (s *SQLite) UpdateApp(ctx context.Context, a api.App) error {
	return apps.update(ctx, s.db, a)
}

// GetApp implements Store.
func (s *SQLite) GetApp(ctx context.Context, name string) (api.App, error) {
	return apps.get(ctx, s.db, name)
}

// DeleteApp implements Store.
func (s *SQLite) DeleteApp(ctx context.Context, name string) error {
	return apps.delete(ctx, s.db, name)
}

// ListApps implements Store.
func (s *SQLite) ListApps(ctx context.Context) ([]api.App, error) {
	return apps.list(ctx, s.db)
}

// CreateProfile implements Store.
func (s *SQLite) CreateProfile(ctx context.Context, p api.PostureProfile) error {
	return profiles.create(ctx, s.db, p)
}

// UpdateProfile implements Store.
func (s *SQLite) UpdateProfile(ctx context.Context, p api.PostureProfile) error {
	return profiles.update(ctx, s.db, p)
}

// GetProfile implements Store.
func (s *SQLite) GetProfile(ctx context.Context, name string) (api.PostureProfile, error) {
	return profiles.get(ctx, s.db, name)
}

// DeleteProfile implements Store.
func (s *SQLite) DeleteProfile(ctx context.Context, name string) error {
	return profiles.delete(ctx, s.db, name)
}

// ListProfiles implements Store.
func (s *SQLite) ListProfiles(ctx context.Context) ([]api.PostureProfile, error) {
	return profiles.list(ctx, s.db)
}

// CreatePolicy implements Store.
func (s *SQLite) CreatePolicy(ctx context.Context, p api.Policy) error {
	return policies.create(ctx, s.db, p)
}

// UpdatePolicy implements Store.
func (s *SQLite) UpdatePolicy(ctx context.Context, p api.Policy) error {
	return policies.update(ctx, s.db, p)
}

// GetPolicy implements Store.
func (s *SQLite) GetPolicy(ctx context.Context, name string) (api.Policy, error) {
	return policies.get(ctx, s.db, name)
}

// DeletePolicy implements Store.
func (s *SQLite) DeletePolicy(ctx context.Context, name string) error {
	return policies.delete(ctx, s.db, name)
}

// ListPolicies implements Store.
func (s *SQLite) ListPolicies(ctx context.Context) ([]api.Policy, error) {
	return policies.list(ctx, s.db)
}
