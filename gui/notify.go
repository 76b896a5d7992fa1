package gui

import (
	"strings"
)

// Notification is one desktop notification.
type Notification struct {
	Title string
	Body  string
}

// Notifications are the desktop notifications the change from old to new
// calls for: access to an app revoked (with the reason and its fix) or
// restored. At most one per change: apps revoked for the same reason in
// one step (a sign-out, a failing check) share one notification, and so do
// apps restored together. Nothing is said while the agent is down or when
// it comes back (no change is known), nor for apps that appear or vanish.
func Notifications(old, new State) []Notification {
	if !old.AgentUp || !new.AgentUp {
		return nil
	}
	before := map[string]App{}
	for _, a := range old.Apps {
		before[a.Name] = a
	}
	var restored []string
	var revokedReasons []string // first-seen order of the revocation texts
	revoked := map[string][]string{}
	for _, a := range new.Apps {
		prev, ok := before[a.Name]
		if !ok || prev.Allowed == a.Allowed {
			continue
		}
		if a.Allowed {
			restored = append(restored, a.Name)
			continue
		}
		why := revokedBecause(a.Reasons)
		if _, seen := revoked[why]; !seen {
			revokedReasons = append(revokedReasons, why)
		}
		revoked[why] = append(revoked[why], a.Name)
	}
	var out []Notification
	for _, why := range revokedReasons {
		out = append(out, Notification{
			Title: "Access to " + names(revoked[why]) + " revoked",
			Body:  "Access to " + names(revoked[why]) + " revoked: " + why,
		})
	}
	if len(restored) > 0 {
		out = append(out, Notification{
			Title: "Access to " + names(restored) + " restored",
			Body:  "Access to " + names(restored) + " restored",
		})
	}
	return out
}

// revokedBecause is the reasons' texts with the first fix:
// "the firewall is off (Turn on the firewall)".
func revokedBecause(rs []Reason) string {
	if len(rs) == 0 {
		return "no reason given"
	}
	texts := make([]string, len(rs))
	fix := ""
	for i, r := range rs {
		texts[i] = r.Text
		if fix == "" {
			fix = r.Fix
		}
	}
	return reasonText(Reason{Text: strings.Join(texts, "; "), Fix: fix})
}

// names is "a", "a and b" or "a, b and c".
func names(ns []string) string {
	if len(ns) == 1 {
		return ns[0]
	}
	return strings.Join(ns[:len(ns)-1], ", ") + " and " + ns[len(ns)-1]
}
