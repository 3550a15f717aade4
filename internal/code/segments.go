package code

import (
	"fmt"
	"math"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/common/reedsolomon"
	"github.com/makiuchi-d/gozxing/qrcode/decoder"
	"github.com/makiuchi-d/gozxing/qrcode/encoder"
)

// A SMART Health Card's QR text is "shc:/" and then digits. Its
// specification asks for two segments, the prefix in byte mode and the
// digits in numeric mode (3.3 bits a digit instead of 8), at
// error-correction level L: a card then fits a QR code of version 22 or
// less, which a phone camera reads from another phone's screen. The QR
// libraries here encode one segment only, so the bits are laid out here and
// gozxing draws them (function patterns, format and version information,
// masking).

// numericSymbol encodes text, a prefix followed by digits only, as a byte
// segment and a numeric segment at level L, and returns its modules
// (true is dark), indexed [y][x]. ok is false when text is not of that
// shape.
func numericSymbol(text string) (modules [][]bool, ok bool, err error) {
	prefix, digits := text, ""
	for i := len(text); i > 0 && text[i-1] >= '0' && text[i-1] <= '9'; i-- {
		prefix, digits = text[:i-1], text[i-1:]
	}
	if len(digits) < 8 || len(prefix) > 16 {
		return nil, false, nil
	}
	ec := decoder.ErrorCorrectionLevel_L
	var version *decoder.Version
	for n := 1; n <= 40; n++ {
		v, _ := decoder.Version_GetVersionForNumber(n)
		bits := 4 + decoder.Mode_BYTE.GetCharacterCountBits(v) + 8*len(prefix) +
			4 + decoder.Mode_NUMERIC.GetCharacterCountBits(v) + 10*(len(digits)/3) + []int{0, 4, 7}[len(digits)%3]
		if v.GetTotalCodewords()-v.GetECBlocksForLevel(ec).GetTotalECCodewords() >= (bits+7)/8 {
			version = v
			break
		}
	}
	if version == nil {
		return nil, true, fmt.Errorf("qr: %d digits do not fit a QR code", len(digits))
	}

	data := gozxing.NewEmptyBitArray()
	add := func(value, n int) { _ = data.AppendBits(value, n) }
	if prefix != "" {
		add(decoder.Mode_BYTE.GetBits(), 4)
		add(len(prefix), decoder.Mode_BYTE.GetCharacterCountBits(version))
		for i := 0; i < len(prefix); i++ {
			add(int(prefix[i]), 8)
		}
	}
	add(decoder.Mode_NUMERIC.GetBits(), 4)
	add(len(digits), decoder.Mode_NUMERIC.GetCharacterCountBits(version))
	for i := 0; i < len(digits); i += 3 {
		group := digits[i:min(i+3, len(digits))]
		v := 0
		for _, d := range []byte(group) {
			v = v*10 + int(d-'0')
		}
		add(v, []int{0, 4, 7, 10}[len(group)])
	}

	// Terminator, byte alignment and pad bytes (ISO/IEC 18004 7.4.9-10).
	blocks := version.GetECBlocksForLevel(ec)
	total := version.GetTotalCodewords()
	dataBytes := total - blocks.GetTotalECCodewords()
	for i := 0; i < 4 && data.GetSize() < 8*dataBytes; i++ {
		data.AppendBit(false)
	}
	for data.GetSize()%8 != 0 {
		data.AppendBit(false)
	}
	for i := 0; data.GetSizeInBytes() < dataBytes; i++ {
		add([]int{0xEC, 0x11}[i%2], 8)
	}

	// Blocks with their error correction, interleaved (7.5-7.6).
	raw := make([]byte, dataBytes)
	data.ToBytes(0, raw, 0, dataBytes)
	ecPerBlock := blocks.GetECCodewordsPerBlock()
	rs := reedsolomon.NewReedSolomonEncoder(reedsolomon.GenericGF_QR_CODE_FIELD_256)
	var dataBlocks, ecBlocks [][]byte
	off := 0
	for _, group := range blocks.GetECBlocks() {
		for range group.GetCount() {
			block := raw[off : off+group.GetDataCodewords()]
			off += len(block)
			words := make([]int, len(block)+ecPerBlock)
			for i, b := range block {
				words[i] = int(b)
			}
			if err := rs.Encode(words, ecPerBlock); err != nil {
				return nil, true, fmt.Errorf("qr: %w", err)
			}
			ecb := make([]byte, ecPerBlock)
			for i := range ecb {
				ecb[i] = byte(words[len(block)+i])
			}
			dataBlocks, ecBlocks = append(dataBlocks, block), append(ecBlocks, ecb)
		}
	}
	final := gozxing.NewEmptyBitArray()
	for _, blocks := range [][][]byte{dataBlocks, ecBlocks} {
		for i := 0; ; i++ {
			more := false
			for _, b := range blocks {
				if i < len(b) {
					_ = final.AppendBits(int(b[i]), 8)
					more = true
				}
			}
			if !more {
				break
			}
		}
	}
	if final.GetSizeInBytes() != total {
		return nil, true, fmt.Errorf("qr: %d codewords laid out for version %d, which has %d", final.GetSizeInBytes(), version.GetVersionNumber(), total)
	}

	// The mask with the lowest penalty (7.8.3).
	dim := version.GetDimensionForVersion()
	matrix, best := encoder.NewByteMatrix(dim, dim), -1
	for mask, penalty := 0, math.MaxInt; mask < 8; mask++ {
		if err := encoder.MatrixUtil_buildMatrix(final, ec, version, mask, matrix); err != nil {
			return nil, true, fmt.Errorf("qr: %w", err)
		}
		p := encoder.MaskUtil_applyMaskPenaltyRule1(matrix) + encoder.MaskUtil_applyMaskPenaltyRule2(matrix) +
			encoder.MaskUtil_applyMaskPenaltyRule3(matrix) + encoder.MaskUtil_applyMaskPenaltyRule4(matrix)
		if p < penalty {
			penalty, best = p, mask
		}
	}
	if err := encoder.MatrixUtil_buildMatrix(final, ec, version, best, matrix); err != nil {
		return nil, true, fmt.Errorf("qr: %w", err)
	}
	modules = make([][]bool, dim)
	for y := range modules {
		modules[y] = make([]bool, dim)
		for x := range modules[y] {
			modules[y][x] = matrix.Get(x, y) == 1
		}
	}
	return modules, true, nil
}
