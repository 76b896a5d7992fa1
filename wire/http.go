package wire

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// HTTPClient is the client an agent or a gateway reaches its controller
// with (enrollment, then the websocket): it trusts caPEM only, or the
// system roots when caPEM is nil. With caPEM, a server whose certificate
// is not from it is refused during the TLS handshake, before any request
// (so no proof leaves the device), with an error naming who enrolled
// ("this device", "this gateway").
func HTTPClient(caPEM []byte, who string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caPEM != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("controller CA file holds no PEM certificate")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		// Its own config (no ALPN: HTTP/1.1, which websockets need).
		dialer := tls.Dialer{Config: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
		tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			var cv *tls.CertificateVerificationError
			if errors.As(err, &cv) {
				return nil, fmt.Errorf("%s is not the controller %s enrolled with: its certificate is not from the enrolled controller CA (%w); "+
					"check the controller URL, or enroll again with --ca if the controller's CA changed", addr, who, err)
			}
			return c, err
		}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}
