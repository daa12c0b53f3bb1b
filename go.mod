module github.com/hopwire/hopwire

go 1.26

require github.com/xtaci/smux v1.5.58

require go.uber.org/goleak v1.3.0
