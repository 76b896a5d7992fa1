package main

import (
	"log/slog"
	"net"
	"net/netip"
	"strings"

	"github.com/gatehouse-ztna/gatehouse/controller/httpapi"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
)

// passkeyConfig sets the WebAuthn relying party from the public names:
// its ID is the first DNS name among them (an IP address cannot be one)
// and its origin that name at the listen port, unless origins are given
// (a proxy in front on another port). Listening on loopback without a
// public name it is "localhost". Otherwise passkeys are off, said in the log.
func passkeyConfig(publicNames []string, listen string, origins []string, log *slog.Logger) identity.PasskeyConfig {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return identity.PasskeyConfig{} // Config.Check refuses the listen address
	}
	rpID := ""
	for _, n := range publicNames {
		n = strings.TrimSuffix(n, ".")
		if _, err := netip.ParseAddr(n); err != nil && n != "" {
			rpID = n
			break
		}
	}
	if rpID == "" && httpapi.IsLoopback(host) {
		rpID = "localhost"
	}
	if rpID == "" {
		log.Warn("passkeys are off: they need a DNS name for the controller (--public-name gatehouse.example.com)")
		return identity.PasskeyConfig{}
	}
	if len(origins) == 0 {
		o := "https://" + rpID
		if port != "443" {
			o += ":" + port
		}
		origins = []string{o}
	}
	return identity.PasskeyConfig{RPID: rpID, Origins: origins}
}
