package inspect

import "bytes"

// VP8X feature flags.
const (
	vp8xAnimation = 0x02
	vp8xEXIF      = 0x08
	vp8xAlpha     = 0x10
)

// readWebP parses the first chunk (VP8, VP8L or VP8X). For VP8X it also
// finds the image bitstream and EXIF chunks and requires the bitstream's own
// size to equal the canvas, so a small canvas cannot hide a huge frame.
func readWebP(b []byte) (Header, error) {
	if len(b) < 12+8 {
		return Header{}, problem(ReasonTruncated, "WebP ends at byte %d, before its first chunk", len(b))
	}
	riff := int64(le32(b[4:]))
	if riff < 4+8 || riff%2 != 0 {
		return Header{}, problem(ReasonMalformed, "WebP RIFF size %d", riff)
	}
	fourcc := string(b[12:16])
	switch fourcc {
	case "VP8 ", "VP8L":
		w, h, alpha, err := webpBitstream(fourcc, chunkPrefix(b, 12))
		if err != nil {
			return Header{}, err
		}
		return Header{Width: w, Height: h, HasAlpha: alpha, Orientation: 1, Components: 3}, nil
	case "VP8X":
	default:
		return Header{}, problem(ReasonMalformed, "WebP first chunk %q", fourcc)
	}

	x := chunkPrefix(b, 12)
	if len(x) < 10 {
		return Header{}, problem(ReasonTruncated, "WebP VP8X chunk cut short")
	}
	if le32(b[16:]) < 10 {
		return Header{}, problem(ReasonMalformed, "WebP VP8X chunk of %d bytes", le32(b[16:]))
	}
	flags := x[0]
	if flags&vp8xAnimation != 0 {
		return Header{}, problem(ReasonUnsupportedFormat, "animated WebP")
	}
	h := Header{Width: le24(x[4:]) + 1, Height: le24(x[7:]) + 1, HasAlpha: flags&vp8xAlpha != 0, Orientation: 1, Components: 3}

	// Walk the chunks after VP8X for the bitstream (and EXIF, which may come
	// after it).
	found := false
	for off := 12 + 8 + int(le32(b[16:])); off+8 <= len(b); {
		fourcc := string(b[off : off+4])
		n := int64(le32(b[off+4:]))
		data := chunkPrefix(b, off)
		switch fourcc {
		case "VP8 ", "VP8L":
			w, ht, _, err := webpBitstream(fourcc, data)
			if err != nil {
				return Header{}, err
			}
			if w != h.Width || ht != h.Height {
				return Header{}, problem(ReasonMalformed, "WebP frame %dx%d differs from the canvas %dx%d", w, ht, h.Width, h.Height)
			}
			found = true
		case "EXIF":
			if flags&vp8xEXIF != 0 && int64(len(data)) == n {
				h.Orientation = exifOrientation(bytes.TrimPrefix(data, []byte("Exif\x00\x00")))
			}
		}
		off += 8 + int(n+n%2) // n < 2^32: no overflow on 64-bit ints
	}
	if !found {
		return Header{}, problem(ReasonTruncated, "WebP has no image bitstream within %d bytes", len(b))
	}
	return h, nil
}

// chunkPrefix returns the data of the RIFF chunk at off, cut to what b holds.
func chunkPrefix(b []byte, off int) []byte {
	if off+8 > len(b) {
		return nil
	}
	n := int64(le32(b[off+4:]))
	end := int64(off+8) + n
	if end > int64(len(b)) {
		end = int64(len(b))
	}
	return b[off+8 : end]
}

// webpBitstream reads the frame size from a VP8 (lossy) or VP8L (lossless)
// bitstream header.
func webpBitstream(fourcc string, d []byte) (w, h int, alpha bool, err error) {
	if fourcc == "VP8L" {
		if len(d) < 5 {
			return 0, 0, false, problem(ReasonTruncated, "WebP VP8L header cut short")
		}
		if d[0] != 0x2F {
			return 0, 0, false, problem(ReasonMalformed, "WebP VP8L signature 0x%02x", d[0])
		}
		bits := le32(d[1:])
		w = int(bits&0x3FFF) + 1
		h = int(bits>>14&0x3FFF) + 1
		alpha = bits>>28&1 == 1
		if version := bits >> 29; version != 0 {
			return 0, 0, false, problem(ReasonMalformed, "WebP VP8L version %d", version)
		}
		return w, h, alpha, nil
	}
	if len(d) < 10 {
		return 0, 0, false, problem(ReasonTruncated, "WebP VP8 header cut short")
	}
	if d[0]&1 != 0 {
		return 0, 0, false, problem(ReasonMalformed, "WebP VP8 stream does not start with a key frame")
	}
	if d[3] != 0x9D || d[4] != 0x01 || d[5] != 0x2A {
		return 0, 0, false, problem(ReasonMalformed, "WebP VP8 start code % x", d[3:6])
	}
	// 14 bits of size, 2 bits of upscaling hint (which decoders ignore).
	return le16(d[6:]) & 0x3FFF, le16(d[8:]) & 0x3FFF, false, nil
}

// completeWebP requires the whole RIFF payload to be present.
func completeWebP(b []byte) error {
	want := int64(le32(b[4:])) + 8
	if int64(len(b)) < want {
		return problem(ReasonTruncated, "WebP RIFF declares %d bytes, the file has %d", want, len(b))
	}
	// Every chunk must fit in the RIFF payload.
	for off := int64(12); off < want; {
		if off+8 > want {
			return problem(ReasonMalformed, "WebP chunk header at byte %d runs past the RIFF end", off)
		}
		fourcc := string(b[off : off+4])
		n := int64(le32(b[off+4:]))
		off += 8 + n + n%2
		if off > want {
			return problem(ReasonTruncated, "WebP chunk %q runs past the RIFF end", fourcc)
		}
	}
	return nil
}
