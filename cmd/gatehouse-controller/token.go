package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mattn/go-isatty"
)

// tokenShower hands the admin token made at first start to the admin:
// on a terminal it is printed once; anywhere else (a pipe, the journal)
// it would stay readable in a log, so it goes to a 0600 file and stdout
// says where. It is never logged; the controller stores only its hash.
type tokenShower struct {
	out      io.Writer
	terminal bool   // out is a terminal
	file     string // where the token goes when it is not printed
	// fileChosen: the admin named the file; it is then always used.
	fileChosen bool
}

func (s tokenShower) show(tok string) error {
	if s.terminal && !s.fileChosen {
		fmt.Fprintf(s.out, "admin token (the bootstrap token, shown once; it only makes the first owner: "+
			"GATEHOUSE_ADMIN_TOKEN=... gatehouse admin bootstrap --user NAME): %s\n", tok)
		return nil
	}
	if err := writePrivate(s.file, tok+"\n"); err != nil {
		return fmt.Errorf("write the admin token: %w; start again with --admin-token-file in a writable place, "+
			"or delete the data dir to make a new token", err)
	}
	fmt.Fprintf(s.out, "admin token written to %s (mode 0600; the bootstrap token: make the first owner with "+
		"gatehouse admin --admin-token-file %s bootstrap --user NAME)\n", s.file, s.file)
	return nil
}

// writePrivate writes data to path with mode 0600, replacing any file
// there in one step.
func writePrivate(path, data string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".admin-token-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	_, err = tmp.WriteString(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// isTerminal reports whether f is a terminal, not a pipe, file, socket
// (the journal's) or /dev/null.
func isTerminal(f *os.File) bool { return isatty.IsTerminal(f.Fd()) }
