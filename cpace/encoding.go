package cpace

import (
	"bytes"
	"errors"
)

// String utilities of the draft's "Notation for string operations" section
// and appendix "CPace function definitions".

// prependLen returns the LEB128 encoding of len(data) followed by data
// (appendix "prepend_len function").
func prependLen(data []byte) []byte {
	return appendLV(make([]byte, 0, len(data)+3), data)
}

// appendLV appends prepend_len(data) to dst.
func appendLV(dst, data []byte) []byte {
	n := uint64(len(data))
	for {
		if n < 128 {
			dst = append(dst, byte(n))
		} else {
			dst = append(dst, byte(n&0x7f)|0x80)
		}
		n >>= 7
		if n == 0 {
			break
		}
	}
	return append(dst, data...)
}

// LVCat is the draft's lv_cat(a0, a1, ...): the concatenation of
// prepend_len(ai). It is exported because applications encode CI with it
// when CI carries several party identifiers (draft section "Guidance
// regarding party identifier integration").
func LVCat(args ...[]byte) []byte {
	n := 0
	for _, a := range args {
		n += len(a) + 3
	}
	out := make([]byte, 0, n)
	for _, a := range args {
		out = appendLV(out, a)
	}
	return out
}

// maxFieldLen bounds one length-value field read from the wire, so a
// hostile length prefix cannot make the parser overflow or allocate.
const maxFieldLen = 1 << 20

var errMalformed = errors.New("cpace: malformed length-value encoding")

// readLV splits one prepend_len(field) off the front of b. It accepts only
// the minimal LEB128 length that prependLen produces, so every accepted
// byte string re-encodes to itself and the transcript is unambiguous.
func readLV(b []byte) (field, rest []byte, err error) {
	var n uint64
	for i := 0; ; i++ {
		if i >= len(b) || i > 3 {
			return nil, nil, errMalformed
		}
		c := b[i]
		n |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			if c == 0 && i > 0 { // non-minimal: trailing zero group
				return nil, nil, errMalformed
			}
			b = b[i+1:]
			break
		}
	}
	if n > maxFieldLen || n > uint64(len(b)) {
		return nil, nil, errMalformed
	}
	return b[:n], b[n:], nil
}

// lexicographicallyLarger reports whether a > b in the draft's
// lexicographical order (appendix "Definitions for lexiographical
// ordering"): bytewise, and on a common prefix the longer string is larger.
func lexicographicallyLarger(a, b []byte) bool {
	m := min(len(a), len(b))
	if c := bytes.Compare(a[:m], b[:m]); c != 0 {
		return c > 0
	}
	return len(a) > len(b)
}

// oCat is the draft's o_cat: b"oc" followed by the larger string, then the
// smaller one.
func oCat(a, b []byte) []byte {
	out := make([]byte, 0, 2+len(a)+len(b))
	out = append(out, "oc"...)
	if lexicographicallyLarger(a, b) {
		return append(append(out, a...), b...)
	}
	return append(append(out, b...), a...)
}

// transcriptIR is transcript_ir(Ya,ADa,Yb,ADb) = lv_cat(Ya,ADa) ||
// lv_cat(Yb,ADb), the transcript of the initiator-responder setting.
func transcriptIR(ya, ada, yb, adb []byte) []byte {
	return append(LVCat(ya, ada), LVCat(yb, adb)...)
}

// transcriptOC is transcript_oc(Ya,ADa,Yb,ADb) =
// o_cat(lv_cat(Ya,ADa), lv_cat(Yb,ADb)), the transcript of the symmetric
// (parallel) setting, where neither side knows which message came first.
func transcriptOC(ya, ada, yb, adb []byte) []byte {
	return oCat(LVCat(ya, ada), LVCat(yb, adb))
}

// generatorString is generator_string(DSI,PRS,CI,sid,s_in_bytes) =
// lv_cat(DSI, PRS, zero_bytes(len_zpad), CI, sid) with
// len_zpad = max(0, s_in_bytes - 1 - len(prepend_len(PRS)) -
// len(prepend_len(DSI))). The padding makes DSI and a short PRS fill the
// first hash block, so the hashed length does not reveal len(PRS)
// (draft section "Common function for computing generators").
func generatorString(dsi, prs, ci, sid []byte, sInBytes int) []byte {
	zpad := max(0, sInBytes-1-lvLen(prs)-lvLen(dsi))
	return LVCat(dsi, prs, make([]byte, zpad), ci, sid)
}

// lvLen is len(prepend_len(b)) without building it.
func lvLen(b []byte) int {
	n := 1
	for l := len(b) >> 7; l > 0; l >>= 7 {
		n++
	}
	return n + len(b)
}
