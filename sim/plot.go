package sim

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"
	"time"

	"netcard/card"
)

// PlotRates are the line rates of the goodput plot.
var PlotRates = []int{9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 3_000_000, 12_000_000}

// GoodputCurve measures the card's download goodput at each rate.
func GoodputCurve(rates []int, size int) ([]Throughput, error) {
	st, err := NewStore(5, 0, map[string][]byte{"f": RandomFile(5, size)})
	if err != nil {
		return nil, err
	}
	var out []Throughput
	for _, b := range rates {
		t, err := MeasureThroughput(st, b, size, card.CardProfile)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// PeerCurve measures the peer's download goodput at each rate
// (MeasurePeerThroughput, virtual time).
func PeerCurve(rates []int, size int) ([]PeerThroughput, error) {
	var out []PeerThroughput
	for _, b := range rates {
		t, err := MeasurePeerThroughput(b, size, time.Hour)
		if err != nil {
			return nil, fmt.Errorf("peer at %d bit/s: %w", b, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// PlotGoodput measures GoodputCurve and PeerCurve at PlotRates, the same
// 256 KiB download at each rate for both (32 KiB when quick), and writes the
// chart (DrawGoodput). Both run in virtual time: a few seconds in all.
func PlotGoodput(w io.Writer, quick bool) error {
	size := 256 << 10
	if quick {
		size = 32 << 10
	}
	pts, err := GoodputCurve(PlotRates, size)
	if err != nil {
		return err
	}
	peer, err := PeerCurve(PlotRates, size)
	if err != nil {
		return err
	}
	return DrawGoodput(w, pts, peer)
}

// Plot colours.
var (
	colCard    = color.RGBA{0, 80, 220, 255}
	colPeer    = color.RGBA{220, 90, 0, 255}
	colCardMax = color.RGBA{120, 120, 120, 255}
	colPeerMax = color.RGBA{240, 170, 110, 255}
	colGrid    = color.RGBA{225, 225, 225, 255}
	colInk     = color.RGBA{0, 0, 0, 255}
)

// DrawGoodput writes a PNG chart of goodput against line rate in two panels
// with the same x axis (the line rate, log scale, 9600 bit/s to 12 Mbit/s):
// the goodput as a fraction of the raw line byte rate (baud/10) from 0 to 1,
// and the same from 0.90 to 1 (points below on the bottom edge). Blue: the
// card; orange: the peer (gVisor + crypto/tls); grey and light orange,
// dashed: the theoretical maxima of each one's framing. Axes, ticks and
// the legend are labelled.
func DrawGoodput(w io.Writer, card []Throughput, peer []PeerThroughput) error {
	type pt struct {
		rate int
		f    float64
	}
	frac := func(bps float64, baud int) float64 { return bps / (float64(baud) / 10) }
	var sc, sp, mc, mp []pt
	for _, t := range card {
		sc = append(sc, pt{t.Baud, frac(t.Goodput, t.Baud)})
		mc = append(mc, pt{t.Baud, frac(t.Max, t.Baud)})
	}
	for _, t := range peer {
		sp = append(sp, pt{t.Baud, frac(t.Goodput, t.Baud)})
		mp = append(mp, pt{t.Baud, frac(t.Max, t.Baud)})
	}
	const W, H = 960, 880
	const left, right = 80, 30
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	lo, hi := math.Log10(float64(PlotRates[0])), math.Log10(float64(PlotRates[len(PlotRates)-1]))
	x := func(rate int) int { return left + int((math.Log10(float64(rate))-lo)/(hi-lo)*float64(W-left-right)) }
	title := "HTTPS DOWNLOAD GOODPUT VS SERIAL LINE RATE (PPP, 8N1)"
	drawText(img, (W-textWidth(title, 2))/2, 14, title, 2, colInk)

	// panel draws one chart between pixel rows top and bottom, y from ylo to 1.
	panel := func(top, bottom int, ylo, ystep float64, label string) {
		y := func(f float64) int {
			f = min(max(f, ylo), 1)
			return bottom - int(math.Round((f-ylo)/(1-ylo)*float64(bottom-top)))
		}
		for i := 0; ylo+float64(i)*ystep <= 1+1e-9; i++ {
			v := ylo + float64(i)*ystep
			yy := y(v)
			drawLine(img, left, yy, W-right, yy, colGrid)
			drawLine(img, left-5, yy, left, yy, colInk)
			s := fmt.Sprintf("%.2f", v)
			drawText(img, left-8-textWidth(s, 2), yy-7, s, 2, colInk)
		}
		for _, r := range PlotRates {
			xx := x(r)
			drawLine(img, xx, top, xx, bottom, colGrid)
			drawLine(img, xx, bottom, xx, bottom+5, colInk)
			s := rateLabel(r)
			drawText(img, xx-textWidth(s, 1)/2, bottom+9, s, 1, colInk)
		}
		drawLine(img, left, bottom, W-right, bottom, colInk)
		drawLine(img, left, top, left, bottom, colInk)
		drawText(img, left, top-22, label, 2, colInk)
		curve := func(s []pt, c color.RGBA, dashed, marks bool) {
			for i := 1; i < len(s); i++ {
				a, b := s[i-1], s[i]
				for d := 0; d < 2; d++ {
					if dashed {
						drawDashed(img, x(a.rate), y(a.f)+d, x(b.rate), y(b.f)+d, c)
					} else {
						drawLine(img, x(a.rate), y(a.f)+d, x(b.rate), y(b.f)+d, c)
					}
				}
			}
			if marks {
				for _, p := range s {
					fillRect(img, x(p.rate)-3, y(p.f)-3, 7, 7, c)
				}
			}
		}
		curve(mc, colCardMax, true, false)
		curve(mp, colPeerMax, true, false)
		curve(sc, colCard, false, true)
		curve(sp, colPeer, false, true)
	}
	panel(90, 400, 0, 0.1, "GOODPUT / LINE BYTE RATE (BAUD/10)")
	panel(480, 790, 0.9, 0.01, "ZOOM: 0.90 TO 1 (LOWER POINTS ON THE BOTTOM EDGE)")
	xl := "LINE RATE, BIT/S (LOG SCALE)"
	drawText(img, left+(W-left-right-textWidth(xl, 2))/2, 820, xl, 2, colInk)

	// Legend, in the empty lower right of the full-range panel.
	legend := []struct {
		c      color.RGBA
		dashed bool
		s      string
	}{
		{colCard, false, "CARD: NETCARD, CARD PROFILE (SIMULATION, VIRTUAL TIME)"},
		{colPeer, false, "PEER: GVISOR NETSTACK + CRYPTO/TLS + NET/HTTP (SAME LINE, VIRTUAL TIME)"},
		{colCardMax, true, "THEORETICAL MAXIMUM, CARD FRAMING (MSS 1460, 1 KIB RECORDS)"},
		{colPeerMax, true, "THEORETICAL MAXIMUM, PEER FRAMING (ITS MSS, TIMESTAMPS, RECORDS)"},
	}
	lw := 0
	for _, l := range legend {
		lw = max(lw, textWidth(l.s, 1))
	}
	lx, ly := W-right-lw-60, 400-20-len(legend)*18
	fillRect(img, lx-10, ly-10, lw+60, len(legend)*18+12, color.RGBA{255, 255, 255, 255})
	for i, l := range legend {
		yy := ly + i*18
		for d := 0; d < 2; d++ {
			if l.dashed {
				drawDashed(img, lx, yy+3+d, lx+36, yy+3+d, l.c)
			} else {
				drawLine(img, lx, yy+3+d, lx+36, yy+3+d, l.c)
			}
		}
		drawText(img, lx+44, yy, l.s, 1, colInk)
	}
	return png.Encode(w, img)
}

// rateLabel writes 9600, 19.2K, 3M.
func rateLabel(r int) string {
	switch {
	case r >= 1_000_000 && r%1_000_000 == 0:
		return fmt.Sprintf("%dM", r/1_000_000)
	case r >= 1_000_000:
		return fmt.Sprintf("%.1fM", float64(r)/1e6)
	case r >= 10_000:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(r)/1e3), ".0") + "K"
	}
	return fmt.Sprint(r)
}

func fillRect(img *image.RGBA, x0, y0, w, h int, c color.RGBA) {
	for yy := y0; yy < y0+h; yy++ {
		for xx := x0; xx < x0+w; xx++ {
			img.SetRGBA(xx, yy, c)
		}
	}
}

// drawDashed draws a line from (x0, y0) to (x1, y1) in 6-pixel dashes.
func drawDashed(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	n := max(abs(x1-x0), abs(y1-y0))
	for i := 0; i <= n; i++ {
		if i/6%2 == 1 {
			continue
		}
		t := 0.0
		if n > 0 {
			t = float64(i) / float64(n)
		}
		img.SetRGBA(x0+int(math.Round(t*float64(x1-x0))), y0+int(math.Round(t*float64(y1-y0))), c)
	}
}

// drawLine draws a line from (x0, y0) to (x1, y1) (Bresenham).
func drawLine(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e // both tests on the error before this step
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(a int) int {
	if a < 0 {
		return -a
	}
	return a
}

// textWidth is the width in pixels of s drawn at scale.
func textWidth(s string, scale int) int { return len(s) * 6 * scale }

// drawText draws s (upper case, digits and . , / ( ) + - : =; anything else
// is a blank) with its top-left corner at (x, y), each font pixel scale ×
// scale.
func drawText(img *image.RGBA, x, y int, s string, scale int, c color.RGBA) {
	for i := 0; i < len(s); i++ {
		g, ok := font5x7[s[i]]
		if !ok {
			continue
		}
		for row := 0; row < 7; row++ {
			for col := 0; col < 5; col++ {
				if g[row*5+col] == '#' {
					fillRect(img, x+(i*6+col)*scale, y+row*scale, scale, scale, c)
				}
			}
		}
	}
}

// font5x7 is a 5×7 bitmap font: 35 cells per glyph, row by row.
var font5x7 = map[byte]string{
	'A': ".###.#...##...#######...##...##...#",
	'B': "####.#...##...#####.#...##...#####.",
	'C': ".###.#...##....#....#....#...#.###.",
	'D': "####.#...##...##...##...##...#####.",
	'E': "######....#....####.#....#....#####",
	'F': "######....#....####.#....#....#....",
	'G': ".###.#...##....#.####...##...#.####",
	'H': "#...##...##...#######...##...##...#",
	'I': ".###...#....#....#....#....#...###.",
	'J': "..###...#....#....#....##..#..##...",
	'K': "#...##..#.#.#..##...#.#..#..#.#...#",
	'L': "#....#....#....#....#....#....#####",
	'M': "#...###.###.#.##.#.##...##...##...#",
	'N': "#...##...###..##.#.##..###...##...#",
	'O': ".###.#...##...##...##...##...#.###.",
	'P': "####.#...##...#####.#....#....#....",
	'Q': ".###.#...##...##...##.#.##..#..##.#",
	'R': "####.#...##...#####.#.#..#..#.#...#",
	'S': ".#####....#.....###.....#....#####.",
	'T': "#####..#....#....#....#....#....#..",
	'U': "#...##...##...##...##...##...#.###.",
	'V': "#...##...##...##...##...#.#.#...#..",
	'W': "#...##...##...##.#.##.#.##.#.#.#.#.",
	'X': "#...##...#.#.#...#...#.#.#...##...#",
	'Y': "#...##...#.#.#...#....#....#....#..",
	'Z': "#####....#...#...#...#...#....#####",
	'0': ".###.#...##..###.#.###..##...#.###.",
	'1': "..#...##....#....#....#....#...###.",
	'2': ".###.#...#....#...#...#...#...#####",
	'3': "####.....#....#.###.....#....#####.",
	'4': "...#...##..#.#.#..#.#####...#....#.",
	'5': "######....####.....#....##...#.###.",
	'6': "..##..#...#....####.#...##...#.###.",
	'7': "#####....#...#...#...#....#....#...",
	'8': ".###.#...##...#.###.#...##...#.###.",
	'9': ".###.#...##...#.####....#...#..##..",
	'.': "..........................##...##..",
	',': "....................##....#...#....",
	'/': ".........#...#...#...#...#.........",
	'(': "...#...#...#....#....#.....#.....#.",
	')': ".#.....#.....#....#....#...#...#...",
	'+': ".......#....#..#####..#....#.......",
	'-': "...............#####...............",
	':': "......##...##.........##...##......",
	'=': "..........#####.....#####..........",
	' ': "...................................",
}
