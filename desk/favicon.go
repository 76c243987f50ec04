package desk

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"net/http"
)

// favicon is /favicon.ico: a 32×32 PNG in an ICO container (browsers ask for it on every page;
// a 404 there is a console error), drawn here rather than stored as a binary file.
var favicon = makeFavicon()

func makeFavicon() []byte {
	const n = 32
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	accent := color.NRGBA{0x2b, 0x5f, 0xd9, 0xff}
	white := color.NRGBA{0xff, 0xff, 0xff, 0xff}
	for y := range n {
		for x := range n {
			// A rounded square (corner radius 7) in the desk's accent colour...
			cx, cy := min(max(x, 7), n-8), min(max(y, 7), n-8)
			if dx, dy := x-cx, y-cy; dx*dx+dy*dy > 49 {
				continue
			}
			img.Set(x, y, accent)
			// ...with a white "l" and a dot: livedoc.
			if (x >= 11 && x <= 14 && y >= 6 && y <= 25) || (x >= 11 && x <= 21 && y >= 22 && y <= 25) ||
				((x-21)*(x-21)+(y-10)*(y-10) <= 6) {
				img.Set(x, y, white)
			}
		}
	}
	var p bytes.Buffer
	if err := png.Encode(&p, img); err != nil {
		panic(err)
	}
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	w([3]uint16{0, 1, 1})                 // reserved, type icon, one image
	w([4]uint8{n, n, 0, 0})               // width, height, colours, reserved
	w([2]uint16{1, 32})                   // planes, bits per pixel
	w([2]uint32{uint32(p.Len()), 6 + 16}) // size, offset
	b.Write(p.Bytes())
	return b.Bytes()
}

func serveFavicon(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "image/x-icon")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "favicon.ico", startTime, bytes.NewReader(favicon))
}
