package identity

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

func TestHashPassword(t *testing.T) {
	h, err := HashPassword(fastPasswords, pw)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := regexp.MatchString(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`, h); !ok {
		t.Errorf("HashPassword() = %q, want a PHC argon2id string with the parameters", h)
	}
	h2, _ := HashPassword(fastPasswords, pw)
	if h == h2 {
		t.Errorf("two hashes of one password are equal: the salt is not random")
	}
	stronger := fastPasswords
	stronger.Time = 2
	tests := []struct {
		name       string
		want       PasswordParams
		encoded    string
		password   string
		ok, rehash bool
		wantErr    bool
	}{
		{name: "right password", want: fastPasswords, encoded: h, password: pw, ok: true},
		{name: "wrong password", want: fastPasswords, encoded: h, password: pw + "!"},
		{name: "empty password", want: fastPasswords, encoded: h, password: ""},
		{name: "params changed: rehash", want: stronger, encoded: h, password: pw, ok: true, rehash: true},
		{name: "params changed, wrong password: no rehash", want: stronger, encoded: h, password: "nope"},
		{name: "argon2i", want: fastPasswords, encoded: strings.Replace(h, "argon2id", "argon2i", 1), password: pw, wantErr: true},
		{name: "other version", want: fastPasswords, encoded: strings.Replace(h, "v=19", "v=16", 1), password: pw, wantErr: true},
		{name: "memory over 1 GiB", want: fastPasswords, encoded: strings.Replace(h, "m=64", "m=4194304", 1), password: pw, wantErr: true},
		{name: "zero passes", want: fastPasswords, encoded: strings.Replace(h, "t=1", "t=0", 1), password: pw, wantErr: true},
		{name: "extra parameter text", want: fastPasswords, encoded: strings.Replace(h, "p=1", "p=1x", 1), password: pw, wantErr: true},
		{name: "bad salt", want: fastPasswords, encoded: strings.Replace(h, "$", "$!", 4), password: pw, wantErr: true},
		{name: "truncated", want: fastPasswords, encoded: h[:len(h)-30], password: pw, wantErr: true},
		{name: "empty", want: fastPasswords, encoded: "", password: pw, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := VerifyPassword(tt.want, tt.encoded, tt.password)
			if (err != nil) != tt.wantErr || ok != tt.ok || rehash != tt.rehash {
				t.Errorf("VerifyPassword(%q) = %v, %v, %v, want %v, %v, error %v", tt.encoded, ok, rehash, err, tt.ok, tt.rehash, tt.wantErr)
			}
		})
	}
}

func TestCheckNewPassword(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
	}{
		{in: "short", wantErr: true},
		{in: "elevenchars", wantErr: true},
		{in: "twelve chars"},
		{in: "äöüäöüäöüäöü"}, // characters, not bytes
		{in: strings.Repeat("x", MaxPasswordLen)},
		{in: strings.Repeat("x", MaxPasswordLen+1), wantErr: true},
	}
	for _, tt := range tests {
		err := checkNewPassword(tt.in)
		if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrWeakPassword)) {
			t.Errorf("checkNewPassword(%.20q) = %v, want error %v", tt.in, err, tt.wantErr)
		}
	}
}

// BenchmarkHashPassword measures one password check at the default
// parameters: what a sign-in costs the controller.
func BenchmarkHashPassword(b *testing.B) {
	h, err := HashPassword(DefaultPasswordParams, pw)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, _, _ := VerifyPassword(DefaultPasswordParams, h, pw); !ok {
			b.Fatal("VerifyPassword = false")
		}
	}
}
