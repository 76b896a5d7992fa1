package localpeer

import (
	"errors"
	"fmt"
	"net"
	"runtime"

	"golang.org/x/sys/windows"
)

var procImpersonateNamedPipeClient = windows.NewLazySystemDLL("advapi32.dll").NewProc("ImpersonateNamedPipeClient")

// PipeClient is who is at the other end of c, a named pipe connection
// the agent accepted and has read from (Windows hands the server the
// client's token with the last message read). The client must dial at
// identification level or above (localapi does); an anonymous client has
// no token to read and is an error.
func PipeClient(c net.Conn) (PipeCaller, error) {
	f, ok := c.(interface{ Fd() uintptr })
	if !ok {
		return PipeCaller{}, fmt.Errorf("%T is not a named pipe connection", c)
	}
	type answer struct {
		caller PipeCaller
		err    error
	}
	ch := make(chan answer, 1)
	// Impersonation changes the OS thread: do it on a thread of its own,
	// which is thrown away (left locked) if reverting fails, so no other
	// goroutine ever runs as the caller.
	go func() {
		runtime.LockOSThread()
		caller, reverted, err := impersonateAndRead(windows.Handle(f.Fd()))
		ch <- answer{caller, err}
		if reverted {
			runtime.UnlockOSThread()
		}
	}()
	a := <-ch
	return a.caller, a.err
}

func impersonateAndRead(h windows.Handle) (caller PipeCaller, reverted bool, err error) {
	if r, _, e := procImpersonateNamedPipeClient.Call(uintptr(h)); r == 0 {
		return PipeCaller{}, true, fmt.Errorf("ImpersonateNamedPipeClient: %w", e)
	}
	var tok windows.Token
	terr := windows.OpenThreadToken(windows.CurrentThread(), windows.TOKEN_QUERY, true, &tok)
	if rerr := windows.RevertToSelf(); rerr != nil {
		if terr == nil {
			tok.Close()
		}
		return PipeCaller{}, false, fmt.Errorf("RevertToSelf: %w", rerr)
	}
	if terr != nil {
		return PipeCaller{}, true, fmt.Errorf("read the caller's token (did it dial anonymously?): %w", terr)
	}
	defer tok.Close()
	user, err := tok.GetTokenUser()
	if err != nil {
		return PipeCaller{}, true, fmt.Errorf("the caller's user: %w", err)
	}
	admins, err := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	if err != nil {
		return PipeCaller{}, true, err
	}
	// IsMember (CheckTokenMembership) counts only enabled groups: a UAC
	// filtered token, where Administrators is deny-only, is no admin.
	admin, err := tok.IsMember(admins)
	if err != nil {
		return PipeCaller{}, true, fmt.Errorf("the caller's groups: %w", err)
	}
	if user.User.Sid == nil {
		return PipeCaller{}, true, errors.New("the caller's token names no user")
	}
	return PipeCaller{SID: user.User.Sid.String(), Admin: admin}, true, nil
}
