package session

import (
	"errors"
	"io/fs"
	"testing"
)

type badNames struct{}

func (badNames) Open() error {
	return &fs.PathError{Op: "open", Path: "caf\xe9.txt", Err: fs.ErrNotExist} // Latin-1
}

// An error whose text is not UTF-8 (a file name in another encoding)
// reaches the caller with its invalid bytes replaced; the session lives.
func TestErrorTextNotUTF8(t *testing.T) {
	cc, sc := rpcPair(t, "pipe", nil, nil)
	sc.Expose("b", badNames{})
	_, err := cc.Service("b").Call(t.Context(), "Open")
	var re *RemoteError
	if !errors.As(err, &re) || !errors.Is(err, fs.ErrNotExist) || re.Message != "open caf\uFFFD.txt: file does not exist" {
		t.Fatalf("err = %v", err)
	}
	if err := cc.Err(); err != nil {
		t.Fatalf("the session ended: %v", err)
	}
}
