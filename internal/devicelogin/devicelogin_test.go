package devicelogin

import (
	"bytes"
	"strings"
	"testing"
)

func TestShow(t *testing.T) {
	tests := []struct {
		name    string
		in      Prompt
		want    string
		wantErr string
	}{
		{name: "plain", in: Prompt{Page: "https://ctrl.example.com/device", Code: "BCDF-GHJK"},
			want: "Open https://ctrl.example.com/device and enter code BCDF-GHJK\n"},
		{name: "escape in the page", in: Prompt{Page: "https://ctrl.example.com/\x1b[2J", Code: "BCDF-GHJK"}, wantErr: "not a plain http(s) URL"},
		{name: "file URL", in: Prompt{Page: "file:///etc/passwd", Code: "BCDF-GHJK"}, wantErr: "not a plain http(s) URL"},
		{name: "command as page", in: Prompt{Page: "https://x/ --new-window", Code: "BCDF-GHJK"}, wantErr: "not a plain http(s) URL"},
		{name: "bad complete page", in: Prompt{Page: "https://x/device", PageWithCode: "javascript:alert(1)", Code: "BCDF-GHJK"}, wantErr: "not a plain http(s) URL"},
		{name: "escape in the code", in: Prompt{Page: "https://x/device", Code: "BCDF\x1b[2J"}, wantErr: "malformed sign-in code"},
		{name: "no page", in: Prompt{Code: "BCDF-GHJK"}, wantErr: "not a plain http(s) URL"},
		{name: "no code", in: Prompt{Page: "https://x/device"}, wantErr: "malformed sign-in code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Show(&out, tt.in, false)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || out.Len() != 0 {
					t.Fatalf("Show(%+v) = %v, printed %q; want an error containing %q and nothing printed", tt.in, err, out.String(), tt.wantErr)
				}
				return
			}
			if err != nil || out.String() != tt.want {
				t.Errorf("Show(%+v) = %v, printed %q; want %q", tt.in, err, out.String(), tt.want)
			}
		})
	}
}
