package mmap

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the size of an x86-64 (and arm64 4K-granule) PMD mapping.
const hugePage = 2 << 20

// mapFile maps the file at a 2 MiB-aligned address, so that adviseHuge
// can have it mapped with huge pages. Decoding reads every weight once per token, and with 4 KiB pages
// the hardware prefetchers stop at every page boundary and the TLB misses
// on every page: on a Zen 4 the same model decodes about 10% faster from 2
// MiB mappings. The kernel maps the page cache's large folios with 2 MiB
// entries only where file offset and address agree modulo 2 MiB, which the
// aligned address gives for the whole file.
func mapFile(f *os.File, size int) ([]byte, func() error, error) {
	p, err := mapAligned(size, unix.PROT_READ, unix.MAP_SHARED, int(f.Fd()))
	if err != nil {
		return nil, nil, err
	}
	data := unsafe.Slice((*byte)(p), size)
	return data, func() error { return unix.MunmapPtr(p, uintptr(size)) }, nil
}

func alloc(n int, huge bool) ([]byte, func()) {
	if !huge {
		b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil { // out of address space: let the Go heap say so
			return make([]byte, n), func() {}
		}
		return b, func() { unix.Munmap(b) }
	}
	p, err := mapAligned(n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, -1)
	if err != nil { // out of address space: let the Go heap say so
		return make([]byte, n), func() {}
	}
	b := unsafe.Slice((*byte)(p), n)
	adviseHuge(b)
	return b, func() { unix.MunmapPtr(p, uintptr(n)) }
}

// mapAligned maps size bytes at a 2 MiB-aligned address: it reserves
// size+2 MiB of address space, maps at the first aligned address inside
// it and gives back the rest.
func mapAligned(size, prot, flags, fd int) (unsafe.Pointer, error) {
	res, err := unix.MmapPtr(-1, 0, nil, uintptr(size+hugePage), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, err
	}
	aligned := unsafe.Add(res, -uintptr(res)&(hugePage-1))
	p, err := unix.MmapPtr(fd, 0, aligned, uintptr(size), prot, flags|unix.MAP_FIXED)
	if err != nil {
		unix.MunmapPtr(res, uintptr(size+hugePage))
		return nil, err
	}
	if head := uintptr(p) - uintptr(res); head > 0 {
		unix.MunmapPtr(res, head)
	}
	if tail := hugePage - (uintptr(p) - uintptr(res)); tail > 0 {
		unix.MunmapPtr(unsafe.Add(p, size), tail)
	}
	return p, nil
}

// adviseHuge asks the kernel to back b with 2 MiB pages (for a file, to
// read it into 2 MiB folios and map them whole) from now on. It is advice only: without transparent huge
// pages the mapping works the same. Load does not give it, so that reading
// headers and small vectors does not bring in 2 MiB around each.
func adviseHuge(b []byte) { unix.Madvise(b, unix.MADV_HUGEPAGE) }

// smallPages reports whether less than half of the first n (touched) bytes
// of the mapping are mapped with 2 MiB entries, read from /proc/self/smaps.
// A file the page cache already holds in small folios (written or read
// before without huge-page advice) stays in them; a file read afresh under
// the advice comes in as 2 MiB folios.
func smallPages(m *File, n int) bool {
	if n < 2*hugePage {
		return false
	}
	pmd, err := pmdMapped(uintptr(unsafe.Pointer(&m.Data[0])))
	return err == nil && pmd < int64(n)/2
}

// pmdMapped is FilePmdMapped of the mapping starting at addr, in bytes.
func pmdMapped(addr uintptr) (int64, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	head := fmt.Sprintf("%x-", addr)
	in := false
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, head) {
			in = true
			continue
		}
		if in && strings.HasPrefix(line, "FilePmdMapped:") {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(line, "FilePmdMapped:")), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("mapping %#x not in /proc/self/smaps", addr)
}

// dropCache unmaps the mapping's pages and asks the kernel to drop the
// file's clean cached pages that no one else maps, so that the next touch
// reads them again, under the huge-page advice.
func dropCache(m *File) error {
	if err := unix.Madvise(m.Data, unix.MADV_DONTNEED); err != nil {
		return err
	}
	f, err := os.Open(m.path)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

func release(b []byte) { unix.Madvise(b, unix.MADV_DONTNEED) }

// reserve allocates the file's blocks before it is written through a
// mapping: a write to a mapped page the disk has no room for kills the
// process (SIGBUS) instead of returning an error, so a full disk must show
// here. File systems that cannot preallocate are left to Truncate.
func reserve(f *os.File, size int64) error {
	if size == 0 {
		return nil
	}
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if err == unix.EOPNOTSUPP || err == unix.ENOSYS {
		return nil
	}
	return err
}
