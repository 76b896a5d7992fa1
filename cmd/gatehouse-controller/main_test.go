package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/controller"
	"github.com/gatehouse-ztna/gatehouse/controller/httpapi"
)

// TestRunRefusesPlainHTTPOffLoopback: run checks the server's config
// before it builds the core, so a plain-HTTP listen address beyond
// loopback is refused and leaves no data dir behind; on loopback the whole
// controller starts, shows its admin token, and stops with its context.
func TestRunRefusesPlainHTTPOffLoopback(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{name: "all IPv4 interfaces", in: "0.0.0.0:0", wantErr: true},
		{name: "all interfaces, empty host", in: ":0", wantErr: true},
		{name: "all IPv6 interfaces", in: "[::]:0", wantErr: true},
		{name: "a LAN address", in: "192.0.2.10:0", wantErr: true},
		{name: "a hostname", in: "example.com:0", wantErr: true},
		{name: "loopback", in: "127.0.0.1:0", wantErr: false},
		{name: "localhost", in: "localhost:0", wantErr: false},
	}
	log := slog.New(slog.DiscardHandler)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			tokenFile := filepath.Join(t.TempDir(), "admin-token")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			// Stop the controller once it has shown its token: it is up.
			go func() {
				for ctx.Err() == nil {
					if _, err := os.Stat(tokenFile); err == nil {
						cancel()
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			}()
			err := run(ctx, controller.Config{DataDir: dir, Logger: log},
				httpapi.Config{Listen: tt.in, InsecureHTTP: true, DataDir: dir, Logger: log},
				embeddedConfig{Host: "gw.example.test"}, tokenShower{out: io.Discard, file: tokenFile, fileChosen: true})
			if !tt.wantErr {
				if err != nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
					t.Errorf("run(Listen %q, InsecureHTTP) = %v (context: %v), want nil once stopped", tt.in, err, ctx.Err())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "loopback") {
				t.Errorf("run(Listen %q, InsecureHTTP) = %v, want an error mentioning loopback", tt.in, err)
			}
			if _, serr := os.Stat(dir); serr == nil {
				t.Errorf("run(Listen %q, InsecureHTTP) refused but created the data dir", tt.in)
			}
		})
	}
}
