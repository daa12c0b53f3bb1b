package hop

import "testing"

// What uname -sm prints on the hosts a zero-install upload can go to.
func TestUnameOf(t *testing.T) {
	for _, tt := range []struct{ goos, goarch, want string }{
		{"linux", "amd64", "Linux x86_64"},
		{"linux", "arm64", "Linux aarch64"},
		{"darwin", "amd64", "Darwin x86_64"},
		{"darwin", "arm64", "Darwin arm64"},
	} {
		if got := unameOf(tt.goos, tt.goarch); got != tt.want {
			t.Errorf("unameOf(%s, %s) = %q; want %q", tt.goos, tt.goarch, got, tt.want)
		}
	}
}
