package identity

import (
	"fmt"
	"testing"
	"time"

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

// refreshFleet is how many sessions BenchmarkRefresh10000 refreshes.
const refreshFleet = 10_000

// BenchmarkRefresh10000 refreshes 10,000 sessions, one after another
// (each a rotation in one write transaction), and, as the baseline in the
// same run, checks their 10,000 access tokens. Each round reports into
// sessions/s and the totals of the last round in ms; refresh/check is
// how much more a refresh costs than a check.
func BenchmarkRefresh10000(b *testing.B) {
	e := newEnv(b, Config{})
	benchUser(b, e)
	p, _ := e.CheckPassword(b.Context(), Login{User: "alice", Password: pw})
	toks := make([]Tokens, refreshFleet)
	devices := make([]string, refreshFleet)
	for i := range toks {
		devices[i] = fmt.Sprint("dev", i)
		var err error
		if _, toks[i], err = e.StartSession(b.Context(), p, devices[i]); err != nil {
			b.Fatal(err)
		}
	}
	var refreshTotal, checkTotal time.Duration
	rounds := 0
	for b.Loop() {
		start := time.Now()
		for i := range toks {
			if _, err := e.Authenticate(b.Context(), toks[i].Access, devices[i]); err != nil {
				b.Fatal(err)
			}
		}
		checked := time.Now()
		for i := range toks {
			var err error
			if _, toks[i], err = e.Refresh(b.Context(), toks[i].Refresh, devices[i]); err != nil {
				b.Fatal(err)
			}
		}
		checkTotal += checked.Sub(start)
		refreshTotal += time.Since(checked)
		rounds++
	}
	n := float64(rounds * refreshFleet)
	b.ReportMetric(n/refreshTotal.Seconds(), "sessions/s")
	b.ReportMetric(float64(refreshTotal.Milliseconds())/float64(rounds), "refresh-total-ms")
	b.ReportMetric(n/checkTotal.Seconds(), "checks/s")
	b.ReportMetric(float64(checkTotal.Milliseconds())/float64(rounds), "check-total-ms")
	b.ReportMetric(refreshTotal.Seconds()/checkTotal.Seconds(), "refresh/check")
}
