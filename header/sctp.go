package header

import (
	"encoding/binary"
	"hash/crc32"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SetSCTPChecksum computes the CRC32c of an SCTP packet (common header and
// chunks) with the checksum field zeroed and stores it (RFC 4960 App. B).
func SetSCTPChecksum(s []byte) {
	if len(s) < 12 {
		return
	}
	clear(s[sctpCsumOff : sctpCsumOff+4])
	binary.LittleEndian.PutUint32(s[sctpCsumOff:], crc32.Checksum(s, castagnoli))
}
