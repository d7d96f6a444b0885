package inspect

import "bytes"

// isSOF reports whether marker starts a frame (SOF0–SOF15 except DHT, JPG
// and DAC, which share the range).
func isSOF(m byte) bool {
	return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC
}

// readJPEG walks the marker segments up to the first SOS, taking the frame
// size from the (single) SOFn segment and the orientation from an APP1 Exif
// segment. It returns the offset of the SOS marker.
func readJPEG(b []byte) (Header, int, error) {
	h := Header{Orientation: 1}
	frames := 0
	for off := 2; ; {
		if off >= len(b) {
			return Header{}, 0, problem(ReasonTruncated, "JPEG ends at byte %d before its first scan", len(b))
		}
		if b[off] != 0xFF {
			return Header{}, 0, problem(ReasonMalformed, "JPEG byte %d is 0x%02x, want a marker", off, b[off])
		}
		for off < len(b) && b[off] == 0xFF { // fill bytes
			off++
		}
		if off >= len(b) {
			return Header{}, 0, problem(ReasonTruncated, "JPEG ends inside a marker")
		}
		m := b[off]
		off++
		switch {
		case m == 0x01 || (m >= 0xD0 && m <= 0xD7): // standalone
			continue
		case m == 0xD8 || m == 0xD9 || m == 0x00:
			return Header{}, 0, problem(ReasonMalformed, "JPEG marker 0x%02x before the first scan", m)
		}
		if off+2 > len(b) {
			return Header{}, 0, problem(ReasonTruncated, "JPEG ends inside the length of marker 0x%02x", m)
		}
		n := be16(b[off:])
		if n < 2 {
			return Header{}, 0, problem(ReasonMalformed, "JPEG marker 0x%02x has length %d", m, n)
		}
		if off+n > len(b) {
			return Header{}, 0, problem(ReasonTruncated, "JPEG segment 0x%02x at byte %d needs %d bytes, the file has %d", m, off-2, n, len(b)-off)
		}
		seg := b[off+2 : off+n]
		switch {
		case isSOF(m):
			frames++
			if frames > 1 {
				return Header{}, 0, problem(ReasonMalformed, "JPEG has more than one frame header")
			}
			if len(seg) < 6 || len(seg) != 6+3*int(seg[5]) {
				return Header{}, 0, problem(ReasonMalformed, "JPEG frame header of %d bytes", len(seg))
			}
			h.Height, h.Width, h.Components = be16(seg[1:]), be16(seg[3:]), int(seg[5])
			switch h.Components {
			case 1, 3, 4:
			default:
				return Header{}, 0, problem(ReasonUnsupportedFormat, "JPEG with %d components", h.Components)
			}
			if m == 0xC3 || m == 0xC7 || m == 0xCB || m == 0xCF {
				return Header{}, 0, problem(ReasonUnsupportedFormat, "lossless JPEG (SOF%d)", m-0xC0)
			}
		case m == 0xE1 && h.Orientation == 1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")):
			h.Orientation = exifOrientation(seg[6:])
		case m == 0xDA:
			if frames == 0 {
				return Header{}, 0, problem(ReasonMalformed, "JPEG scan before any frame header")
			}
			return h, off - 2, nil
		}
		off += n
	}
}

// completeJPEG requires an EOI marker after the first scan. Inside
// entropy-coded data 0xFF is always followed by 0x00 or a restart marker,
// so 0xFF 0xD9 there is the real end.
func completeJPEG(b []byte) error {
	_, sos, err := readJPEG(b)
	if err != nil {
		return err
	}
	if bytes.LastIndex(b[sos:], []byte{0xFF, 0xD9}) < 0 {
		return problem(ReasonTruncated, "JPEG of %d bytes has no end-of-image marker", len(b))
	}
	return nil
}
