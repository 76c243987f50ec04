module github.com/livedoc/livedoc

go 1.26.0

require (
	github.com/coder/websocket v1.8.15
	github.com/ncruces/go-sqlite3 v0.37.0
	golang.org/x/crypto v0.59.0
)

require (
	github.com/ncruces/go-sqlite3-wasm/v6 v6.5.35401 // indirect
	github.com/ncruces/julianday v1.0.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
