package posture

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"
)

// Watcher returns the WatchFunc for this device: it listens where Linux
// signals a change, and log says which sources could not start (their
// facts are then seen at the next poll).
//
//   - process exec and exit: the netlink process connector (root only),
//     passed on only while the controller asks about processes;
//   - nftables: the NFNLGRP_NFTABLES netlink group (every ruleset
//     transaction; iptables-nft, ufw, firewalld and Docker write through
//     it). iptables-legacy has no events: its rules are read at the
//     slow-facts poll (slowFactsTTL);
//   - mounts (and so the root volume's dm-crypt): POLLPRI on
//     /proc/self/mountinfo;
//   - package databases and update settings: fsnotify on their directories.
//
// Each nftables, mount or package event drops the cached slow facts
// before changed is called. The watcher never reads a fact itself.
func (s *System) Watcher(log *slog.Logger) WatchFunc {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, changed func()) error {
		c := newCoalescer(watchSettle, watchMinGap)
		procs := func() {
			if s.asksProcesses.Load() {
				c.poke()
			}
		}
		slow := func() {
			s.dropSlowFacts()
			c.poke()
		}
		sources := []struct {
			name  string
			start func() (func(context.Context, func()) error, error)
			poke  func()
		}{
			{"process connector", openProcConnector, procs},
			{"nftables monitor", openNftMonitor, slow},
			{"mountinfo", func() (func(context.Context, func()) error, error) { return openMountWatch(mountinfoPath) }, slow},
			{"package databases", func() (func(context.Context, func()) error, error) { return openDirWatch(packageDirs) }, slow},
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var wg sync.WaitGroup
		started := 0
		for _, src := range sources {
			run, err := src.start()
			if err != nil {
				log.Warn("posture: no events from "+src.name+"; its facts are polled", "err", err)
				continue
			}
			started++
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := run(ctx, src.poke); err != nil && ctx.Err() == nil {
					log.Warn("posture: events from "+src.name+" stopped; its facts are polled", "err", err)
				}
			}()
		}
		if started == 0 {
			return errors.New("posture: no event source could start (is the agent running as root?); facts are polled")
		}
		c.run(ctx, changed)
		cancel()
		wg.Wait()
		return nil
	}
}

// packageDirs are where package managers and update settings live; the
// ones missing on this system are skipped.
var packageDirs = []string{
	"/var/lib/dpkg",         // status, rewritten by every dpkg run
	"/var/lib/rpm",          // rpmdb.sqlite or Packages
	"/usr/lib/sysimage/rpm", // the rpmdb on newer Fedora and openSUSE
	"/etc/apt/apt.conf.d",   // unattended-upgrades settings
	"/etc/dnf",              // dnf-automatic settings
	"/var/lib/pacman/local", // Arch
	"/var/lib/apk/db",       // Alpine (installed)
	"/var/log/apt",          // history.log: the last upgrade
	"/var/lib/apt/periodic", // update stamps
	"/var/lib/unattended-upgrades",
}

// Process connector constants (linux/cn_proc.h, linux/connector.h).
const (
	cnIdxProc         = 1
	cnValProc         = 1
	procCnMcastListen = 1
	procEventExec     = 0x00000002
	procEventExit     = 0x80000000
	// Offsets in a datagram: nlmsghdr (16), cn_msg (20), then proc_event:
	// what, cpu, timestamp_ns (16 bytes), then the event's data, which
	// starts with process_pid, process_tgid for exec and exit alike.
	cnProcWhat = 16 + 20
	cnProcPID  = cnProcWhat + 16
	cnProcTGID = cnProcPID + 4
)

// openProcConnector subscribes to the kernel's process events. A socket
// filter keeps only exec and the exit of a whole process (not of one of
// its threads), so a busy machine's forks and thread exits never wake
// the agent.
func openProcConnector() (func(context.Context, func()) error, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("netlink connector socket: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, procEventFilter()); err != nil {
		return nil, fmt.Errorf("process event filter: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		return nil, fmt.Errorf("join the process connector group (needs root): %w", err)
	}
	msg := make([]byte, 16+20+4)
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], unix.NLMSG_DONE)
	ne.PutUint32(msg[16:], cnIdxProc)
	ne.PutUint32(msg[20:], cnValProc)
	ne.PutUint16(msg[32:], 4)
	ne.PutUint32(msg[36:], procCnMcastListen)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		// Outside the initial network namespace the kernel has no
		// connector to answer: ECONNREFUSED.
		return nil, fmt.Errorf("subscribe to process events (only the initial network namespace has them): %w", err)
	}
	ok = true
	return readEvents(os.NewFile(uintptr(fd), "netlink-proc-connector")), nil
}

