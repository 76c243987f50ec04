// Package clientjs embeds livedoc's JavaScript client (livedoc.js, an ES module with no
// dependencies, and its TypeScript declarations) so that the server can serve it, e.g. at
// /assets/livedoc.js with Content-Type text/javascript.
package clientjs

import "embed"

// Files holds livedoc.js and livedoc.d.ts at its root.
//
//go:embed livedoc.js livedoc.d.ts
var Files embed.FS

// JS is livedoc.js.
//
//go:embed livedoc.js
var JS []byte

// DTS is livedoc.d.ts.
//
//go:embed livedoc.d.ts
var DTS []byte
