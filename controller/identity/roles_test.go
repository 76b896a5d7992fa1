package identity

import (
	"errors"
	"strings"
	"testing"
)

// TestRolesMatrix pins the matrix of docs/identity.md: r = read, w =
// write, - = nothing; one row per area, one column per role (owner,
// admin, auditor, helpdesk).
func TestRolesMatrix(t *testing.T) {
	matrix := map[Area]string{
		AreaUsers:      "rw rw r -",
		AreaApps:       "rw rw r -",
		AreaPolicies:   "rw rw r -",
		AreaGateways:   "rw rw r -",
		AreaEnrollment: "rw rw r -",
		AreaSettings:   "rw rw r -",
		AreaDevices:    "rw rw r rw",
		AreaSessions:   "rw rw r rw",
		AreaAdmins:     "rw r r -",
		AreaAudit:      "r r r -",
	}
	if len(matrix) != len(Areas) {
		t.Fatalf("the matrix has %d areas, Areas %d: add the new area's row", len(matrix), len(Areas))
	}
	for _, area := range Areas {
		cells := strings.Fields(matrix[area])
		for i, r := range Roles {
			for _, v := range []Verb{Read, Write} {
				want := strings.Contains(cells[i], string(v[0]))
				if got := Allowed(r, Permission{area, v}); got != want {
					t.Errorf("Allowed(%s, %s %s) = %v, want %v", r, v, area, got, want)
				}
			}
		}
	}
	for _, p := range []Permission{{"nowhere", Read}, {AreaUsers, "delete"}} {
		if Allowed(Owner, p) {
			t.Errorf("Allowed(owner, %+v) = true, want false", p)
		}
	}
	if Allowed("", Permission{AreaUsers, Read}) || Allowed("root", Permission{AreaUsers, Read}) {
		t.Errorf("a principal without a known role is allowed something")
	}
}

func TestCanIssue(t *testing.T) {
	tests := []struct {
		issuer Role
		want   string // the roles it may issue
	}{
		{Owner, "owner admin auditor helpdesk"},
		{Admin, "admin auditor helpdesk"},
		{Auditor, ""},
		{Helpdesk, ""},
		{"", ""},
	}
	for _, tt := range tests {
		var got []string
		for _, r := range append(Roles, "superuser") {
			if CanIssue(tt.issuer, r) {
				got = append(got, string(r))
			}
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("CanIssue(%q, …) allows %v, want %q", tt.issuer, got, tt.want)
		}
	}
}

func TestPrincipalCan(t *testing.T) {
	p := Principal{Kind: PrincipalToken, Name: "ci", Role: Auditor}
	err := p.Can(Permission{AreaPolicies, Write})
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "token:ci") || !strings.Contains(err.Error(), "write policies") {
		t.Errorf("Can = %v, want %v naming token:ci and what it may not do", err, ErrForbidden)
	}
	if err := p.Can(Permission{AreaPolicies, Read}); err != nil {
		t.Errorf("auditor reading policies: %v", err)
	}
	for _, s := range []string{"owner", "helpdesk"} {
		if r, err := ParseRole(s); err != nil || string(r) != s {
			t.Errorf("ParseRole(%q) = %q, %v", s, r, err)
		}
	}
	if _, err := ParseRole("root"); err == nil {
		t.Errorf("ParseRole(root) = nil, want an error")
	}
}
