package e2e

// Image bombs.

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func writeBE32(w io.Writer, v uint32) error {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	_, err := w.Write(b[:])
	return err
}

func crc32PNG(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

func newZlib(w io.Writer) io.WriteCloser {
	zw, _ := zlib.NewWriterLevel(w, zlib.BestCompression)
	return zw
}

// pngChunk frames one PNG chunk.
func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	_ = writeBE32(&b, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	_ = writeBE32(&b, crc32PNG(append([]byte(typ), data...)))
	return b.Bytes()
}

// pngBomb is a PNG whose IHDR claims w×h pixels of colorType at depth
// bits, followed by idat (already zlib-compressed).
func pngBomb(w, h uint32, depth, colorType byte, idat []byte) []byte {
	var ihdr bytes.Buffer
	_ = writeBE32(&ihdr, w)
	_ = writeBE32(&ihdr, h)
	ihdr.Write([]byte{depth, colorType, 0, 0, 0})
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	out.Write(pngChunk("IHDR", ihdr.Bytes()))
	out.Write(pngChunk("IDAT", idat))
	out.Write(pngChunk("IEND", nil))
	return out.Bytes()
}

// jpegBomb is a baseline JPEG whose frame header claims w×h.
func jpegBomb(w, h uint16) []byte {
	var b bytes.Buffer
	b.Write([]byte{0xFF, 0xD8})
	// SOF0: length 17, precision 8, height, width, 3 components.
	b.Write([]byte{0xFF, 0xC0, 0x00, 0x11, 0x08, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 0x03,
		0x01, 0x11, 0x00, 0x02, 0x11, 0x00, 0x03, 0x11, 0x00})
	// SOS: length 12, 3 components.
	b.Write([]byte{0xFF, 0xDA, 0x00, 0x0C, 0x03, 0x01, 0x00, 0x02, 0x00, 0x03, 0x00, 0x00, 0x3F, 0x00})
	b.Write(bytes.Repeat([]byte{0x00}, 64))
	b.Write([]byte{0xFF, 0xD9})
	return b.Bytes()
}

// TestImageBombs uploads decompression bombs through the real presigned
// upload path and processes them: each design is REJECTED with a problem
// that names the size, no call answers 5xx, the images worker stays alive
// (same pid, admin /healthz 200) without a memory spike, and it still
// processes a normal design afterwards.
func TestImageBombs(t *testing.T) {
	e := need(t)
	tok := secToken(t, newSubject("bomb"), "user", time.Hour)
	pid := e.fleet.Pid("images")
	if pid == 0 {
		t.Fatal("images worker not running")
	}
	hwmBefore := vmHWM(pid)

	zeros := func(n int) []byte {
		var buf bytes.Buffer
		zw := newZlib(&buf)
		chunk := make([]byte, 1<<20)
		for n > 0 {
			k := min(n, len(chunk))
			_, _ = zw.Write(chunk[:k])
			n -= k
		}
		_ = zw.Close()
		return buf.Bytes()
	}
	bombs := []struct {
		name, contentType string
		data              []byte
	}{
		// IHDR claims 100,000 × 100,000 RGBA (40 GB decoded); a token IDAT.
		{"png 100000x100000 header", "image/png", pngBomb(100_000, 100_000, 8, 6, zeros(1024))},
		// A complete, valid 1-bit grey PNG of 20,000 × 20,000 (400 MP): every
		// row is a filter byte and 2,500 zero bytes, 50 MB inflated from ~50 KB.
		{"png 20000x20000 complete 1-bit", "image/png", pngBomb(20_000, 20_000, 1, 0, zeros(20_000*(1+2_500)))},
		// A JPEG frame header claiming 65,500 × 65,500.
		{"jpeg 65500x65500 header", "image/jpeg", jpegBomb(65_500, 65_500)},
	}
	for _, b := range bombs {
		t.Run(b.name, func(t *testing.T) {
			t.Logf("%s: %d bytes", b.name, len(b.data))
			id := uploadedDesign(t, e, tok, "bomb.png", b.contentType, b.data)
			r := e.api.do(t, "POST", "/v1/designs/"+id+":process", tok, map[string]any{})
			if r.Status >= 500 {
				t.Fatalf(":process answered %d %s", r.Status, r.Body)
			}
			var last map[string]any
			eventually(t, 60*time.Second, "bomb rejected", func() (bool, string) {
				g := e.api.do(t, "GET", "/v1/designs/"+id, tok, nil)
				if g.Status != http.StatusOK {
					t.Fatalf("GET design: %d %s", g.Status, g.Body)
				}
				last = g.JSON(t)
				if s := str(last, "status"); s == "DESIGN_STATUS_READY" {
					t.Fatalf("a bomb became READY: %s", g.Body)
				}
				return str(last, "status") == "DESIGN_STATUS_REJECTED", str(last, "status")
			})
			problems, _ := dig(last, "report", "problems").([]any)
			joined := strings.ToLower(fmt.Sprint(problems...))
			if len(problems) == 0 || !(strings.Contains(joined, "limit") || strings.Contains(joined, "exceed") || strings.Contains(joined, "pixel") ||
				strings.Contains(joined, "mp")) {
				t.Errorf("rejection without a clear problem naming the size: %s", secJSON(dig(last, "report")))
			}
			if p := e.fleet.Pid("images"); p != pid {
				t.Fatalf("the images worker is gone or restarted (pid %d → %d); log: %s", pid, p, e.fleet.LogPath("images"))
			}
			resp, err := http.Get("http://" + e.layout.Admin(9204) + "/healthz")
			if err != nil {
				t.Fatalf("images /healthz: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("images /healthz: %s", resp.Status)
			}
		})
	}
	if before, after := hwmBefore, vmHWM(pid); before > 0 && after-before > 512<<20 {
		t.Errorf("the images worker's peak memory grew by %d MiB while rejecting bombs (%d → %d MiB)", (after-before)>>20, before>>20, after>>20)
	} else {
		t.Logf("images worker peak RSS %d → %d MiB", before>>20, after>>20)
	}
	// Still working.
	readyDesign(t, e, tok, designPNG(t, 600, 600))
}

// vmHWM is a process's peak resident set in bytes (0 when unknown).
func vmHWM(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			var kb int64
			_, _ = fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb << 10
		}
	}
	return 0
}