// procEventFilter is a classic BPF program accepting PROC_EVENT_EXEC, and
// PROC_EVENT_EXIT when process_pid == process_tgid. BPF loads words
// big-endian while the kernel writes the fields in its own order, so the
// constants are compared as they read.
func procEventFilter() *unix.SockFprog {
	asRead := func(v uint32) uint32 {
		return binary.BigEndian.Uint32(binary.NativeEndian.AppendUint32(nil, v))
	}
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: cnProcWhat},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: asRead(procEventExec), Jt: 5},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: asRead(procEventExit), Jf: 5},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: cnProcTGID},
		{Code: unix.BPF_MISC | unix.BPF_TAX},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: cnProcPID},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_X, Jf: 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0xffffffff},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},
	}
	return &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
}

// openNftMonitor joins the nftables notification group of the current
// network namespace, as `nft monitor` does.
func openNftMonitor() (func(context.Context, func()) error, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return nil, fmt.Errorf("netlink netfilter socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind netlink netfilter socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, unix.NFNLGRP_NFTABLES); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("join the nftables group (needs root): %w", err)
	}
	return readEvents(os.NewFile(uintptr(fd), "netlink-nftables")), nil
}

// readEvents pokes once per datagram read from f (a non-blocking netlink
// socket, so reads wait in Go's poller and Close ends them). Lost events
// (ENOBUFS: the socket's buffer overflowed) poke too: something changed.
func readEvents(f *os.File) func(context.Context, func()) error {
	return func(ctx context.Context, poke func()) error {
		defer f.Close()
		stop := context.AfterFunc(ctx, func() { f.Close() })
		defer stop()
		buf := make([]byte, 64<<10)
		for {
			n, err := f.Read(buf)
			switch {
			case errors.Is(err, unix.ENOBUFS):
				poke()
			case ctx.Err() != nil:
				return nil
			case err != nil:
				return fmt.Errorf("read %s: %w", f.Name(), err)
			case n > 0:
				poke()
			}
		}
	}
}

// openMountWatch waits for the kernel to flag mountinfo (POLLPRI) on a
// mount or unmount in this mount namespace.
func openMountWatch(path string) (func(context.Context, func()) error, error) {
	// A raw fd, not an os.File: Go's poller would register an os.File
	// with epoll, and every poll of mountinfo (epoll's included) clears
	// the flag, so the runtime could take the event from us.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("watch mounts: open %s: %w", path, err)
	}
	var wake [2]int // a pipe: ctx's end writes, the poll wakes
	if err := unix.Pipe2(wake[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("watch mounts: %w", err)
	}
	return func(ctx context.Context, poke func()) error {
		defer unix.Close(fd)
		defer unix.Close(wake[0])
		defer unix.Close(wake[1])
		woke := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			unix.Write(wake[1], []byte{0})
			close(woke)
		})
		defer func() {
			if !stop() {
				<-woke // its write is done before the pipe is closed
			}
		}()
		fds := []unix.PollFd{
			{Fd: int32(fd), Events: unix.POLLPRI},
			{Fd: int32(wake[0]), Events: unix.POLLIN},
		}
		for ctx.Err() == nil {
			if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
				return fmt.Errorf("poll %s: %w", path, err)
			}
			if fds[1].Revents != 0 {
				return nil
			}
			if fds[0].Revents&(unix.POLLPRI|unix.POLLERR) != 0 {
				poke()
			}
		}
		return nil
	}, nil
}

// openDirWatch watches the directories of dirs that exist (not their
// subdirectories) for any change.
func openDirWatch(dirs []string) (func(context.Context, func()) error, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("fsnotify: %w", err)
	}
	n := 0
	for _, d := range dirs {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			continue
		}
		if err := w.Add(d); err == nil {
			n++
		}
	}
	if n == 0 {
		w.Close()
		return nil, errors.New("none of the package database directories exists here")
	}
	return func(ctx context.Context, poke func()) error {
		defer w.Close()
		for {
			select {
			case <-ctx.Done():
				return nil
			case _, ok := <-w.Events:
				if !ok {
					return errors.New("fsnotify closed")
				}
				poke()
			case err, ok := <-w.Errors:
				if !ok {
					return errors.New("fsnotify closed")
				}
				if errors.Is(err, fsnotify.ErrEventOverflow) {
					poke()
				}
			}
		}
	}, nil
}
