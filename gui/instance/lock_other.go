//go:build !unix && !windows

package instance

import (
	"errors"
	"os"
)

func lock(*os.File) error {
	return errors.New("this OS offers the tray no single-instance lock")
}
