//go:build !linux && !darwin && !windows

package autostart

func install([]string) (string, error) { return "", ErrUnsupported }

func remove() (string, error) { return "", ErrUnsupported }
