package certs

import (
	"crypto/tls"
	"errors"
)

// ClientConfig returns a TLS 1.3 client configuration that presents id and
// accepts only a server that trust accepts (see [Trust]). serverName is sent
// as SNI only: servers are identified by CA-issued principal or by
// fingerprint, never by host name. The caller may set fields the verifier
// does not depend on, such as NextProtos, on the returned config.
//
// A failed verification aborts the handshake with an [*UnknownPeerError],
// [*MismatchError], [ErrNoCertificate] or an error wrapping the x509 error,
// which [tls.Conn.Handshake] returns as is. In TLS 1.3 the client finishes its
// handshake before the server has checked the client's certificate, so a
// client the server refuses learns it from its first Read ("remote error:
// tls: bad certificate"); the reason is only known to the server.
//
// The verification lives in VerifyConnection, which reads only
// ConnectionState.PeerCertificates, so a transport that is not crypto/tls
// (DTLS, say) can run it on the parsed peer certificates itself.
func ClientConfig(id *Identity, trust Trust, serverName string) (*tls.Config, error) {
	if id == nil {
		return nil, errors.New("certs: client config: nil identity")
	}
	v, err := trust.verifier(roleServer)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		MaxVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.TLSCertificate()},
		ServerName:   serverName,
		// Verification is NOT skipped: VerifyConnection below does it, for
		// every handshake including resumptions. crypto/tls's built-in client
		// verification can only check a chain to RootCAs plus a host name; it
		// cannot accept a pinned self-signed certificate, and hopwire does
		// not identify nodes by host name. This is the only place in the
		// package that sets InsecureSkipVerify.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return v.verify(cs.PeerCertificates)
		},
	}, nil
}

// ServerConfig returns a TLS 1.3 server configuration that presents id and
// requires every client to present a certificate that trust accepts (see
// [Trust]). Errors are as for [ClientConfig]; a client that sends no
// certificate at all is refused by crypto/tls itself ("tls: client didn't
// provide a certificate"). The caller may set fields the verifier does not
// depend on, such as NextProtos, on the returned config.
func ServerConfig(id *Identity, trust Trust) (*tls.Config, error) {
	if id == nil {
		return nil, errors.New("certs: server config: nil identity")
	}
	v, err := trust.verifier(roleClient)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		MaxVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.TLSCertificate()},
		// Any certificate is requested and required here; which ones are
		// accepted is decided by VerifyConnection.
		ClientAuth: tls.RequireAnyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return v.verify(cs.PeerCertificates)
		},
	}, nil
}
