package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Verified is what an IdP vouched for, after every check: only this
// package makes one (Callback, Refresh), so holding one means the checks
// ran. Its fields are read through methods.
type Verified struct {
	issuer        string
	subject       string
	email         string // lower-cased; "" if the IdP gave none
	emailVerified bool
	name          string // display name
	userName      string // the Gatehouse user name to make at the first sign-in
	groups        []string
	managed       []string
	passThrough   bool
	amr           []string
	authTime      time.Time // zero if the IdP did not say
	refreshToken  string
	next          string
	claims        map[string]string // for policy conditions (keepClaims)
}

// Issuer and Subject identify the user at the IdP, for good.
func (v *Verified) Issuer() string  { return v.issuer }
func (v *Verified) Subject() string { return v.subject }

// Email is the user's email, lower-cased ("" if none); EmailVerified says
// whether the IdP says it is verified.
func (v *Verified) Email() string       { return v.email }
func (v *Verified) EmailVerified() bool { return v.emailVerified }

// Name is the user's display name ("" if none).
func (v *Verified) Name() string { return v.name }

// UserName is the Gatehouse user name for a first sign-in (from the
// configured claim).
func (v *Verified) UserName() string { return v.userName }

// Groups are the Gatehouse groups the IdP puts the user in (mapped),
// sorted.
func (v *Verified) Groups() []string { return slices.Clone(v.groups) }

// ManagedGroups are the Gatehouse groups that follow this IdP (GroupMap's
// targets): membership of them is replaced by Groups at each sign-in and
// refresh. With PassThrough, every group the IdP ever set is managed too.
func (v *Verified) ManagedGroups() []string { return slices.Clone(v.managed) }

// PassThrough says IdP groups are taken as Gatehouse groups by name.
func (v *Verified) PassThrough() bool { return v.passThrough }

// AMR are the IdP's authentication methods (RFC 8176), as it said them.
func (v *Verified) AMR() []string { return slices.Clone(v.amr) }

// AuthTime is when the user authenticated at the IdP (zero if unsaid).
func (v *Verified) AuthTime() time.Time { return v.authTime }

// RefreshToken is the IdP's refresh token ("" if it issued none): a
// secret, kept to refresh upstream, never logged.
func (v *Verified) RefreshToken() string { return v.refreshToken }

// Claims are the IdP's claims a policy condition may read (user.claims):
// top-level strings, booleans and numbers as strings, bounded and
// without protocol claims (claims.go). They are only as trustworthy as
// the IdP, and as the user's own say over each profile field there.
func (v *Verified) Claims() map[string]string { return maps.Clone(v.claims) }

// Next is what Begin was given.
func (v *Verified) Next() string { return v.next }

// claims are the claims read from an ID token or userinfo.
type claims struct {
	Subject       string          `json:"sub"`
	Email         string          `json:"email"`
	EmailVerified json.RawMessage `json:"email_verified"` // a bool, or "true" from some IdPs
	Name          string          `json:"name"`
	AMR           []string        `json:"amr"`
	AuthTime      int64           `json:"auth_time"`
	Azp           string          `json:"azp"`
	Audience      json.RawMessage `json:"aud"`
	raw           map[string]json.RawMessage
}

func (c *claims) verified() bool {
	s := strings.Trim(string(c.EmailVerified), `"`)
	return s == "true"
}

func readClaims(from func(any) error) (claims, error) {
	var c claims
	if err := from(&c); err != nil {
		return c, err
	}
	if err := from(&c.raw); err != nil {
		return c, err
	}
	return c, nil
}

