package api

import (
	"errors"
	"fmt"
	"net"
	"net/url"
)

// ErrPlainHTTPOffLoopback is wrapped by CheckControllerURL for a plain
// http URL to a controller on another machine.
var ErrPlainHTTPOffLoopback = errors.New("plain http is only for a controller on this machine")

// CheckControllerURL allows https, and plain http only to a loopback
// controller (development): whatever travels to the controller (device
// proofs, enrollment and admin tokens, decisions) must not be readable or
// forgeable on the way. Callers add what the user should do next.
func CheckControllerURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("controller URL %q: want https://host:port", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
		return fmt.Errorf("controller URL %q: %w", raw, ErrPlainHTTPOffLoopback)
	}
	return fmt.Errorf("controller URL %q: scheme must be https", raw)
}
