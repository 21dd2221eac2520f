package trace

import (
	"encoding/binary"
	"io"
	"time"
)

// PcapWriter writes the frames of records to a classic pcap file
// (microsecond timestamps, Ethernet link type), which tcpdump -r and
// Wireshark read. The format is small enough to write here, which keeps
// gopacket (tests only) out of the data plane's imports; the tests read
// the files back with gopacket's pcapgo.
type PcapWriter struct {
	w   io.Writer
	hdr [16]byte
}

// Pcap constants: the magic of microsecond files, version 2.4, the
// Ethernet link type (LINKTYPE_ETHERNET).
const (
	pcapMagic    = 0xa1b2c3d4
	linkEthernet = 1
)

// NewPcapWriter writes the file header to w and returns the writer.
func NewPcapWriter(w io.Writer) (*PcapWriter, error) {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], pcapMagic)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], SnapLen)
	binary.LittleEndian.PutUint32(h[20:], linkEthernet)
	if _, err := w.Write(h[:]); err != nil {
		return nil, err
	}
	return &PcapWriter{w: w}, nil
}

// WriteFrame writes one frame of origLen bytes of which data was captured.
func (p *PcapWriter) WriteFrame(at time.Time, data []byte, origLen int) error {
	us := at.UnixMicro()
	binary.LittleEndian.PutUint32(p.hdr[0:], uint32(us/1e6))
	binary.LittleEndian.PutUint32(p.hdr[4:], uint32(us%1e6))
	binary.LittleEndian.PutUint32(p.hdr[8:], uint32(len(data)))
	binary.LittleEndian.PutUint32(p.hdr[12:], uint32(max(origLen, len(data))))
	if _, err := p.w.Write(p.hdr[:]); err != nil {
		return err
	}
	_, err := p.w.Write(data)
	return err
}

// WriteRecord writes the frame r received and, if it left, the frame it
// sent, with the record's time.
func (p *PcapWriter) WriteRecord(r *Record) error {
	if len(r.BeforeFrame) > 0 {
		if err := p.WriteFrame(r.Time, r.BeforeFrame, r.BeforeLen); err != nil {
			return err
		}
	}
	if len(r.AfterFrame) > 0 {
		return p.WriteFrame(r.Time, r.AfterFrame, r.AfterLen)
	}
	return nil
}
