package inspect

import (
	"hash/crc32"
)

const pngSignature = "\x89PNG\r\n\x1a\n"

// maxPNGChunk is the largest chunk length the PNG spec allows (2^31-1).
const maxPNGChunk = 1<<31 - 1

// readPNG parses the IHDR (which must be the first chunk) and then the
// ancillary chunks before the first IDAT that change what the image is:
// tRNS (alpha) and eXIf (orientation). Only the header region is read.
func readPNG(b []byte) (Header, error) {
	const ihdrEnd = 8 + 8 + 13 + 4
	if len(b) < ihdrEnd {
		return Header{}, problem(ReasonTruncated, "PNG ends at byte %d, inside the IHDR chunk", len(b))
	}
	if be32(b[8:]) != 13 || string(b[12:16]) != "IHDR" {
		return Header{}, problem(ReasonMalformed, "PNG does not start with a 13-byte IHDR chunk")
	}
	ihdr := b[16:29]
	if crc32.ChecksumIEEE(b[12:29]) != be32(b[29:]) {
		return Header{}, problem(ReasonMalformed, "PNG IHDR checksum mismatch")
	}
	w, h := be32(ihdr[0:]), be32(ihdr[4:])
	depth, colour, compression, filter, interlace := ihdr[8], ihdr[9], ihdr[10], ihdr[11], ihdr[12]
	if w == 0 || h == 0 || w > maxPNGChunk || h > maxPNGChunk {
		return Header{}, problem(ReasonMalformed, "PNG IHDR declares %dx%d", w, h)
	}
	var comps int
	okDepth := false
	switch colour {
	case 0: // grey
		comps, okDepth = 1, depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16
	case 2: // RGB
		comps, okDepth = 3, depth == 8 || depth == 16
	case 3: // palette
		comps, okDepth = 3, depth == 1 || depth == 2 || depth == 4 || depth == 8
	case 4: // grey + alpha
		comps, okDepth = 2, depth == 8 || depth == 16
	case 6: // RGBA
		comps, okDepth = 4, depth == 8 || depth == 16
	default:
		return Header{}, problem(ReasonMalformed, "PNG colour type %d", colour)
	}
	if !okDepth || compression != 0 || filter != 0 || interlace > 1 {
		return Header{}, problem(ReasonMalformed, "PNG IHDR colour type %d, depth %d, compression %d, filter %d, interlace %d",
			colour, depth, compression, filter, interlace)
	}
	hd := Header{Width: int(w), Height: int(h), Orientation: 1, HasAlpha: colour == 4 || colour == 6, Components: comps}

	// Ancillary chunks that precede the pixel data.
	for off := ihdrEnd; off+8 <= len(b); {
		n := be32(b[off:])
		typ := string(b[off+4 : off+8])
		if n > maxPNGChunk {
			return Header{}, problem(ReasonMalformed, "PNG chunk %q claims %d bytes", typ, n)
		}
		if typ == "IDAT" || typ == "IEND" {
			break
		}
		data := off + 8
		next := data + int(n) + 4
		if next > len(b) {
			break // a short prefix: the header is known, the rest is Check's business
		}
		switch typ {
		case "tRNS":
			hd.HasAlpha = true
		case "eXIf":
			hd.Orientation = exifOrientation(b[data : data+int(n)])
		case "acTL":
			return Header{}, problem(ReasonUnsupportedFormat, "animated PNG")
		}
		off = next
	}
	return hd, nil
}

// completePNG walks every chunk by its length (no decompression) and
// requires at least one IDAT and an IEND inside the data.
func completePNG(b []byte) error {
	idat := false
	for off := 8; ; {
		if off+12 > len(b) {
			return problem(ReasonTruncated, "PNG ends at byte %d before its IEND chunk", len(b))
		}
		n := be32(b[off:])
		typ := string(b[off+4 : off+8])
		if n > maxPNGChunk {
			return problem(ReasonMalformed, "PNG chunk %q claims %d bytes", typ, n)
		}
		next := off + 12 + int(n)
		if next > len(b) {
			return problem(ReasonTruncated, "PNG chunk %q at byte %d needs %d bytes, the file has %d", typ, off, n, len(b)-off-12)
		}
		switch typ {
		case "IDAT":
			idat = true
		case "IEND":
			if !idat {
				return problem(ReasonMalformed, "PNG has no IDAT chunk")
			}
			return nil
		}
		off = next
	}
}
