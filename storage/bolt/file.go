package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"

	"github.com/tenancykit/tenancy/storage"
)

// bbolt's on-disk meta page, as written by bbolt v1 on little-endian machines: a
// 16-byte page header, then magic, version, page size, flags, root bucket (16 bytes),
// freelist page, high-water page, transaction ID and an FNV-64a checksum of the
// preceding 56 bytes.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	metaSize       = 64
)

type metaPage struct {
	pageSize uint32
	pgid     uint64 // high-water mark: pages in use
	txid     uint64
}

// readMeta decodes and verifies one meta page at off; ok is false when it is not a
// valid bbolt meta page.
func readMeta(f *os.File, off int64) (metaPage, bool) {
	var buf [pageHeaderSize + metaSize]byte
	if _, err := f.ReadAt(buf[:], off); err != nil {
		return metaPage{}, false
	}
	m := buf[pageHeaderSize:]
	le := binary.LittleEndian
	if le.Uint32(m[0:]) != boltMagic || le.Uint32(m[4:]) != boltVersion {
		return metaPage{}, false
	}
	h := fnv.New64a()
	h.Write(m[:56])
	if h.Sum64() != le.Uint64(m[56:]) {
		return metaPage{}, false
	}
	return metaPage{pageSize: le.Uint32(m[8:]), pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}, true
}

// checkFile refuses what bbolt would mishandle: a zero-length file (bbolt silently
// initialises it, hiding the loss of a database), a file whose meta pages are both
// invalid (garbage), and a file shorter than its meta page says (truncated: bbolt can
// panic on it). A missing file is fine: Open creates it.
func checkFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bolt: open %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("bolt: stat %s: %w", path, err)
	}
	if st.IsDir() {
		return fmt.Errorf("bolt: %s is a directory", path)
	}
	size := st.Size()
	if size == 0 {
		return fmt.Errorf("bolt: %s is empty (0 bytes): refusing to initialise it, since a lost database looks the same; remove the file to start afresh: %w", path, storage.ErrCorrupt)
	}
	m0, ok0 := readMeta(f, 0)
	var m1 metaPage
	ok1 := false
	for _, ps := range []int64{int64(m0.pageSize), 4096, int64(os.Getpagesize()), 16384, 65536} {
		if ps <= 0 || (ok0 && ps != int64(m0.pageSize)) {
			continue
		}
		if m1, ok1 = readMeta(f, ps); ok1 {
			break
		}
	}
	if !ok0 && !ok1 {
		return fmt.Errorf("bolt: %s is not a bbolt database, or both its meta pages are damaged: %w", path, storage.ErrCorrupt)
	}
	m := m0
	if !ok0 || (ok1 && m1.txid > m0.txid) {
		m = m1
	}
	if m.pageSize < 512 || m.pageSize > 1<<20 || m.pgid < 2 {
		return fmt.Errorf("bolt: %s has an implausible meta page: %w", path, storage.ErrCorrupt)
	}
	if want := int64(m.pgid) * int64(m.pageSize); size < want {
		return fmt.Errorf("bolt: %s is truncated: %d bytes, its meta page needs %d: %w", path, size, want, storage.ErrCorrupt)
	}
	return nil
}
