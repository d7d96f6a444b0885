package inspect

// exifOrientation reads tag 0x0112 (Orientation) from IFD0 of a TIFF-format
// EXIF block. Anything unreadable means "no orientation" (1): a broken EXIF
// block is not a reason to refuse an image.
func exifOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var u16 func([]byte) int
	var u32 func([]byte) uint32
	switch string(t[:4]) {
	case "II*\x00":
		u16, u32 = le16, le32
	case "MM\x00*":
		u16, u32 = be16, be32
	default:
		return 1
	}
	ifd := int64(u32(t[4:]))
	if ifd < 8 || ifd+2 > int64(len(t)) {
		return 1
	}
	n := u16(t[ifd:])
	for i := range n {
		e := ifd + 2 + int64(i)*12
		if e+12 > int64(len(t)) {
			return 1
		}
		if u16(t[e:]) != 0x0112 {
			continue
		}
		// type SHORT (3), count 1, value in the first two bytes of the field.
		if u16(t[e+2:]) != 3 || u32(t[e+4:]) != 1 {
			return 1
		}
		if o := u16(t[e+8:]); o >= 1 && o <= 8 {
			return o
		}
		return 1
	}
	return 1
}
