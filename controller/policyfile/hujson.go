package policyfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tailscale/hujson"
)

// HuJSON is JSON with "//" and "/* */" comments and trailing commas
// (Tailscale's policy file format). standardize has hujson blank both
// out with spaces, keeping every newline, so each byte of the result
// sits at the same offset (line and column) as in the file: a JSON
// decoder's offset is the file's. A syntax error comes back at the
// offset hujson found it.
func standardize(src []byte) ([]byte, error) {
	std, err := hujson.Standardize(bytes.Clone(src))
	if err == nil {
		return std, nil
	}
	// hujson says "hujson: line L, column C: what" (C counted in bytes).
	m := hujsonErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return nil, &posError{off: 0, msg: "syntax error: " + err.Error()}
	}
	line, _ := strconv.Atoi(m[1])
	col, _ := strconv.Atoi(m[2])
	off := 0
	for l := 1; l < line && off < len(src); l++ {
		nl := bytes.IndexByte(src[off:], '\n')
		if nl < 0 {
			off = len(src)
			break
		}
		off += nl + 1
	}
	msg := "syntax error: " + m[3]
	if strings.HasPrefix(m[3], "parsing comment") {
		msg = "comment /* not closed: add */"
	}
	return nil, &posError{off: min(off+col-1, len(src)), msg: msg}
}

var hujsonErrRE = regexp.MustCompile(`^hujson: line (\d+), column (\d+): (.*)$`)

// posError is an error at a byte offset of the file, before it is given
// its line and column (Error).
type posError struct {
	off int
	msg string
}

func (e *posError) Error() string { return fmt.Sprintf("offset %d: %s", e.off, e.msg) }

// index maps every value's path in the file ("apps[2].upstreams[0]")
// to the offset where it starts, and every object key's path with a
// "#key" suffix to where the key starts.
type index map[string]int

// buildIndex walks std (standardized JSON) and indexes every path. It
// refuses syntax errors and an object with one key twice (a JSON decoder
// would keep the last silently).
func buildIndex(std []byte) (index, error) {
	ix := index{}
	dec := json.NewDecoder(bytes.NewReader(std))
	dec.UseNumber()
	if err := walk(dec, std, "", ix); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &posError{off: int(dec.InputOffset()), msg: "more after the end of the top-level object: the file holds one { … }"}
	}
	return ix, nil
}

// next is the offset of the next token after the decoder's position:
// whitespace, ':' and ',' skipped.
func next(dec *json.Decoder, std []byte) int {
	i := int(dec.InputOffset())
	for i < len(std) && strings.IndexByte(" \t\r\n:,", std[i]) >= 0 {
		i++
	}
	return i
}

func walk(dec *json.Decoder, std []byte, path string, ix index) error {
	start := next(dec, std)
	tok, err := dec.Token()
	if err != nil {
		return syntaxError(err, start)
	}
	ix[path] = start
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kstart := next(dec, std)
			k, err := dec.Token()
			if err != nil {
				return syntaxError(err, kstart)
			}
			key, _ := k.(string)
			if seen[key] {
				return &posError{off: kstart, msg: fmt.Sprintf("key %q given twice in this object: keep one", key)}
			}
			seen[key] = true
			child := key
			if path != "" {
				child = path + "." + key
			}
			ix[child+"#key"] = kstart
			if err := walk(dec, std, child, ix); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return syntaxError(err, next(dec, std))
		}
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := walk(dec, std, path+"["+strconv.Itoa(i)+"]", ix); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return syntaxError(err, next(dec, std))
		}
	}
	return nil
}

// syntaxError places a decoder's syntax error: at its own offset when it
// has one (the offset after the bad byte), else at fallback.
func syntaxError(err error, fallback int) error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return &posError{off: int(se.Offset), msg: "syntax error: " + strings.TrimPrefix(se.Error(), "json: ")}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &posError{off: fallback, msg: "the file ends too early: a } or ] is missing"}
	}
	return &posError{off: fallback, msg: "syntax error: " + err.Error()}
}

// lineCol turns an offset of src into a 1-based line and column
// (counted in characters).
func lineCol(src []byte, off int) (line, col int) {
	off = min(max(off, 0), len(src))
	before := src[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	lineStart := bytes.LastIndexByte(before, '\n') + 1
	return line, utf8.RuneCount(before[lineStart:]) + 1
}
