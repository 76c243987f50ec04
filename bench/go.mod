module github.com/livedoc/livedoc/bench

go 1.26.0

require github.com/livedoc/livedoc v0.0.0

require github.com/coder/websocket v1.8.15

replace github.com/livedoc/livedoc => ../
