package session

import "runtime/debug"

// modulePath is hopwire's module, whose version a link hello announces.
const modulePath = "github.com/hopwire/hopwire"

// software is what this side's link hellos announce (Peer.Version on the
// other side): "hopwire/" and the version of the hopwire module in this
// binary, from its build information.
var software = "hopwire/" + moduleVersion(debug.ReadBuildInfo())

func moduleVersion(bi *debug.BuildInfo, ok bool) string {
	if !ok {
		return "(unknown)"
	}
	if bi.Main.Path == modulePath && bi.Main.Version != "" {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path != modulePath {
			continue
		}
		if d.Replace != nil && d.Replace.Version != "" {
			return d.Replace.Version
		}
		if d.Version != "" {
			return d.Version
		}
	}
	return "(devel)"
}
