package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// BenchmarkDeviceFlowSignIn: sign-in → tokens through the device flow,
// the human replaced by a Go client driving the pages: code pair, /device,
// the code, /login with bob's password (argon2id at the real parameters),
// the confirmation, approve, then the agent's poll. The poll is made at
// once (a real agent waits its interval, 5 s by default, on top). The
// cheap-hash run shows what the flow costs besides the password hash.
func BenchmarkDeviceFlowSignIn(b *testing.B) {
	for _, c := range []struct {
		name string
		pw   identity.PasswordParams
	}{{"argon2id-default", identity.DefaultPasswordParams}, {"argon2id-cheap", cheapPasswords}} {
		b.Run(c.name, func(b *testing.B) { benchSignIn(b, c.pw) })
	}
}

func benchSignIn(b *testing.B, pw identity.PasswordParams) {
	fast := Rate{Every: time.Microsecond, Burst: 1 << 20}
	e := newSigninEnv(b, Config{SignIn: SignInConfig{DeviceAuth: fast, Token: fast, Pages: fast}}, identity.Config{Password: pw})
	ctx := context.Background()
	key := newKey(b)
	for b.Loop() {
		da, err := wire.StartDeviceAuthorization(ctx, e.hc, e.base, wire.DeviceAuthorizationForm{DeviceKey: key, Hostname: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		br := e.browser(b)
		if status := br.signInThroughPages(e, da.UserCode, "bob", bobPassword, "approve"); status != http.StatusOK {
			b.Fatalf("approve = %d", status)
		}
		res := postOAuth(b, e, api.PathToken, url.Values{"grant_type": {api.GrantTypeDeviceCode}, "client_id": {api.ClientAgent}, "device_code": {da.DeviceCode}})
		if res.status != http.StatusOK {
			b.Fatalf("token = %d %+v", res.status, res.OAuthError)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/signin")
}