// verified builds a Verified from a token answer: the ID token's claims
// (idt may be nil on refresh), completed from userinfo when the email,
// the groups or the user name claim are missing. wantSubject, when set,
// must be the subject (a refresh).
func (p *Provider) verified(ctx context.Context, d *discovered, tok *oauth2.Token, idt *gooidc.IDToken, wantSubject string) (*Verified, error) {
	refused := func(format string, a ...any) error {
		return fmt.Errorf("%s: %w: %s", p.cfg.Name, ErrRefused, fmt.Sprintf(format, a...))
	}
	var c claims
	if idt != nil {
		var err error
		if c, err = readClaims(idt.Claims); err != nil {
			return nil, refused("ID token claims: %v", err)
		}
		if err := idt.VerifyAccessToken(tok.AccessToken); idt.AccessTokenHash != "" && err != nil {
			return nil, refused("access token does not match the ID token's at_hash")
		}
		if aud := audiences(c.Audience); len(aud) > 1 && c.Azp != p.cfg.ClientID {
			return nil, refused("ID token for several audiences, authorized party %q is not this client", c.Azp)
		}
	}
	_, hasGroups := c.raw[p.cfg.GroupsClaim]
	_, hasName := c.raw[p.cfg.UsernameClaim]
	if idt == nil || c.Email == "" || !hasGroups || !hasName {
		ui, err := d.provider.UserInfo(p.client(ctx), oauth2.StaticTokenSource(tok))
		switch {
		case err != nil && idt == nil:
			return nil, p.upstreamError("read userinfo", err)
		case err != nil: // the ID token stands on its own; userinfo only completes it
			p.log.Warn("userinfo unavailable: using the ID token's claims only", "err", err)
		default:
			uc, err := readClaims(ui.Claims)
			if err != nil {
				return nil, refused("userinfo claims: %v", err)
			}
			if idt != nil && uc.Subject != c.Subject {
				return nil, refused("userinfo is about another subject than the ID token")
			}
			c = merge(c, uc)
		}
	}
	if wantSubject != "" && c.Subject != wantSubject {
		return nil, refused("refreshed tokens are about another subject")
	}
	if c.Subject == "" {
		return nil, refused("no subject")
	}
	v := &Verified{issuer: p.cfg.Issuer, subject: c.Subject, email: strings.ToLower(c.Email), emailVerified: c.verified(),
		name: c.Name, amr: c.AMR, refreshToken: tok.RefreshToken, passThrough: p.cfg.PassThroughGroups}
	if c.AuthTime > 0 {
		v.authTime = time.Unix(c.AuthTime, 0)
	}
	if err := p.checkEmail(v); err != nil {
		return nil, err
	}
	if err := p.nameUser(v, c); err != nil {
		return nil, err
	}
	idpGroups, err := stringList(c.raw[p.cfg.GroupsClaim])
	if err != nil {
		return nil, refused("claim %q: %v", p.cfg.GroupsClaim, err)
	}
	if len(idpGroups) > maxGroups {
		return nil, refused("claim %q names %d groups, more than %d: narrow the groups sent to this client at the IdP", p.cfg.GroupsClaim, len(idpGroups), maxGroups)
	}
	v.groups, v.managed = p.mapGroups(idpGroups)
	p.keepClaims(v, c)
	return v, nil
}

// checkEmail admits v's email: verified and in an allowed domain when
// domains are configured, verified when it names the user.
func (p *Provider) checkEmail(v *Verified) error {
	needVerified := len(p.cfg.AllowedEmailDomains) > 0 || p.cfg.UsernameClaim == "email"
	if needVerified && (v.email == "" || !v.emailVerified) {
		return fmt.Errorf("%s: %w: sign in with an account whose email the identity provider has verified", p.cfg.Name, ErrEmailNotVerified)
	}
	if len(p.cfg.AllowedEmailDomains) == 0 {
		return nil
	}
	_, domain, _ := cutLast(v.email, "@")
	if !slices.Contains(p.cfg.AllowedEmailDomains, domain) {
		return fmt.Errorf("%s: %w: %q is not one of this organisation's domains: sign in with your work account", p.cfg.Name, ErrDomainNotAllowed, domain)
	}
	return nil
}

// nameUser sets v's user name from the configured claim.
func (p *Provider) nameUser(v *Verified, c claims) error {
	switch p.cfg.UsernameClaim {
	case "email":
		v.userName = v.email
	default:
		var s string
		if raw, ok := c.raw[p.cfg.UsernameClaim]; ok {
			_ = json.Unmarshal(raw, &s)
		}
		v.userName = strings.ToLower(strings.TrimSpace(s))
	}
	if v.userName == "" {
		return fmt.Errorf("%s: %w: claim %q is missing: ask the IdP's admin to release it to this client, or choose another (--oidc-username-claim)", p.cfg.Name, ErrNoUsername, p.cfg.UsernameClaim)
	}
	return nil
}

// groupName is what a Gatehouse group may be called (controller's rule).
var groupName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,62}$`)

// mapGroups maps IdP groups onto Gatehouse groups; managed are the
// Gatehouse groups that follow the IdP.
func (p *Provider) mapGroups(idpGroups []string) (groups, managed []string) {
	for _, g := range idpGroups {
		if to, ok := p.cfg.GroupMap[g]; ok {
			groups = append(groups, to)
		} else if p.cfg.PassThroughGroups && groupName.MatchString(g) {
			groups = append(groups, g)
		}
	}
	for _, to := range p.cfg.GroupMap {
		managed = append(managed, to)
	}
	if p.cfg.PassThroughGroups {
		managed = append(managed, groups...)
	}
	slices.Sort(groups)
	slices.Sort(managed)
	return slices.Compact(groups), slices.Compact(managed)
}

// merge completes c with u's claims where c lacks them.
func merge(c, u claims) claims {
	if c.Subject == "" {
		c.Subject = u.Subject
	}
	if c.Email == "" {
		c.Email, c.EmailVerified = u.Email, u.EmailVerified
	}
	if c.Name == "" {
		c.Name = u.Name
	}
	if c.raw == nil {
		c.raw = map[string]json.RawMessage{}
	}
	for k, v := range u.raw {
		if _, ok := c.raw[k]; !ok {
			c.raw[k] = v
		}
	}
	return c
}

// stringList reads a claim that is a list of strings, or one string, or
// absent.
func stringList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err == nil {
		return l, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("want a list of strings")
	}
	return []string{s}, nil
}

func audiences(raw json.RawMessage) []string {
	l, _ := stringList(raw)
	return l
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// String names v without its secrets (the refresh token), so printing
// or logging one leaks nothing.
func (v *Verified) String() string {
	return fmt.Sprintf("%s at %s (subject %s, groups %v)", v.userName, v.issuer, v.subject, v.groups)
}
