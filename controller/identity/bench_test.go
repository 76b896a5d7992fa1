package identity

import (
	"fmt"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// BenchmarkAuthenticate is the cost of checking an access token on a
// request: parse, hash, one indexed read.
func BenchmarkAuthenticate(b *testing.B) {
	e := newEnv(b, Config{})
	benchUser(b, e)
	p, _ := e.CheckPassword(b.Context(), Login{User: "alice", Password: pw})
	_, tok, err := e.StartSession(b.Context(), p, "laptop")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := e.Authenticate(b.Context(), tok.Access, "laptop"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRefresh is one refresh: new tokens, one write transaction.
// b.N sessions refresh once each, as after a controller restart.
func BenchmarkRefresh(b *testing.B) {
	e := newEnv(b, Config{})
	benchUser(b, e)
	p, _ := e.CheckPassword(b.Context(), Login{User: "alice", Password: pw})
	toks := make([]Tokens, b.N)
	for i := range toks {
		var err error
		if _, toks[i], err = e.StartSession(b.Context(), p, fmt.Sprint("dev", i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		if _, _, err := e.Refresh(b.Context(), toks[i].Refresh, fmt.Sprint("dev", i)); err != nil {
			b.Fatal(err)
		}
	}
}

func benchUser(b *testing.B, e *env) {
	b.Helper()
	if err := e.st.CreateUser(b.Context(), api.User{Name: "alice"}); err != nil {
		b.Fatal(err)
	}
	if err := e.SetPassword(b.Context(), "alice", pw); err != nil {
		b.Fatal(err)
	}
}
