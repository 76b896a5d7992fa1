package tunnel

import (
	"fmt"
	"log/slog"
	"strings"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
)

// DefaultMTU leaves room for WireGuard's overhead inside a 1500-byte path.
const DefaultMTU = 1420

// newDevice starts a wireguard-go device on tdev with the given private key,
// listening on UDP listenPort (0 picks one) through bind (nil: the default,
// sockets in this process's network namespace).
func newDevice(tdev tun.Device, bind conn.Bind, key PrivateKey, listenPort int, log *slog.Logger) (*device.Device, error) {
	if bind == nil {
		bind = conn.NewDefaultBind()
	}
	dev := device.NewDevice(tdev, bind, wgLogger(log))
	cfg := fmt.Sprintf("private_key=%s\nlisten_port=%d\n", key.hex(), listenPort)
	if err := dev.IpcSet(cfg); err != nil {
		dev.Close()
		return nil, fmt.Errorf("configure WireGuard device: %w", err)
	}
	if err := dev.Up(); err != nil {
		dev.Close()
		return nil, fmt.Errorf("bring WireGuard device up: %w", err)
	}
	return dev, nil
}

// listenPort reads the UDP port the device actually bound.
func listenPort(dev *device.Device) (int, error) {
	state, err := dev.IpcGet()
	if err != nil {
		return 0, fmt.Errorf("read WireGuard device state: %w", err)
	}
	for _, line := range strings.Split(state, "\n") {
		if v, ok := strings.CutPrefix(line, "listen_port="); ok {
			var port int
			if _, err := fmt.Sscan(v, &port); err != nil {
				return 0, fmt.Errorf("listen_port %q: %w", v, err)
			}
			return port, nil
		}
	}
	return 0, fmt.Errorf("WireGuard device reports no listen_port")
}

// wgLogger routes wireguard-go's chatter to slog at debug level, errors at
// warn. wireguard-go never logs key material.
func wgLogger(log *slog.Logger) *device.Logger {
	if log == nil {
		return device.NewLogger(device.LogLevelSilent, "")
	}
	return &device.Logger{
		Verbosef: func(format string, args ...any) { log.Debug(fmt.Sprintf(format, args...)) },
		Errorf:   func(format string, args ...any) { log.Warn(fmt.Sprintf(format, args...)) },
	}
}
