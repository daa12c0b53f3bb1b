// Package integration holds hopwire's end-to-end tests: the real binary,
// real processes in network namespaces, and (in later issues) a real
// OpenSSH sshd and a userspace fault proxy. The tests are behind the
// "integration" build tag and need root and `ip netns`; they skip
// otherwise. The packaging tests (packaging_test.go: make install, make
// release, the systemd unit, the Containerfile) need neither, only make:
//
//	go test -tags integration ./integration/
package integration
